"""Every results writer through the CLI: one writer per store, and result names the report can read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from manifold_lens.stores import list_results, read_results, write_results
from tests.builders import fingerprint, invoke

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from manifold_lens.stores import store_lock
with store_lock(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(300)
"""


def writers(run, out, name=None):
    """One cheap command line per results writer, writing to ``out`` (as ``--name name`` when given)."""
    named = ["--name", name] if name is not None else []
    return {
        "evaluate": ["evaluate", run, "--out", out, "--steps", "2", "--samples-per-condition", "1", "--device", "cpu",
                     "--no-progress", *named],
        "analyze": ["analyze", run, "--out", out, "--checkpoints", "last", "--noise-draws", "1", "--device", "cpu",
                    "--no-progress", *named],
        "percolate": ["percolate", "--sigma", "1", "--lattice", "8", "--trials", "1", "--out", out, "--no-progress",
                      *named],
        # the lock and the name are checked before the study is read: no study is needed for these refusals
        "percolate test": ["percolate", "test", Path(out).parent / "no-study", "--out", out, "--no-progress", *named],
    }


def test_a_second_writer_is_refused_in_one_line_naming_the_holder(tiny_run, tmp_path):
    out = tmp_path / "results.zarr"
    write_results(xr.Dataset({"v": ("k", [1.0, 2.0])}), out=out, kind="percolation", name="kept")
    before = fingerprint(out)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert holder.stdout.readline().strip() == "holding"
        for command, args in writers(tiny_run, out).items():
            r = invoke(*args)
            assert r.exit_code == 2, (command, r.output)
            assert r.output.count("\n") == 1 and r.output.startswith("error: "), (command, r.output)
            assert f"{out}: another writer holds it: process {holder.pid} on " in r.output, r.output
            assert "Traceback" not in r.output
        assert fingerprint(out) == before
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder was killed: its lock is released with it, and the next writer goes ahead
    r = invoke(*writers(tiny_run, out)["percolate"])
    assert r.exit_code == 0, r.output
    assert list_results(out) == {"percolation": ["default", "kept"]}
    assert read_results(out, "percolation", "kept").v.values.tolist() == [1.0, 2.0]


@pytest.mark.parametrize("name", ["a/b", "<b>x</b>", "../../x", ".."])
def test_names_with_slashes_html_or_only_dots_are_refused_before_any_work(tiny_run, tmp_path, name):
    out = tmp_path / "sub" / "results.zarr"
    for command, args in writers(tiny_run, out, name).items():
        r = invoke(*args)
        assert r.exit_code == 2, (command, r.output)
        assert r.output.count("\n") == 1, (command, r.output)
        assert r.output.startswith((f"error: --name {name!r}: ", f"error: name = {name!r}: ")), (command, r.output)
        assert "letters, digits, '_', '-' and '.' only" in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == []
