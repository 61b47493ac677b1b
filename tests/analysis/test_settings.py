"""ExtractionSettings and MeasureSettings: defaults written once, checks naming the parameter, attrs, resume key."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import ExtractionSettings, MeasureSettings, analyze_run, extract_activations
from manifold_lens.analysis.settings import NOISE_TEXT
from manifold_lens.diffusion import NoiseSchedule
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.stores import append_results, open_stream, write_results

SCHEDULE = NoiseSchedule(1000)


def test_defaults_are_the_library_signatures_defaults():
    params = inspect.signature(analyze_run).parameters
    for cls in (ExtractionSettings, MeasureSettings):
        for name in cls.names():
            assert params[name].default == cls.default(name), name
    extract = inspect.signature(extract_activations).parameters
    for name in ExtractionSettings.names():
        assert extract[name].default == ExtractionSettings.default(name), name
    own = {"run", "positional", "out", "name", "replace", "progress", "log", "run_or_path"}
    assert set(params) - own == set(ExtractionSettings.names()) | set(MeasureSettings.names())  # a study's keys
    assert params["out"].kind is inspect.Parameter.KEYWORD_ONLY and params["name"].kind is params["out"].kind
    assert params["replace"].kind is inspect.Parameter.KEYWORD_ONLY and params["progress"].default is True


def test_check_completes_timesteps_from_the_schedule_and_returns_a_frozen_copy():
    raw = ExtractionSettings(noise_draws=np.int64(2), pool=1)
    checked = raw.check(schedule=SCHEDULE)
    assert raw.timesteps is None and checked is not raw  # the original is left as it was
    assert checked.timesteps == (50,) and checked.noise_draws == 2 and type(checked.noise_draws) is int
    assert checked.pool is True
    assert ExtractionSettings(mode="trajectory").check(schedule=SCHEDULE).timesteps == (41,)
    assert ExtractionSettings(timesteps=[0, 200]).check(schedule=NoiseSchedule(300)).timesteps == (0, 200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.seed = 3


def test_attrs_keep_the_stored_names_and_values():
    attrs = ExtractionSettings(timesteps=[0, 50], pool=True).check(schedule=SCHEDULE).attrs()
    assert attrs == {"mode": "noised", "timesteps": [0, 50], "noise_draws": 4, "seed": 0, "pool": 1,
                     "sampling_steps": 50, "batch_size": 256, "noise": NOISE_TEXT}
    m = MeasureSettings(layers=["bottleneck"], x="0:7:2", references=False, homology=True).check()
    assert m.attrs() == {"layers_requested": ["bottleneck"], "embed": ["pca"], "conditions": "grid x=0:7:2, y=None",
                         "references": ["learned"], "homology": 1}
    assert MeasureSettings().check().attrs()["references"][:3] == ["learned", "pixels", "init"]


@pytest.mark.parametrize("cls, kwargs, message", [
    (ExtractionSettings, dict(mode="reverse"), "mode = 'reverse': choose one of noised, trajectory"),
    (ExtractionSettings, dict(noise_draws=0), "noise_draws = 0: must be an integer >= 1"),
    (ExtractionSettings, dict(batch_size=2.5), "batch_size = 2.5: must be an integer >= 1"),
    (ExtractionSettings, dict(sampling_steps=True), "sampling_steps = True: must be an integer >= 1"),
    (ExtractionSettings, dict(seed="a"), "seed = 'a': must be an integer"),
    (ExtractionSettings, dict(pool="yes"), "pool = 'yes': expected true or false"),
    (ExtractionSettings, dict(timesteps=[]), r"timesteps = \[\]: give at least one timestep"),
    (ExtractionSettings, dict(timesteps=[5, 5]), r"timesteps = \[5, 5\]: give each timestep once"),
    (ExtractionSettings, dict(timesteps=[1000]), r"timesteps = \[1000\]: outside \[0, 1000\)"),
    (MeasureSettings, dict(embed="tsne"), "embed = 'tsne': choose among pca, isomap, umap"),
    (MeasureSettings, dict(checkpoints=[]), r"checkpoints = \[\]: give \"last\", \"all\""),
    (MeasureSettings, dict(references="no"), "references = 'no': expected true or false"),
    (MeasureSettings, dict(homology=2), "homology = 2: expected true or false"),
    (MeasureSettings, dict(layers=[3]), r"layers = \[3\]: give a module name"),
    (MeasureSettings, dict(device="gpu"), "device = 'gpu': must be auto, cpu, cuda or cuda:N"),
])
def test_bad_values_are_one_line_config_errors_naming_the_parameter(cls, kwargs, message):
    with pytest.raises(ConfigError, match=f"^{message}") as e:
        cls(**kwargs).check(**({"schedule": SCHEDULE} if cls is ExtractionSettings else {}))
    assert "\n" not in str(e.value) and "--" not in str(e.value)


def test_from_mapping_names_the_table_and_the_unknown_key():
    with pytest.raises(ConfigError, match=r"^\[analyze\] unknown key 'draws': valid keys are mode, timesteps"):
        ExtractionSettings.from_mapping({"draws": 2}, where="[analyze]")
    with pytest.raises(ConfigError, match=r"^\[analyze\] noise_draws = -1: must be an integer >= 1"):
        ExtractionSettings.from_mapping({"noise_draws": -1}, where="[analyze]", schedule=SCHEDULE)
    assert MeasureSettings.from_mapping({"embed": "pca,isomap"}).embed == ("pca", "isomap")


def test_validate_is_deprecated_but_still_checks():
    with pytest.warns(DeprecationWarning, match=r"check\(schedule=schedule\)"):
        checked = ExtractionSettings(noise_draws=2).validate(SCHEDULE)
    assert checked.timesteps == (50,)


def test_resume_key_is_the_stored_settings_and_a_mismatch_names_the_first_difference(tmp_path):
    ex = ExtractionSettings(timesteps=[0, 50], noise_draws=2).check(schedule=SCHEDULE)
    m = MeasureSettings().check()
    key = m.resume_key(ex, source_run="/r.zarr", checkpoints=[0, 10], layers=["encoder.2"], ema=True)
    assert key["extraction_timesteps"] == [0, 50] and key["extraction_noise_draws"] == 2
    assert key["checkpoints"] == [0, 10] and key["layers"] == ["encoder.2"] and key["ema"] == 1
    assert key["keep_activations"] is False and key["homology"] == "default (periodic data)"
    assert "device" not in key  # where it runs does not change the values

    out = tmp_path / "r.zarr"
    s = open_stream(key, out=out, kind="analysis", name="a", planned=2)
    append_results(s, xr.Dataset({"v": ("checkpoint", [1.0])}, coords={"checkpoint": [0]}))
    other = m.resume_key(ex.replace(seed=1), source_run="/r.zarr", checkpoints=[0, 10], layers=["encoder.2"],
                         ema=True)
    with pytest.raises(StoreError, match=r"other settings \(extraction_seed was 0, now 1\); "
                       r"pass replace=True to start them again or another name= to keep both$"):
        open_stream(other, out=out, kind="analysis", name="a", planned=2)
    assert open_stream(key, out=out, kind="analysis", name="a", planned=2, log=lambda line: None).committed == 1


def test_analyze_run_former_spellings_warn(tmp_path):
    """run_or_path= and a positional out still reach the same checks, with a DeprecationWarning."""
    out = tmp_path / "r.zarr"
    write_results(xr.Dataset({"v": ("k", [1.0])}), out=out, kind="percolation", name="p")
    with pytest.warns(DeprecationWarning, match="run_or_path"), pytest.raises(Exception, match="no such run store"):
        analyze_run(run_or_path=tmp_path / "missing.zarr", out=out)
    with pytest.warns(DeprecationWarning, match="out positional"), pytest.raises(Exception, match="no such run store"):
        analyze_run(tmp_path / "missing.zarr", out)
    with pytest.raises(TypeError, match="missing out="):
        analyze_run(tmp_path / "missing.zarr")
