"""Run stores lose nothing: one writer at a time, atomic creation, checksummed rows (also for older stores)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch
import zarr

from manifold_lens import open_run
from manifold_lens.errors import StoreError
from manifold_lens.stores import RunWriter
from manifold_lens.stores import writer as writer_module
from manifold_lens.stores.lock import lock_path, store_lock
from tests.builders import QUIET, TINY, fingerprint, invoke, set_args
from manifold_lens.trainers.train import train

HOLD = ("import sys, time\nfrom manifold_lens.stores.lock import StoreLock\n"
        "StoreLock(sys.argv[1]).acquire()\nprint('held', flush=True)\ntime.sleep(120)\n")


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds the writer lock of a store; yields (start(store) -> Popen)."""
    procs = []

    def start(store):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store)], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_second_writer_of_a_run_store_is_refused(tmp_path, tiny_run, holder):
    run = tmp_path / "run.zarr"
    shutil.copytree(tiny_run, run)
    proc = holder(run)
    before = fingerprint(run)
    for args in (["--resume", "--set", "train.steps=18"], ["--replace", *set_args(TINY)]):
        res = invoke("train", "--out", run, *args, "--no-progress")
        assert res.exit_code == 2, res.output
        assert f"another writer holds it: process {proc.pid} on " in res.output
        assert len(res.output.strip().splitlines()) == 1
    assert fingerprint(run) == before

    # the holder dies without cleaning up: its lock file stays, but the lock is stale and is taken over
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert lock_path(run).exists()
    res = invoke("train", "--out", run, "--resume", "--set", "train.steps=18", "--no-progress")
    assert res.exit_code == 0, res.output
    assert open_run(run).steps[-1] == 18
    assert not lock_path(run).exists()  # released when the writer finished


def test_lock_is_reentrant_in_one_process(tmp_path):
    store = tmp_path / "s.zarr"
    with store_lock(store):
        with store_lock(store):
            assert lock_path(store).exists()
        assert lock_path(store).exists()
    assert not lock_path(store).exists()


def test_kill_during_creation_leaves_no_store(tmp_path, tiny_config, monkeypatch):
    out = tmp_path / "run.zarr"

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for SIGKILL while the dataset is written

    monkeypatch.setattr(writer_module, "write_group", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config, out, **QUIET)
    monkeypatch.undo()
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [f".run.zarr.creating-{os.getpid()}"]
    res = invoke("train", "--out", out, "--resume", "--no-progress")
    assert res.exit_code == 2 and "does not exist; drop --resume" in res.output
    train(tiny_config, out, **QUIET)  # a plain rerun creates it and clears the leftover
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.zarr"]
    assert open_run(out).steps[-1] == 12


def test_kill_before_the_first_commit_resumes_from_scratch(tmp_path, tiny_config, monkeypatch):
    out = tmp_path / "run.zarr"

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunWriter, "commit_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config, out, **QUIET)
    monkeypatch.undo()
    assert open_run(out).steps == []
    res = invoke("train", "--out", out, "--resume", "--no-progress")
    assert res.exit_code == 0, res.output
    train(tiny_config, tmp_path / "full.zarr", **QUIET)
    a, b = open_run(out).state_dict(ema=True), open_run(tmp_path / "full.zarr").state_dict(ema=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_store_without_checksums_loads_and_gains_them_on_resume(tmp_path, tiny_run):
    """A version-1 store (before checksums) is read unverified; resuming it fingerprints its rows first."""
    run = tmp_path / "run.zarr"
    shutil.copytree(tiny_run, run)
    shutil.rmtree(run / "checkpoints" / "checksum")
    zarr.open_group(str(run), mode="r+").attrs["schema_version"] = 1
    reference = open_run(tiny_run).state_dict(0, ema=False)
    assert all(torch.equal(v, reference[k]) for k, v in open_run(run).state_dict(0, ema=False).items())
    RunWriter.open_for_resume(run)
    assert zarr.open_group(str(run), mode="r").attrs["schema_version"] == 2
    first = sorted((run / "checkpoints" / "params" / "conv_in" / "weight" / "c").iterdir(), key=lambda p: int(p.name))
    shutil.rmtree(first[0])  # now a deleted chunk is caught
    with pytest.raises(StoreError, match="step 0: parameter conv_in.weight"):
        open_run(run).state_dict(0, ema=False)
