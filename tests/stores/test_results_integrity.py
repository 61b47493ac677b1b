"""Results stores never lose or corrupt data: commit marks, tolerant reading, continuing, names, one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from manifold_lens.errors import StoreError
from manifold_lens.percolation.onset import terminal_accuracy
from manifold_lens.stores import (
    append_results,
    check_result_name,
    group_status,
    list_results,
    open_results,
    open_stream,
    read_results,
    require_new_group,
    write_results,
)
from manifold_lens.stores.encoding import write_group
from manifold_lens.stores.results import ensure_results_store

ROOT = Path(__file__).resolve().parents[2]
STEPS = [0, 10, 20, 30]
SETTINGS = {"seed": 0, "checkpoints": STEPS}


def row(k: int) -> xr.Dataset:
    """Checkpoint ``k`` of a streamed group: values, strings and a coordinate on another dim."""
    rng = np.random.default_rng(k)
    return xr.Dataset(
        {"accuracy": ("checkpoint", [k / 4]),
         "score": (("checkpoint", "condition"), rng.random((1, 5))),
         "phase": (("checkpoint", "condition"), np.array([["A", "B", "C", "C", "A"][k:] + ["B"] * k], dtype=object))},
        coords={"checkpoint": [STEPS[k]], "x": ("condition", np.arange(5.0), {"units": "px"})},
        attrs={"config": {"data": {"image_size": 8}}, "description": "synthetic"},
    )


def full() -> xr.Dataset:
    return xr.concat([row(k) for k in range(len(STEPS))], "checkpoint", data_vars="minimal", coords="minimal",
                     compat="override")


def stream(path, n: int, name: str = "a", settings=SETTINGS):
    """Group evaluation/<name> with the first ``n`` of 4 planned checkpoints committed."""
    s = open_stream(settings, out=path, kind="evaluation", name=name, planned=len(STEPS))
    for k in range(s.committed, n):
        append_results(s, row(k))
    return s


def group_attrs(path, group: str) -> dict:
    return json.loads((Path(path) / group / "zarr.json").read_text())["attributes"]


def grow(path, group: str, var: str, rows: int) -> None:
    """Give one array ``rows`` more rows of garbage along checkpoint, as a writer killed mid-append leaves it."""
    arr = zarr.open_group(str(path), path=group, mode="r+")[var]
    n = arr.shape[0]
    arr.resize((n + rows, *arr.shape[1:]))
    if arr.dtype.kind == "f":
        arr[n:] = -999.0


def test_streamed_group_is_marked_after_each_commit(tmp_path):
    out = tmp_path / "r.zarr"
    s = stream(out, 1)
    attrs = group_attrs(out, "evaluation/a")
    assert {k: attrs[k] for k in ("committed", "complete", "planned")} == {"committed": 1, "complete": 0, "planned": 4}
    ds = read_results(out, "evaluation", "a")
    assert ds.sizes["checkpoint"] == 1 and ds.attrs["complete"] == 0
    assert ds.attrs["status"] == "unfinished: 1 of 4 checkpoints"
    assert ds.attrs["settings"] == SETTINGS and ds.attrs["config"] == {"data": {"image_size": 8}}
    for k in range(1, 4):
        append_results(s, row(k))
    assert group_attrs(out, "evaluation/a")["committed"] == 4 and group_attrs(out, "evaluation/a")["complete"] == 1
    ds = read_results(out, "evaluation", "a")
    assert ds.attrs["status"] == "complete" and ds.attrs["complete"] == 1
    xr.testing.assert_equal(ds, full())
    assert ds.phase.values.tolist()[2] == ["C", "C", "A", "B", "B"]
    with pytest.raises(StoreError, match=r"results 'evaluation/a' already exist; pass replace=True"):
        open_stream(SETTINGS, out=out, kind="evaluation", name="a", planned=4)


def test_whole_group_marked_incomplete_until_written(tmp_path):
    out = tmp_path / "r.zarr"
    perc = xr.Dataset({"lambda_c": ("sigma", [0.4, 0.6])}, coords={"sigma": [1.0, 2.0]})
    write_results(perc, out=out, kind="percolation", name="p")
    assert group_attrs(out, "percolation/p")["complete"] == 1
    assert read_results(out, "percolation", "p").attrs["status"] == "complete"
    # interrupted while its data was written: unreadable, skipped by open_results, rewritten without --replace
    zarr.open_group(str(out), path="percolation/p", mode="r+").update_attributes({"complete": 0})
    assert group_status(out, "percolation", "p").text == "unfinished: interrupted while its data was written"
    with pytest.raises(StoreError, match=r"percolation/p' cannot be read \(unfinished: interrupted"):
        read_results(out, "percolation", "p")
    with pytest.warns(UserWarning, match="skipping results 'percolation/p'"):
        tree = open_results(out)
    assert "percolation/p" in tree.attrs["skipped"] and "percolation" not in tree.children
    require_new_group(out, "percolation", "p")  # an unfinished group does not block a rerun
    write_results(perc * 2, out=out, kind="percolation", name="p")
    np.testing.assert_array_equal(read_results(out, "percolation", "p").lambda_c, [0.8, 1.2])
    with pytest.raises(StoreError, match="already exist"):
        write_results(perc, out=out, kind="percolation", name="p")


def test_readers_see_only_committed_rows_of_variables_of_different_lengths(tmp_path):
    out = tmp_path / "r.zarr"
    stream(out, 2)
    grow(out, "evaluation/a", "score", 1)  # killed during the third checkpoint: 3 rows of score, 2 of the rest
    grow(out, "evaluation/a", "checkpoint", 1)
    with pytest.raises(ValueError, match="conflicting sizes"):  # what a plain xarray open makes of it
        xr.open_zarr(out, group="evaluation/a", consolidated=False)
    expected = full().isel(checkpoint=slice(0, 2))
    ds = read_results(out, "evaluation", "a")
    xr.testing.assert_equal(ds, expected)
    assert ds.attrs["committed"] == 2 and ds.attrs["status"] == "unfinished: 2 of 4 checkpoints"
    tree = open_results(out)  # the whole store opens, the group flagged
    xr.testing.assert_equal(tree["evaluation/a"].to_dataset().load(), expected)
    assert tree["evaluation/a"].attrs["complete"] == 0
    assert tree["evaluation/a"].attrs["config"] == {"data": {"image_size": 8}}  # attrs decoded
    # an older group (no marks) cut off mid-append: the rows every variable holds, flagged unfinished
    write_group(out, "analysis/old", full().isel(checkpoint=[0]))
    write_group(out, "analysis/old", full().isel(checkpoint=[1]), append_dim="checkpoint")
    zarr.open_group(str(out), path="analysis/old", mode="r+")["accuracy"].resize((1,))
    old = read_results(out, "analysis", "old")
    xr.testing.assert_equal(old.drop_attrs(), full().isel(checkpoint=[0]).drop_attrs())
    assert old.attrs["complete"] == 0 and old.attrs["status"] == "unfinished: 1 checkpoint"
    # an older complete group (no marks) counts as complete
    write_group(out, "analysis/older", full())
    assert read_results(out, "analysis", "older").attrs["status"] == "complete"


def test_nothing_committed_or_unreadable_groups_are_skipped_not_fatal(tmp_path):
    out = tmp_path / "r.zarr"
    write_results(xr.Dataset({"v": ("k", [1.0])}), out=out, kind="percolation", name="fine")
    s = open_stream(SETTINGS, out=out, kind="evaluation", name="zero", planned=4)
    append_results(s, row(0))
    zarr.open_group(str(out), path="evaluation/zero", mode="r+").update_attributes({"committed": 0})
    write_results(xr.Dataset({"v": ("k", [1.0])}), out=out, kind="analysis", name="broken")
    (out / "analysis" / "broken" / "v" / "zarr.json").write_text("{not json")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = open_results(out)
    assert sorted(tree.attrs["skipped"]) == ["analysis/broken", "evaluation/zero"]
    assert tree.attrs["skipped"]["evaluation/zero"] == "unfinished: no checkpoint committed yet (0 of 4)"
    assert tree.attrs["skipped"]["analysis/broken"].startswith("cannot be read (")
    assert len(caught) == 2
    np.testing.assert_array_equal(tree["percolation/fine"].ds["v"].values, [1.0])
    with pytest.raises(StoreError, match="rerun the same command to continue them"):
        read_results(out, "evaluation", "zero")


def test_continuing_cuts_uncommitted_rows_and_appends_the_rest(tmp_path):
    out = tmp_path / "r.zarr"
    stream(out, 2)
    for var in ("score", "accuracy", "checkpoint"):
        grow(out, "evaluation/a", var, 1)
    lines = []
    s = open_stream({"checkpoints": STEPS, "seed": 0}, out=out, kind="evaluation", name="a", planned=4,
                    log=lines.append)
    assert s.committed == 2 and lines == ["continuing evaluation/a: 2 of 4 checkpoints done"]
    assert zarr.open_group(str(out), path="evaluation/a")["score"].shape == (2, 5)  # garbage rows cut off
    for k in (2, 3):
        append_results(s, row(k))
    ds = read_results(out, "evaluation", "a")
    xr.testing.assert_equal(ds, full())
    assert ds.attrs["complete"] == 1
    # with nothing committed the group starts again from scratch
    stream(out, 1, name="b")
    zarr.open_group(str(out), path="evaluation/b", mode="r+").update_attributes({"committed": 0})
    s = open_stream(SETTINGS, out=out, kind="evaluation", name="b", planned=4)
    assert s.committed == 0
    for k in range(4):
        append_results(s, row(k))
    xr.testing.assert_equal(read_results(out, "evaluation", "b"), full())


def test_other_settings_or_replace(tmp_path):
    out = tmp_path / "r.zarr"
    stream(out, 2)
    with pytest.raises(StoreError) as e:
        open_stream({**SETTINGS, "seed": 1}, out=out, kind="evaluation", name="a", planned=4)
    msg = str(e.value)
    assert "\n" not in msg and "unfinished (unfinished: 2 of 4 checkpoints)" in msg
    assert "seed was 0, now 1" in msg and "replace=True" in msg and "name=" in msg
    s = open_stream({**SETTINGS, "seed": 1}, out=out, kind="evaluation", name="a", planned=4, replace=True)
    assert s.committed == 0
    append_results(s, row(3).assign_coords(checkpoint=[0]))
    ds = read_results(out, "evaluation", "a")
    assert ds.sizes["checkpoint"] == 1 and ds.attrs["settings"]["seed"] == 1
    np.testing.assert_array_equal(ds.score.values, row(3).score.values)


def test_the_comparison_refuses_an_unfinished_evaluation(tmp_path):
    out = tmp_path / "r.zarr"
    stream(out, 4, name="done")
    stream(out, 2, name="killed")
    assert terminal_accuracy(out, "done") == (0.75, 30)
    with pytest.raises(StoreError, match=r"evaluation/killed is unfinished: 2 of 4 checkpoints; rerun its evaluate"):
        terminal_accuracy(out, "killed")


@pytest.mark.parametrize("name", ["a/b", "<b>x</b>", "../../x", "..", ".", "", "a b", "x\n", "é"])
def test_bad_names_are_refused_before_anything_is_written(tmp_path, name):
    out = tmp_path / "r.zarr"
    with pytest.raises(StoreError, match=r"^name = .*letters, digits, '_', '-' and '\.' only"):
        check_result_name(name)
    with pytest.raises(StoreError, match="^name = "):
        write_results(xr.Dataset({"v": ("k", [1.0])}), out=out, kind="percolation", name=name)
    with pytest.raises(StoreError, match="^name = "):
        open_stream(SETTINGS, out=out, kind="evaluation", name=name, planned=1)
    assert not out.exists()


def test_good_names(tmp_path):
    for name in ("default", "ddim20_eta0.5", "run-1.v2", "_x", "a..b"):
        assert check_result_name(name) == name


def test_creating_a_store_never_truncates(tmp_path):
    out = tmp_path / "r.zarr"
    write_results(xr.Dataset({"v": ("k", [1.0])}), out=out, kind="percolation", name="first")
    ensure_results_store(out)
    out2 = tmp_path / "empty.zarr"
    out2.mkdir()
    ensure_results_store(out2)
    write_results(xr.Dataset({"v": ("k", [2.0])}), out=out2, kind="percolation", name="x")
    assert list_results(out) == {"percolation": ["first"]} and list_results(out2) == {"percolation": ["x"]}


_WRITER = """
import sys, time
import xarray as xr
from manifold_lens.errors import StoreError
from manifold_lens.percolation.onset import terminal_accuracy
from manifold_lens.stores import write_results
start, out, name = float(sys.argv[1]), sys.argv[2], sys.argv[3]
time.sleep(max(0.0, start - time.time()))
try:
    write_results(xr.Dataset({"v": ("k", [1.0, 2.0])}), out=out, kind="percolation", name=name)
    print("wrote")
except StoreError as e:
    print("refused", e)
"""


def test_two_processes_creating_one_store_lose_nothing(tmp_path):
    """Both start at the same instant: each either writes its group or is refused in one line; none is lost."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for trial in range(1):
        out = tmp_path / f"r{trial}.zarr"
        start = time.time() + 3.5  # after both have imported
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(start), str(out), f"g{i}"], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
        said = [p.communicate(timeout=60)[0].strip() for p in procs]
        assert all(p.returncode == 0 for p in procs), said
        wrote = [f"g{i}" for i, s in enumerate(said) if s == "wrote"]
        assert wrote, said
        for s in said:
            assert s == "wrote" or (s.startswith("refused") and "another writer holds it" in s), s
        assert list_results(out) == {"percolation": wrote}
        for name in wrote:
            np.testing.assert_array_equal(read_results(out, "percolation", name).v, [1.0, 2.0])
