"""Training and exact resume: a resumed run equals an uninterrupted one bit for bit on CPU."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import zarr

from manifold_lens import load_config, open_run
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.stores import RunWriter
from tests.builders import QUIET, TINY, set_args
from manifold_lens.trainers.train import train


def assert_same_weights(a, b, step=None, ema=False):
    sa, sb = open_run(a).state_dict(step, ema=ema), open_run(b).state_dict(step, ema=ema)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_loss_decreases(tmp_path):
    cfg = load_config("quick", overrides=TINY + ["train.steps=60", "train.batch_size=32"])
    train(cfg, tmp_path / "r.zarr", **QUIET)
    loss = open_run(tmp_path / "r.zarr").loss.loss.values
    assert loss[-10:].mean() < 0.7 * loss[:5].mean()


def test_same_seed_same_weights_other_seed_differs(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "a.zarr", **QUIET)
    train(tiny_config, tmp_path / "b.zarr", **QUIET)
    assert_same_weights(tmp_path / "a.zarr", tmp_path / "b.zarr")
    other = tiny_config.with_overrides(["train.seed=1"])
    train(other, tmp_path / "c.zarr", **QUIET)
    sa, sc = open_run(tmp_path / "a.zarr").state_dict(), open_run(tmp_path / "c.zarr").state_dict()
    assert not torch.equal(sa["conv_in.weight"], sc["conv_in.weight"])


def test_resume_to_more_steps_equals_uninterrupted(tmp_path, tiny_config):
    full = tiny_config.with_overrides(["train.steps=20"]).resolved()
    train(full, tmp_path / "full.zarr", **QUIET)
    train(tiny_config, tmp_path / "part.zarr", **QUIET)  # 12 steps
    train(full, tmp_path / "part.zarr", resume=True, **QUIET)
    run = open_run(tmp_path / "part.zarr")
    assert run.steps[-1] == 20 and run.config.train.steps == 20
    assert_same_weights(tmp_path / "full.zarr", tmp_path / "part.zarr")
    assert_same_weights(tmp_path / "full.zarr", tmp_path / "part.zarr", ema=True)
    torch.testing.assert_close(torch.from_numpy(open_run(tmp_path / "full.zarr").loss.loss.values),
                               torch.from_numpy(run.loss.loss.values), rtol=0, atol=0)


def test_crash_during_checkpoint_is_invisible_and_resumable(tmp_path, tiny_config, monkeypatch):
    train(tiny_config, tmp_path / "full.zarr", **QUIET)
    original = RunWriter.commit_checkpoint
    calls = {"n": 0}

    def crashing(self, step, *args, **kwargs):
        calls["n"] += 1
        if step == 6:  # write the data, then die before the commit
            self.root["checkpoints/step"].resize((self.committed + 1,))
            self.root["checkpoints/step"][self.committed] = step
            raise KeyboardInterrupt
        return original(self, step, *args, **kwargs)

    monkeypatch.setattr(RunWriter, "commit_checkpoint", crashing)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config, tmp_path / "crash.zarr", **QUIET)
    monkeypatch.setattr(RunWriter, "commit_checkpoint", original)
    run = open_run(tmp_path / "crash.zarr")
    assert 6 not in run.steps and run.steps[-1] < 6
    with pytest.raises(StoreError, match="half-written"):
        run.load_model(step=6)
    train(tiny_config, tmp_path / "crash.zarr", resume=True, **QUIET)
    assert_same_weights(tmp_path / "full.zarr", tmp_path / "crash.zarr")
    assert open_run(tmp_path / "crash.zarr").steps == open_run(tmp_path / "full.zarr").steps


@pytest.mark.slow
def test_process_killed_mid_training_resumes_exactly(tmp_path):
    """SIGKILL a real `manifold-lens train` process, resume it, compare to an uninterrupted run."""
    overrides = TINY + ["train.steps=150", "train.checkpoint_every=10", "train.batch_size=16"]
    args = [sys.executable, "-c", "from manifold_lens.cli import app; app()", "train", "--out"]
    sets = set_args(overrides)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    killed = tmp_path / "killed.zarr"
    proc = subprocess.Popen(args + [str(killed), "--no-progress"] + sets, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline:
        try:
            committed = int(zarr.open_group(str(killed), mode="r").attrs.get("committed", 0))
        except Exception:
            committed = 0
        if committed >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run = open_run(killed)
    assert 5 <= len(run.steps) and run.steps[-1] < 150, "the process should die mid-training"
    assert run.status == "running"  # it never got to mark itself complete
    resumed = subprocess.run(args + [str(killed), "--resume", "--no-progress"], env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    full = tmp_path / "full.zarr"
    subprocess.run(args + [str(full), "--no-progress"] + sets, check=True, env=env, capture_output=True)
    assert open_run(killed).steps == open_run(full).steps
    assert_same_weights(full, killed)
    assert_same_weights(full, killed, ema=True)


def test_resume_refuses_changed_data(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "r.zarr", **QUIET)
    with pytest.raises(ConfigError, match="data.sigma differs"):
        train(tiny_config.with_overrides(["data.sigma=2"]), tmp_path / "r.zarr", resume=True, **QUIET)


def test_existing_out_refused(tmp_path, tiny_config):
    train(tiny_config, tmp_path / "r.zarr", **QUIET)
    with pytest.raises(StoreError, match=r"resume.* or .*(overwrite|replace)"):
        train(tiny_config, tmp_path / "r.zarr", **QUIET)
    train(tiny_config, tmp_path / "r.zarr", replace=True, **QUIET)
    assert open_run(tmp_path / "r.zarr").status == "complete"
