"""The report on results an interrupted command left: flagged as unfinished, never quoted as final, never fatal."""

from __future__ import annotations

import json

import zarr

from manifold_lens.report import render_report
from manifold_lens.report.page import MANIFEST
from manifold_lens.stores import append_results, open_stream, write_results
from manifold_lens.summary import report_lines
from tests.builders import synthetic_evaluation


def test_unfinished_groups_are_flagged_and_empty_ones_left_out(tmp_path):
    store = tmp_path / "results.zarr"
    ev = synthetic_evaluation()
    write_results(store, "evaluation", "done", ev)
    stream = open_stream(store, "evaluation", "killed", {"seed": 0}, planned=4)
    for k in (0, 1):
        append_results(stream, ev.isel(checkpoint=[k]))
    empty = open_stream(store, "evaluation", "empty", {"seed": 0}, planned=4)
    append_results(empty, ev.isel(checkpoint=[0]))
    zarr.open_group(str(store), path="evaluation/empty", mode="r+").update_attributes({"committed": 0})

    rep = render_report([store], tmp_path / "report", dpi=40, formats=("png",), progress=False)
    status = "unfinished: 2 of 4 checkpoints"
    assert rep.unfinished == {f"evaluation/killed in {store}": status}
    assert rep.skipped_results == {f"evaluation/empty in {store}": "unfinished: no checkpoint committed yet (0 of 4)"}
    # the finished group is quoted as final, the killed one at its last committed step and flagged
    numbers = [(k.quantity, k.value, k.source) for k in rep.key_numbers if k.quantity.endswith("overall")]
    done_last, killed_last = ev.isel(checkpoint=-1), ev.isel(checkpoint=1)
    assert numbers == [
        ("final accuracy, overall", f"{100 * float(done_last.accuracy):.1f}%", "evaluation/done, step 1000"),
        ("latest (unfinished) accuracy, overall", f"{100 * float(killed_last.accuracy):.1f}%",
         f"evaluation/killed, {status}, step 10"),
    ]
    titles = [f.title for f in rep.figures if "killed" in f.title]
    assert titles == [f"Accuracy vs step (evaluation/killed, {status})",
                      f"Accuracy per condition (evaluation/killed, {status})"]
    assert not any("empty" in f.title for f in rep.figures)
    page = rep.index.read_text()
    assert "<h2>Unfinished results</h2>" in page and f"evaluation/killed, {status}" in page
    assert "not final; rerun the same command to finish it" in page
    assert "evaluation/empty in" in page and "left out, unfinished: no checkpoint committed yet (0 of 4)" in page
    manifest = json.loads((rep.out / MANIFEST).read_text())
    assert manifest["unfinished"] == rep.unfinished and manifest["skipped_results"] == rep.skipped_results
    lines = report_lines(rep)
    assert lines[0] == f"  evaluation/killed in {store}: {status} (not final; rerun the same command to finish it)"
    assert lines[1].startswith(f"  left out evaluation/empty in {store}: unfinished: no checkpoint")


def test_a_finished_store_has_no_unfinished_section(tmp_path):
    store = tmp_path / "results.zarr"
    write_results(store, "evaluation", "done", synthetic_evaluation())
    rep = render_report([store], tmp_path / "report", dpi=40, formats=("png",), progress=False)
    assert rep.unfinished == {} and rep.skipped_results == {}
    assert "Unfinished results" not in rep.index.read_text()
    assert all("unfinished" not in k.quantity for k in rep.key_numbers)
