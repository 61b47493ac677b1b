"""`manifold-lens analyze` killed with SIGKILL mid-run: flagged, never quoted as final, a plain rerun finishes it."""

from __future__ import annotations

import numpy as np
import xarray as xr
import zarr

from manifold_lens import open_results
from manifold_lens.analysis import analyze_run
from manifold_lens.report.numbers import key_numbers
from manifold_lens.report.sources import load_sources
from manifold_lens.stores import open_run, read_results
from tests.builders import invoke, kill_after_commit

ARGS = ["--checkpoints", "all", "--timesteps", "0,50", "--noise-draws", "2", "--device", "cpu", "--no-progress"]


def test_killed_analyze_is_flagged_then_continued_to_the_uninterrupted_result(tiny_run, tmp_path):
    planned = len(open_run(tiny_run).steps)
    ref = analyze_run(tiny_run, out=tmp_path / "ref.zarr", checkpoints="all", timesteps=[0, 50], noise_draws=2,
                      device="cpu", progress=False)
    out = tmp_path / "results.zarr"
    done = kill_after_commit(["analyze", tiny_run, "--out", out, *ARGS], out / "analysis" / "default")
    assert 1 <= done < planned
    # what a kill inside the next checkpoint's writes leaves: one variable a row longer, with garbage in it
    arr = zarr.open_group(str(out), path="analysis/default", mode="r+")["effective_dim"]
    if arr.shape[0] == done:
        arr.resize((done + 1, *arr.shape[1:]))
        arr[done] = -1.0

    node = open_results(out)["analysis/default"]
    assert node.attrs["complete"] == 0 and node.attrs["status"] == f"unfinished: {done} of {planned} checkpoints"
    xr.testing.assert_equal(read_results(out, "analysis"), ref.isel(checkpoint=slice(0, done)))
    sources = load_sources(out)
    assert [g.status for g in sources.groups] == [f"unfinished: {done} of {planned} checkpoints"]
    numbers = key_numbers(sources)
    assert numbers and all(k.quantity.endswith("(unfinished)") and "unfinished" in k.source for k in numbers)

    # other settings under the same name: refused in one line, nothing changed
    r = invoke("analyze", tiny_run, "--out", out, *ARGS, "--seed", "1")
    assert r.exit_code == 2 and r.output.count("\n") == 1 and r.output.startswith("error: ")
    assert "other settings (extraction_seed was 0, now 1)" in r.output
    assert "--replace" in r.output or "replace=True" in r.output  # the CLI names its flag
    assert read_results(out, "analysis").sizes["checkpoint"] == done

    r = invoke("analyze", tiny_run, "--out", out, *ARGS)  # the same command, plainly
    assert r.exit_code == 0, r.output
    assert f"continuing analysis/default: {done} of {planned} checkpoints done" in r.output
    got = read_results(out, "analysis")
    assert got.attrs["status"] == "complete" and got.sizes["checkpoint"] == planned
    xr.testing.assert_identical(got, ref)
    np.testing.assert_array_equal(got.effective_dim.values, ref.effective_dim.values)
