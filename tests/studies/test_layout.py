"""The study directory's one owner (studies/layout.py) and the stage checks derived from the stages' settings."""

from __future__ import annotations

import dataclasses
import json

import pytest

from manifold_lens.errors import ConfigError
from manifold_lens.settings import StageSettings, setting
from manifold_lens.studies import layout, stages


def test_paths_of_a_study_directory(tmp_path):
    d = tmp_path / "study"
    assert layout.run_store(d, "a=1,seed=0") == d / "runs" / "a=1,seed=0" / "run.zarr"
    assert layout.run_results(d, "r") == d / "runs" / "r" / "results.zarr"
    assert layout.run_report(d, "r") == d / "runs" / "r" / "report"
    assert layout.study_results(d) == d / "results.zarr" and layout.report_dir(d) == d / "report"
    assert not layout.is_study(d)


def test_read_manifest_one_error_per_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"not a study directory \(no study.json\); run `manifold-lens study run"):
        layout.read_manifest(tmp_path)
    (tmp_path / "study.json").write_text("{nope")
    with pytest.raises(ConfigError, match="cannot be read"):
        layout.read_manifest(tmp_path)
    (tmp_path / "study.json").write_text(json.dumps({"runs": {}}))
    with pytest.raises(ConfigError, match="no list 'runs'"):
        layout.read_manifest(tmp_path)
    manifest = {"name": "x", "runs": [{"run_id": "r0", "config": {"data": {"sigma": 1.5}}}]}
    layout.write_manifest(tmp_path, manifest)
    assert layout.is_study(tmp_path) and layout.read_manifest(tmp_path) == manifest
    assert layout.run_configs(tmp_path) == {"r0": {"data": {"sigma": 1.5}}}
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]  # written atomically: no temporary left


def test_status_files(tmp_path):
    folder = tmp_path / "runs" / "r0"
    assert layout.run_state(folder) == ("missing", "no run folder") and layout.read_status(folder) is None
    folder.mkdir(parents=True)
    assert layout.run_state(folder) == ("missing", "no status.json")
    layout.write_status(folder, {"state": "failed", "error": "Traceback\n  ...\nValueError: boom\n"})
    assert layout.read_status(folder)["state"] == "failed"
    assert layout.run_state(folder) == ("failed", "ValueError: boom")
    assert layout.read_claims_status(tmp_path) == {}
    layout.write_claims_status(tmp_path, "scaling", "the study does not sweep data.image_size")
    assert layout.read_claims_status(tmp_path) == {"scaling": "the study does not sweep data.image_size"}
    layout.write_claims_status(tmp_path, "scaling", "")
    assert layout.read_claims_status(tmp_path) == {}


def test_stage_keys_are_the_settings_classes_names():
    keys = stages.stage_keys("evaluate")
    assert "checkpoints" in keys and "tolerance" in keys and "max_width_ratio" in keys
    assert not set(keys) & {"run", "out", "name", "replace", "progress", "log"}  # what the study sets itself
    keys = stages.stage_keys("analyze")
    assert "noise_draws" in keys and "embed" in keys and not set(keys) & {"run_or_path", "run", "out", "name"}


@dataclasses.dataclass(frozen=True)
class _Probe(StageSettings):
    """A settings class with from_mapping, standing in for a stage's (its check takes the noise schedule)."""

    stage = "evaluate"
    probe_level: float = setting(0.5, "a level in (0, 1)")

    def check(self, *, timesteps: int):
        if not 0 < self.probe_level < 1:
            raise ConfigError(f"probe_level = {self.probe_level}: must be in (0, 1) (T = {timesteps})")
        return self


def test_check_stage_uses_the_settings_class_from_mapping(monkeypatch):
    from manifold_lens.config import load_config

    configs = [load_config("quick", None, None)]
    monkeypatch.setitem(stages.SETTINGS, "evaluate", (_Probe,))
    assert "probe_level" in stages.stage_keys("evaluate")
    assert stages.check_stage("evaluate", {"probe_level": 0.3}, configs) == {"probe_level": 0.3}
    T = configs[0].diffusion.timesteps
    with pytest.raises(ConfigError, match=rf"^\[evaluate\] probe_level = 2: must be in \(0, 1\) \(T = {T}\)$"):
        stages.check_stage("evaluate", {"probe_level": 2}, configs)
    with pytest.raises(ConfigError, match=r"unknown key 'nope' in \[evaluate\]: valid keys are enabled, "):
        stages.check_stage("evaluate", {"nope": 1}, configs)
    assert stages.check_stage("evaluate", {"enabled": False}, configs) is None


def test_a_done_run_whose_store_is_gone_is_missing(tmp_path):
    folder = tmp_path / "runs" / "r0"
    layout.write_status(folder.mkdir(parents=True) or folder, {"state": "done"})
    assert layout.run_state(folder) == ("missing", "done, but run.zarr and results.zarr are gone")
    (folder / "run.zarr").mkdir()
    assert layout.run_state(folder, results=False) == ("done", "")
    assert layout.run_state(folder)[0] == "missing"
    (folder / "results.zarr").mkdir()
    assert layout.run_state(folder) == ("done", "")


@pytest.mark.parametrize("rid", ["..", ".", "a/b", "/abs", "", "x" * 201, 3, None])
def test_run_ids_are_plain_names(rid):
    with pytest.raises(ConfigError, match="run_id"):
        layout.check_run_id(rid)
    assert layout.check_run_id("case=a_b,keep_fraction=0.5,seed=0")


def test_study_lock_is_reentrant_and_released(tmp_path):
    with layout.study_lock(tmp_path) as lock:
        with layout.study_lock(tmp_path):
            assert (tmp_path / "runner.lock").exists() and lock.held
        assert lock.held
    assert not (tmp_path / "runner.lock").exists()
