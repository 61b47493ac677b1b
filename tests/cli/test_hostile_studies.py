"""Hostile input against the studies layer (issue 25): one line, exit status 2, nothing created or changed.

Study files with wrong types or too many runs, out folders that cannot be a
study directory, crafted manifests (wrong types, traversing run ids, symlinks
out, duplicates, reserved keys), a second runner, a done run whose store is
gone. None of these trains: each is refused before any work.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from manifold_lens.errors import ManifoldLensError
from manifold_lens.studies import open_study, study_status
from tests.builders import fingerprint, invoke
from tests.studies.study_files import write_study

ROOT = Path(__file__).resolve().parents[2]


def refused(tmp_path: Path, *args, match: str) -> str:
    """Run ``manifold-lens ARGS``: exit 2, one line containing ``match``, and no file under tmp_path changed."""
    before = fingerprint(tmp_path)
    res = invoke(*args)
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in res.output, res.output
    assert match in lines[0], lines[0]
    assert fingerprint(tmp_path) == before and not (tmp_path / "out").exists()
    return lines[0]


# -- study files -----------------------------------------------------------------------------------

STUDY_CASES = {
    "bool seed": (dict(seeds="[true]"), "study.seeds.0 = True: expected an integer"),
    "string workers": (dict(executor='workers = "2"'), "executor.workers = '2': expected an integer"),
    "slurm time": (dict(executor='[executor.slurm]\ntime = "abc"'), "executor.slurm.time = 'abc'"),
    "evaluate steps": (dict(evaluate='steps = "x"'), "[evaluate] steps = 'x'"),
    "case key": (dict(cases='[[study.cases]]\nname = "a"\nbogus = 1\n'), "are name, set, grid"),
    "scale key": (dict(cases='[scale.cpu]\nbogus = 1\n'), "are description, minutes"),
    "case ids": (dict(cases='[[study.cases]]\nname = "a b"\n[[study.cases]]\nname = "a_b"\n'),
                 "give the same run id part 'case=a_b'"),
    "long case": (dict(cases=f'[[study.cases]]\nname = "{"c" * 300}"\n'), "characters, at most 200"),
    "reserved key": (dict(grid='"status" = [1, 2]'), "'status' is a reserved name"),
    "a million runs": (dict(grid="\n".join(f'"data.{k}" = [{", ".join(str(0.5 + i / 1000) for i in range(100))}]'
                                           for k in ("keep_fraction", "sigma", "spacing"))),
                       "2000000 runs"),
}


@pytest.mark.parametrize("case", list(STUDY_CASES))
@pytest.mark.parametrize("dry_run", [False, True])
def test_bad_study_file_is_one_line_and_creates_nothing(tmp_path, case, dry_run):
    kwargs, match = STUDY_CASES[case]
    f = write_study(tmp_path / "s.toml", **kwargs)
    t0 = time.perf_counter()
    refused(tmp_path, "study", "run", f, "--out", tmp_path / "out", *(["--dry-run"] if dry_run else []), match=match)
    assert time.perf_counter() - t0 < 30  # the run count is computed, never enumerated


def test_max_runs_flag_overrides_the_cap(tmp_path):
    f = write_study(tmp_path / "s.toml")
    refused(tmp_path, "study", "run", f, "--out", tmp_path / "out", "--max-runs", "3", match="cap of 3")
    res = invoke("study", "run", f, "--out", tmp_path / "out", "--max-runs", "4", "--dry-run")
    assert res.exit_code == 0 and "4 runs" in res.output


@pytest.mark.parametrize("out", ["afile/sub", "/proc/manifold-lens-study"])
def test_out_that_cannot_be_a_folder(tmp_path, out):
    f = write_study(tmp_path / "s.toml")
    (tmp_path / "afile").write_text("x")
    target = tmp_path / out if not out.startswith("/") else Path(out)
    refused(tmp_path, "study", "run", f, "--out", target, match=f"--out {target}: ")


# -- crafted manifests -----------------------------------------------------------------------------

def _study_dir(tmp_path: Path, manifest) -> Path:
    d = tmp_path / "study"
    (d / "runs" / "a").mkdir(parents=True)
    (d / "study.json").write_text(json.dumps(manifest))
    return d


RUN = {"run_id": "a", "case": "", "seed": 0, "swept": {}, "config": {}}
MANIFESTS = {
    "top-level list": ([RUN], "the top level is a list"),
    "runs a string": ({"runs": "a"}, "no list 'runs'"),
    "numeric run_id": ({"runs": [{**RUN, "run_id": 7}]}, "runs[0].run_id = 7: expected a string"),
    "non-object run": ({"runs": ["a"]}, "runs[0] is a str, not an object"),
    "no run_id": ({"runs": [{"seed": 0}]}, "runs[0] has no 'run_id'"),
    "traversal": ({"runs": [{**RUN, "run_id": "../../../outside/x"}]}, "not a plain run id"),
    "absolute": ({"runs": [{**RUN, "run_id": "/etc"}]}, "not a plain run id"),
    "dot-dot": ({"runs": [{**RUN, "run_id": ".."}]}, "not a plain run id"),
    "duplicate": ({"runs": [RUN, RUN]}, "run id 'a' listed twice"),
    "reserved key": ({"keys": ["status"], "runs": [RUN]}, "'status' is a reserved name"),
    "bool seed": ({"runs": [{**RUN, "seed": True}]}, "runs[0].seed = True: not an integer"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_crafted_manifest_is_refused(tmp_path, case):
    manifest, match = MANIFESTS[case]
    d = _study_dir(tmp_path, manifest)
    for cmd in (("study", "status", d), ("report", d)):
        refused(tmp_path, *cmd, match=match)
    with pytest.raises(ManifoldLensError, match="study.json"):
        open_study(d)


def test_run_folder_symlinked_out_is_refused(tmp_path):
    d = _study_dir(tmp_path, {"runs": [{**RUN, "run_id": "b"}]})
    (tmp_path / "outside").mkdir()
    (d / "runs" / "b").symlink_to(tmp_path / "outside")
    refused(tmp_path, "study", "status", d, match="leads outside")
    with pytest.raises(ManifoldLensError, match="leads outside"):
        open_study(d)


@pytest.mark.parametrize("what", ["file", "dir-manifest", "absent"])
def test_open_study_raises_the_packages_error(tmp_path, what):
    p = tmp_path / "x"
    if what == "file":
        p.write_text("x")
    elif what == "dir-manifest":
        (p / "study.json").mkdir(parents=True)
    with pytest.raises(ManifoldLensError):
        open_study(p)
    refused(tmp_path, "percolate", "test", p, match=str(p))


def test_done_run_whose_store_is_gone_is_missing(tmp_path):
    d = _study_dir(tmp_path, {"runs": [RUN], "stages": {"evaluate": {}, "analyze": None}})
    (d / "runs" / "a" / "status.json").write_text(json.dumps({"run_id": "a", "state": "done", "stage": "done"}))
    (d / "runs" / "a" / "run.zarr").mkdir()
    row = study_status(d)[0]
    assert row["state"] == "missing" and "results.zarr" in row["error"]
    (d / "runs" / "a" / "results.zarr").mkdir()
    assert study_status(d)[0]["state"] == "done"


# -- one runner ------------------------------------------------------------------------------------

def _hold(out: str, ready, stop) -> None:
    from manifold_lens.studies.layout import study_lock

    with study_lock(out):
        ready.set()
        stop.wait(60)


def test_a_second_runner_is_refused_naming_the_first(tmp_path):
    """Another process holds the study's runner lock (as a running `study run` does): `study run` is refused."""
    import multiprocessing

    f = write_study(tmp_path / "s.toml")
    out = tmp_path / "held"
    out.mkdir()
    ctx = multiprocessing.get_context("fork")  # the holder needs nothing imported again
    ready, stop = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(out), ready, stop))
    holder.start()
    try:
        assert ready.wait(30)
        before = fingerprint(tmp_path)
        res = invoke("study", "run", f, "--out", out, "--no-progress")
        assert res.exit_code == 2, res.output
        assert f"another runner holds it: process {holder.pid} on " in res.output and " since " in res.output
        assert len(res.output.strip().splitlines()) == 1
        assert fingerprint(tmp_path) == before
    finally:
        stop.set()
        holder.join(10)
        holder.kill() if holder.is_alive() else None
    assert not (out / "runner.lock").exists()  # released by its holder


# -- a damaged run store, a killed report ---------------------------------------------------------

def test_one_damaged_run_store_is_left_out_with_a_note(tiny_study, tmp_path):
    import shutil

    study = tmp_path / "study"
    shutil.copytree(tiny_study, study)  # the test is stored in the study: leave the shared one as it was
    rid = sorted(p.name for p in (study / "runs").iterdir())[0]
    (study / "runs" / rid / "run.zarr" / "zarr.json").write_text("{damaged")
    ds = open_study(study)
    k = list(ds["run_id"].values).index(rid)
    assert str(ds["status"].values[k]) == "damaged" and any(n.startswith(f"{rid}: ") for n in ds.attrs["notes"])
    res = invoke("percolate", "test", study, "--n-boot", 20, "--no-progress")
    assert res.exit_code == 0, res.output


def test_a_killed_report_is_resumed_by_its_rerun(tmp_path):
    from manifold_lens.report.page import prepare_out

    out = tmp_path / "report"
    prepare_out(out)
    (out / "figure.png").write_bytes(b"half")  # the report was killed before writing its report.json
    prepare_out(out)  # the rerun, without replace: recognised as this report's partial state, its files cleared
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "mine.txt").write_text("a file of the user's")
    prepare_out(tmp_path / "theirs", replace=True)
    (tmp_path / "theirs" / "figure.png").write_bytes(b"half")
    prepare_out(tmp_path / "theirs", replace=True)  # the user's file is never taken for the report's
    assert sorted(p.name for p in (tmp_path / "theirs").iterdir()) == ["mine.txt", "report.json"]
    with pytest.raises(ManifoldLensError, match="mine.txt"):
        prepare_out(tmp_path / "theirs")
