"""train.until_accuracy: the trainer checks its accuracy on the training conditions every check_every steps and
stops at the target (train.steps the cap), records what it did, resumes to the same result, refuses bad values."""

from __future__ import annotations

import numpy as np
import pytest
from manifold_lens.trainers import convergence
from manifold_lens.trainers.train import train

from manifold_lens.config import load_config
from manifold_lens.errors import ConfigError
from manifold_lens.stores import open_run
from manifold_lens.studies.tasks import training_done
from tests.builders import QUIET, TINY

SCRIPT = {4: 0.25, 8: 0.95, 12: 1.0}  # accuracy at each check: the target 0.9 is first reached at step 8


@pytest.fixture
def scripted(monkeypatch):
    """Checks that return SCRIPT's accuracy instead of sampling (the stopping logic alone, exactly)."""
    def measure(self, state, step):
        self.history.append([int(step), SCRIPT[step]])
        return SCRIPT[step]

    monkeypatch.setattr(convergence.AccuracyCheck, "measure", measure)


def _config(*extra):
    return load_config("quick", overrides=TINY + ["train.check_every=4", *extra])


def test_stops_at_the_first_check_that_reaches_the_target(scripted, tmp_path, tiny_run):
    run = open_run(train(_config("train.until_accuracy=0.9"), tmp_path / "r.zarr", **QUIET))
    assert run.steps[-1] == 8 and run.status == "complete"  # the final checkpoint is the stopping step
    assert run.attrs["steps_trained"] == 8 and run.attrs["stopped"] == "until_accuracy"
    assert run.attrs["accuracy_checks"] == [[4, 0.25], [8, 0.95]]
    check = run.attrs["accuracy_check"]
    assert check["until_accuracy"] == 0.9 and check["every"] == 4 and check["weights"] == "ema"
    assert check["conditions"] == min(convergence.CHECK_CONDITIONS, int(run.conditions["in_train"].sum()))
    # the checks never touch the training: the first 8 losses are those of the same run without them
    plain = open_run(tiny_run).loss["loss"].values[:8]
    np.testing.assert_array_equal(run.loss["loss"].values, plain)
    assert training_done(run.path, 12)  # a study's rerun skips it, though 8 < train.steps


def test_a_stopped_run_resumes_to_nothing_and_a_killed_one_to_the_same_stop(scripted, tmp_path):
    cfg = _config("train.until_accuracy=0.9")
    whole = open_run(train(cfg, tmp_path / "whole.zarr", **QUIET))
    train(cfg, whole.path, resume=True, **QUIET)  # already stopped: nothing trained
    assert open_run(whole.path).steps == whole.steps
    # killed at step 6 (trained with the cap at 6), then resumed with the cap at 12: stops at 8, same weights
    part = tmp_path / "part.zarr"
    train(_config("train.until_accuracy=0.9", "train.steps=6"), part, **QUIET)
    assert open_run(part).attrs["stopped"] == "steps" and open_run(part).attrs["steps_trained"] == 6
    resumed = open_run(train(cfg, part, resume=True, **QUIET))
    assert resumed.steps[-1] == 8 and resumed.attrs["accuracy_checks"] == [[4, 0.25], [8, 0.95]]
    for k, v in whole.state_dict(8).items():
        np.testing.assert_array_equal(resumed.state_dict(8)[k].numpy(), v.numpy())


def test_without_until_accuracy_no_check_runs(tmp_path, monkeypatch):
    def fail(*a):
        raise AssertionError("checked without train.until_accuracy")

    monkeypatch.setattr(convergence.AccuracyCheck, "measure", fail)
    run = open_run(train(_config(), tmp_path / "r.zarr", **QUIET))
    assert run.attrs["steps_trained"] == 12 and run.attrs["stopped"] == "steps"
    assert "accuracy_checks" not in run.attrs


@pytest.mark.parametrize("value, message", [
    ("0", "train.until_accuracy = 0: must be > 0"),
    ("1.5", "train.until_accuracy = 1.5: must be <= 1"),
    ("-1", "train.check_every = -1: must be >= 0"),
])
def test_bad_values_name_the_key(value, message):
    key = "train.check_every" if "check_every" in message else "train.until_accuracy"
    with pytest.raises(ConfigError) as e:
        load_config("quick", overrides=[f"{key}={value}"])
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.slow
def test_real_checks_sample_the_training_conditions(tmp_path):
    """The real check (no script): 8x8, 12 steps, checks at 6 and 12 with the evaluation's scorer."""
    run = open_run(train(_config("train.until_accuracy=1.0", "train.check_every=6"), tmp_path / "r.zarr", **QUIET))
    checks = run.attrs["accuracy_checks"]
    assert [s for s, _ in checks] == [6, 12] and all(0 <= a <= 1 for _, a in checks)
    assert run.attrs["steps_trained"] == 12
    expected = "stopped" if any(a >= 1.0 for _, a in checks) else "steps"
    assert (run.attrs["stopped"] == "until_accuracy") == (expected == "stopped")
