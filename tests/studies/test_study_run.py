"""Running studies: the local executor (1 and 2 workers), reruns that do nothing, a killed study finished by
its rerun, a failed run recorded while the others finish, and the same study on submitit and dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifold_lens.stores import open_run
from manifold_lens.stores.results import group_status
from manifold_lens.studies import run_study, study_status
from tests.builders import fingerprint, invoke
from tests.studies.study_files import write_study

ROOT = Path(__file__).resolve().parents[2]
IDS = ["keep_fraction=0.5,seed=0", "keep_fraction=0.5,seed=1", "keep_fraction=1,seed=0", "keep_fraction=1,seed=1"]


def assert_complete(out: Path, run_ids, analyze: bool = True) -> None:
    manifest = json.loads((out / "study.json").read_text())
    for rid in run_ids:
        d = out / "runs" / rid
        status = json.loads((d / "status.json").read_text())
        assert status["state"] == "done" and status["stage"] == "done" and status["error"] == ""
        run = open_run(d / "run.zarr")
        assert run.status == "complete" and run.steps[-1] == 12
        entry = next(r for r in manifest["runs"] if r["run_id"] == rid)
        assert run.config.to_dict() == entry["config"]
        assert group_status(d / "results.zarr", "evaluation", "default").complete
        if analyze:
            assert group_status(d / "results.zarr", "analysis", "default").complete
        assert "done" in (d / "log.txt").read_text()


@pytest.fixture(scope="module")
def done_study(tmp_path_factory):
    """The 2 keep fractions x 2 seeds study, run once with 2 local workers."""
    tmp = tmp_path_factory.mktemp("study")
    f = write_study(tmp / "tiny.toml")
    out = tmp / "out"
    statuses = run_study(f, out, workers=2, progress=False)
    return f, out, statuses


def test_local_two_workers_runs_every_run(done_study):
    f, out, statuses = done_study
    assert [s["run_id"] for s in statuses] == IDS
    assert [s["state"] for s in statuses] == ["done"] * 4
    assert len({s["pid"] for s in statuses}) == 2  # two worker processes
    assert_complete(out, IDS)
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["name"] == "tiny" and manifest["keys"] == ["data.keep_fraction"]
    assert [r["swept"] for r in manifest["runs"]] == [{"data.keep_fraction": v} for v in (0.5, 0.5, 1.0, 1.0)]
    assert manifest["stages"]["analyze"]["noise_draws"] == 2 and "torch" in manifest["versions"]
    assert (out / "study.toml").read_text() == f.read_text()


def test_rerun_does_nothing(done_study):
    f, out, _ = done_study
    before = fingerprint(out)
    res = invoke("study", "run", f, "--out", out, "--no-progress")
    assert res.exit_code == 0 and "4 of 4 runs done" in res.output, res.output
    assert fingerprint(out) == before


def test_status_table(done_study):
    _, out, _ = done_study
    assert [r["state"] for r in study_status(out)] == ["done"] * 4
    res = invoke("study", "status", out)
    assert res.exit_code == 0 and "4 done" in res.output and IDS[2] in res.output


def _committed(store: Path) -> tuple[int, str]:
    try:
        attrs = json.loads((store / "zarr.json").read_text())["attributes"]
        return int(attrs.get("committed", 0)), str(attrs.get("status"))
    except (OSError, ValueError, KeyError):
        return 0, ""


def test_killed_study_is_finished_by_its_rerun(tmp_path):
    """SIGKILL the whole `study run` (its process group) once a run's training has committed a checkpoint."""
    f = write_study(tmp_path / "tiny.toml", seeds="[0]", extra_set='"train.steps" = 60\n"train.checkpoint_every" = 6',
                    analyze="enabled = false\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", "study", "run", str(f), "--out",
                             str(out), "--workers", "1", "--no-progress"], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    first = out / "runs" / "keep_fraction=0.5,seed=0" / "run.zarr"
    try:
        deadline = time.monotonic() + 120
        while _committed(first)[0] < 2:
            assert proc.poll() is None, f"exited ({proc.returncode}) early: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint committed within 120 s"
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    committed, state = _committed(first)
    assert state == "running" and committed < 11  # killed midway through training
    # SIGKILL reaches the worker asynchronously and proc.wait() waits for the parent only: give the worker's
    # exit (tearing down its memory) up to 10 s before reading its state
    deadline = time.monotonic() + 10
    while (state := {r["run_id"]: r["state"] for r in study_status(out)}["keep_fraction=0.5,seed=0"]) == "running" \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state == "interrupted"
    statuses = run_study(f, out, progress=False)
    assert [s["state"] for s in statuses] == ["done", "done"]
    run = open_run(first)
    assert run.status == "complete" and run.steps[-1] == 60
    assert "resuming from the last committed checkpoint" in (first.parent / "log.txt").read_text()


def test_a_failed_run_is_recorded_and_the_others_finish(tmp_path):
    """Evaluating held-out conditions fails at run time for the run without a hold-out."""
    f = write_study(tmp_path / "tiny.toml", seeds="[0]", grid='"data.holdout.kind" = ["none", "interior"]',
                    extra_set='"data.holdout.width" = 3', evaluate='checkpoints = "last"\nsteps = 2\n'
                    'samples_per_condition = 1\nconditions = "heldout"\n', analyze="enabled = false\n")
    out = tmp_path / "out"
    res = invoke("study", "run", f, "--out", out, "--no-progress")
    assert res.exit_code == 1, res.output
    assert any(f"kind=none,seed=0: failed in evaluate: ManifoldLensError: {name}: this run has no such conditions"
               in res.output for name in ("conditions = 'heldout'", "--conditions heldout"))  # the parameter named
    rows = {r["run_id"]: r for r in study_status(out)}
    assert rows["kind=none,seed=0"]["state"] == "failed" and "no such conditions" in rows["kind=none,seed=0"]["error"]
    assert rows["kind=interior,seed=0"]["state"] == "done"
    res = invoke("study", "status", out)
    assert "1 failed" in res.output and "1 done" in res.output


@pytest.mark.parametrize("executor", ["slurm", "dask"])
def test_the_same_study_on_submitit_and_dask(tmp_path, executor):
    f = write_study(tmp_path / "tiny.toml", analyze="enabled = false\n", seeds="[0]",
                    executor='[executor.slurm]\ncluster = "debug"\n')
    out = tmp_path / "out"
    statuses = run_study(f, out, executor=executor, workers=1, progress=False)
    assert [s["state"] for s in statuses] == ["done"] * 2, statuses
    assert_complete(out, IDS[::2], analyze=False)
    if executor == "slurm":
        assert (out / "slurm").is_dir()
        assert {s["pid"] for s in statuses} == {os.getpid()}  # submitit's debug executor runs in-process
    else:
        assert os.getpid() not in {s["pid"] for s in statuses}  # a dask worker process
    before = fingerprint(out)
    run_study(f, out, executor=executor, progress=False)
    assert fingerprint(out) == before


@pytest.mark.slow
def test_runner_computes_what_the_claim_needs_once(tmp_path):
    """A scaling study that sweeps no image size: the runner tries the fits after the runs and records why they
    are missing (claims.json, shown by the report); a rerun with nothing to run does not try again."""
    f = write_study(tmp_path / "s.toml", seeds="[0]", head='preset = "quick"\nclaim = "scaling"')
    out = tmp_path / "out"
    statuses = run_study(f, out, progress=False)
    assert [s["state"] for s in statuses] == ["done", "done"]
    why = json.loads((out / "claims.json").read_text())
    assert list(why) == ["scaling"] and "does not sweep data.image_size" in why["scaling"]
    before = fingerprint(out)
    run_study(f, out, progress=False)
    assert fingerprint(out) == before
