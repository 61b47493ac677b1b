"""`manifold-lens evaluate` killed with SIGKILL mid-run: the store stays readable, a plain rerun finishes it exactly."""

from __future__ import annotations

import numpy as np
import xarray as xr
import zarr

from manifold_lens import open_results
from manifold_lens.evaluation import evaluate_run
from manifold_lens.report.numbers import key_numbers
from manifold_lens.report.sources import load_sources
from manifold_lens.stores import open_run, read_results
from tests.builders import invoke, kill_after_commit

NAME = "ddim50_k2"
ARGS = ["--checkpoints", "all", "--steps", "50", "--samples-per-condition", "2", "--device", "cpu", "--no-progress"]


def test_killed_evaluate_is_flagged_then_continued_to_the_uninterrupted_result(tiny_run, tmp_path):
    planned = len(open_run(tiny_run).steps)
    ref = evaluate_run(tiny_run, checkpoints="all", steps=50, samples_per_condition=2, device="cpu", progress=False,
                       out=tmp_path / "ref.zarr")
    out = tmp_path / "results.zarr"
    done = kill_after_commit(["evaluate", tiny_run, "--out", out, *ARGS], out / "evaluation" / NAME)
    assert 1 <= done < planned
    # what a kill inside the next checkpoint's writes leaves: one variable a row longer, with garbage in it
    arr = zarr.open_group(str(out), path=f"evaluation/{NAME}", mode="r+")["x_hat"]
    if arr.shape[0] == done:
        arr.resize((done + 1, *arr.shape[1:]))
        arr[done] = -1.0

    tree = open_results(out)  # the whole store opens; the group shows its committed checkpoints, flagged
    node = tree[f"evaluation/{NAME}"]
    assert node.attrs["complete"] == 0 and node.attrs["status"] == f"unfinished: {done} of {planned} checkpoints"
    partial = read_results(out, "evaluation", NAME)
    xr.testing.assert_equal(partial, ref.isel(checkpoint=slice(0, done)))
    numbers = {k.quantity: k for k in key_numbers(load_sources(out))}
    assert "final accuracy, overall" not in numbers
    assert f"unfinished: {done} of {planned} checkpoints" in numbers["latest (unfinished) accuracy, overall"].source

    r = invoke("evaluate", tiny_run, "--out", out, *ARGS)  # the same command, plainly
    assert r.exit_code == 0, r.output
    assert f"continuing evaluation/{NAME}: {done} of {planned} checkpoints done" in r.output
    assert f"{planned} checkpoint(s)" in r.output
    got = read_results(out, "evaluation", NAME)
    assert got.attrs["status"] == "complete" and got.attrs["committed"] == planned
    xr.testing.assert_identical(got, ref)
    np.testing.assert_array_equal(got.x_hat.values, ref.x_hat.values)  # bit for bit, NaNs in the same places

    r = invoke("evaluate", tiny_run, "--out", out, *ARGS)  # a finished group is refused, as before
    assert r.exit_code == 2 and "already exist" in r.output and r.output.count("\n") == 1
