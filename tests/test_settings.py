"""StageSettings (manifold_lens/settings.py) and the evaluation stage's EvaluationSettings: defaults, help, checks
naming the parameter, recorded attrs, resume equality, and the deprecation shims of the evaluation settings."""

import dataclasses
import math
import warnings
from typing import ClassVar

import pytest

from manifold_lens.errors import ConfigError
from manifold_lens.evaluation import (EvaluationSettings, check_settings, evaluate_model, evaluate_run,
                                      evaluation_name, evaluation_settings)
from manifold_lens.settings import StageSettings, setting


@dataclasses.dataclass(frozen=True)
class Toy(StageSettings):
    stage: ClassVar[str] = "toy"

    width: float = setting(2.0, "bump width", units="px")
    steps: list = setting([1, 2], "the steps", resume=False)
    flag: bool = setting(False, "a switch")
    label: str | None = setting(None, "a name, px or not", units="px")

    def check(self, limit: float = 10.0) -> "Toy":
        if not 0 < self.width <= limit:
            raise ConfigError(f"width = {self.width}: must be in (0, {limit:g}] px")
        return self


# -- the base --------------------------------------------------------------------------------------

def test_default_names_and_help_come_from_the_one_declaration():
    assert Toy.names() == ("width", "steps", "flag", "label")
    assert Toy.default("width") == 2.0 and Toy.default("steps") == [1, 2]
    first = Toy.default("steps")
    first.append(3)
    assert Toy.default("steps") == [1, 2] and Toy().steps == [1, 2]  # mutable defaults are fresh copies
    assert Toy.help("width") == "bump width (px)"
    assert Toy.help("label") == "a name, px or not"  # units already in the help are not repeated
    assert Toy.units("width") == "px" and Toy.units("flag") == ""
    with pytest.raises(KeyError, match="no setting 'depth'"):
        Toy.default("depth")


def test_from_mapping_checks_and_refuses_unknown_keys_naming_the_valid_ones():
    assert Toy.from_mapping({"width": 3.0}).width == 3.0
    with pytest.raises(ConfigError) as err:
        Toy.from_mapping({"widht": 3.0}, where="[toy]")
    assert str(err.value) == "[toy] unknown key 'widht': valid keys are width, steps, flag, label"
    with pytest.raises(ConfigError) as err:
        Toy.from_mapping({"width": 30.0}, where="[toy]")
    assert str(err.value) == "[toy] width = 30.0: must be in (0, 10] px"
    assert Toy.from_mapping({"width": 30.0}, limit=50.0).width == 30.0  # context reaches check()


def test_attrs_are_json_safe_and_differs_names_what_changed():
    toy = Toy(width=1.5, flag=True)
    assert toy.attrs() == {"width": 1.5, "steps": "[1, 2]", "flag": 1, "label": "none"}
    assert toy.resume_key() == {"width": 1.5, "flag": 1, "label": "none"}  # steps: resume=False
    assert toy.differs(toy.attrs()) == []
    assert toy.differs({"width": 1.5, "steps": "[9]", "flag": 1}) == []  # steps does not matter, label absent
    assert toy.differs({"width": 2.0, "flag": 0}) == ["width = 2.0 stored, 1.5 now", "flag = 0 stored, 1 now"]
    assert toy.replace(width=2.0).differs({"width": 2.0, "flag": 1}) == []
    assert toy.as_dict()["width"] == 1.5


# -- EvaluationSettings --------------------------------------------------------------------------

def test_evaluation_defaults_are_declared_once_and_read_by_the_signatures():
    import inspect

    from manifold_lens.evaluation.scoring import locate_samples, score, width_ok
    from manifold_lens.evaluation.localize import localize

    d = EvaluationSettings.default
    assert (d("max_width_ratio"), d("second_bump_threshold"), d("peak_fraction"), d("tolerance")) == (1.5, 0.25,
                                                                                                        0.5, 1.0)
    run_params = inspect.signature(evaluate_run).parameters
    for name in EvaluationSettings.names():
        assert run_params[name].default == d(name), name
    assert inspect.signature(width_ok).parameters["max_width_ratio"].default == d("max_width_ratio")
    assert inspect.signature(score).parameters["tolerance"].default == d("tolerance")
    assert inspect.signature(localize).parameters["second_bump_threshold"].default == d("second_bump_threshold")
    assert "settings" in inspect.signature(locate_samples).parameters
    assert "settings" in inspect.signature(evaluate_model).parameters
    assert EvaluationSettings.help("tolerance") == "max error per scored coordinate (px)"


@pytest.mark.parametrize("change, message", [
    ({"tolerance": -1}, "tolerance = -1: must be > 0 px"),
    ({"tolerance": 0}, "tolerance = 0: must be > 0 px"),
    ({"tolerance": "wide"}, "tolerance = 'wide': expected a number"),
    ({"peak_fraction": 1.0}, "peak_fraction = 1.0: must be in (0, 1)"),
    ({"peak_fraction": 0}, "peak_fraction = 0: must be in (0, 1)"),
    ({"min_peak": 0}, "min_peak = 0: must be a finite number > 0"),
    ({"min_peak": math.inf}, "min_peak = inf: must be a finite number > 0"),
    ({"second_bump_threshold": 0}, "second_bump_threshold = 0: must be in (0, 1]"),
    ({"second_bump_threshold": 1.01}, "second_bump_threshold = 1.01: must be in (0, 1]"),
    ({"max_width_ratio": 1}, "max_width_ratio = 1: must be a finite number > 1"),
    ({"max_width_ratio": math.nan}, "max_width_ratio = nan: must be a finite number > 1"),
    ({"samples_per_condition": 0}, "samples_per_condition = 0: must be >= 1"),
    ({"samples_per_condition": 2.5}, "samples_per_condition = 2.5: expected an integer"),
    ({"batch_size": 0}, "batch_size = 0: must be >= 1"),
    ({"seed": True}, "seed = True: expected an integer"),
    ({"sampler": "euler"}, "sampler = 'euler': must be one of ddim, ddpm"),
    ({"steps": 0}, "steps = 0: must be an integer >= 1"),
    ({"steps": 2.5}, "steps = 2.5: must be an integer >= 1"),
    ({"eta": -1.0}, "eta = -1.0: must be a finite number >= 0"),
    ({"conditions": "ood"}, "conditions = 'ood': must be one of all, train, heldout"),
    ({"checkpoints": 1.5}, "checkpoints = 1.5: give \"last\", \"all\", a step or a list of steps"),
    ({"checkpoints": []}, "checkpoints = []: give"),
    ({"device": "tpu"}, "device = 'tpu': must be auto, cpu, cuda or cuda:N"),
    ({"keep_images": "yes"}, "keep_images = 'yes': expected true or false"),
])
def test_each_bad_evaluation_setting_is_a_config_error_naming_the_parameter(change, message):
    with pytest.raises(ConfigError) as err:
        EvaluationSettings(**change).check()
    assert str(err.value).startswith(message) and "--" not in str(err.value) and "\n" not in str(err.value)


def test_steps_are_checked_against_the_schedule_and_the_sampler_is_planned():
    with pytest.raises(ConfigError, match=r"^steps = 60: must be an integer between 1 and T = 50 "):
        EvaluationSettings(steps=60).check(timesteps=50)
    with pytest.raises(ConfigError, match=r"^steps = 20: the ddpm sampler always takes all T = 50 steps"):
        EvaluationSettings(sampler="ddpm", steps=20).check(timesteps=50)
    ddim = EvaluationSettings(steps=10, eta=0.5).check(timesteps=50)
    assert ddim.plan.timesteps[0] == 49 and ddim.plan.timesteps[-1] == 0 and len(ddim.plan.timesteps) == 10
    assert ddim.sampler_steps == 10 and ddim.plan.eta == 0.5
    ddpm = EvaluationSettings(sampler="ddpm").check(timesteps=50)  # no steps needed for ddpm
    assert ddpm.sampler_steps == 50 and ddpm.plan.eta == 1.0 and ddpm.name() == "ddpm50"
    assert EvaluationSettings().check(timesteps=1000).sampler_steps == 50
    with pytest.raises(ValueError, match="check\\(timesteps=T\\)"):
        EvaluationSettings().plan  # noqa: B018 (unchecked: no plan)
    checked = EvaluationSettings(tolerance="2", samples_per_condition=3.0).check()
    assert checked.tolerance == 2.0 and checked.samples_per_condition == 3 and isinstance(
        checked.samples_per_condition, int)


def test_evaluation_from_mapping_names_the_table():
    with pytest.raises(ConfigError) as err:
        EvaluationSettings.from_mapping({"tolerance": -1}, where="[evaluate]", timesteps=1000)
    assert str(err.value) == "[evaluate] tolerance = -1: must be > 0 px"
    with pytest.raises(ConfigError, match=r"^\[evaluate\] unknown key 'tol': valid keys are checkpoints, sampler"):
        EvaluationSettings.from_mapping({"tol": 1}, where="[evaluate]")
    s = EvaluationSettings.from_mapping({"steps": 20, "samples_per_condition": 2}, timesteps=1000)
    assert s.name() == "ddim20_k2" and s.name() == evaluation_name(steps=20, samples_per_condition=2)


def test_recorded_attrs_and_the_resume_key_keep_the_stored_names():
    s = EvaluationSettings(steps=20, tolerance=1.5, peak_fraction=0.4).check(timesteps=1000)
    assert s.attrs() == {"sampler": "ddim", "sampler_steps": 20, "eta": 0.0, "tolerance_px": 1.5,
                         "max_width_ratio": 1.5, "second_bump_threshold": 0.25, "seed": 0,
                         "samples_per_condition": 4, "conditions": "all", "clip_x0": "true"}
    group = {"checkpoints": [0, 10], "sigma": (1.0, 2.0), "ema": True, "source_run": "/r.zarr"}
    key = s.resume_key(**group)
    assert key["localizer"]["threshold"] == 0.4 and key["localizer"]["sigma_y"] == 2.0
    assert key["checkpoints"] == [0, 10] and key["batch_size"] == 512 and key["keep_images"] is False
    assert "device" not in key  # where it runs does not change the values
    assert s.differs({"settings": key}, **group) == []
    assert s.replace(device="cpu").check(timesteps=1000).differs({"settings": key}, **group) == []
    other = s.replace(max_width_ratio=2.0).check(timesteps=1000)
    assert other.differs({"settings": key}, **group) == ["max_width_ratio = 1.5 stored, 2.0 now"]
    assert s.differs({"settings": key}, **{**group, "checkpoints": [0]}) == ["checkpoints = [0, 10] stored, [0] now"]


# -- deprecation shims ------------------------------------------------------------------------------

def test_threshold_is_the_deprecated_name_of_peak_fraction():
    with pytest.warns(DeprecationWarning, match="peak_fraction"):
        s = EvaluationSettings.from_mapping({"threshold": 0.4})
    assert s.peak_fraction == 0.4
    with pytest.warns(DeprecationWarning, match="use peak_fraction"):
        assert s.threshold == 0.4
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="give peak_fraction only"):
        EvaluationSettings.from_mapping({"threshold": 0.4, "peak_fraction": 0.3})


def test_evaluation_settings_and_check_settings_still_work_and_warn():
    with pytest.warns(DeprecationWarning, match="EvaluationSettings"):
        s = evaluation_settings("ddim", 20, timesteps=100, samples_per_condition=2)
    assert isinstance(s, EvaluationSettings) and s.sampler_steps == 20 and s.samples_per_condition == 2
    with pytest.warns(DeprecationWarning, match="EvaluationSettings"), pytest.raises(ConfigError,
                                                                                      match="^tolerance = -1"):
        evaluation_settings(tolerance=-1)

    class FakeRun:
        class config:
            class diffusion:
                timesteps = 100

        @staticmethod
        def select_checkpoints(checkpoints):
            return [0, 5] if checkpoints == "all" else [5]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s, chosen = check_settings(FakeRun, "all", steps=10, threshold=0.3)
    assert chosen == [0, 5] and s.peak_fraction == 0.3 and s.sampler_steps == 10
    assert {str(w.message).split(":")[0] for w in caught if w.category is DeprecationWarning} == {
        "check_settings(run, ...) is deprecated", "threshold= is deprecated"}


def test_evaluate_run_takes_checkpoints_positionally_with_a_warning_and_only_one_positional():
    with pytest.warns(DeprecationWarning, match="checkpoints= by keyword"), pytest.raises(Exception):
        evaluate_run("/nonexistent/run.zarr", "all")  # warns before opening the run
    with pytest.raises(TypeError, match="1 positional argument"):
        evaluate_run("/nonexistent/run.zarr", "all", "out.zarr")


def test_numpy_steps_and_checkpoints_are_taken_as_integers():
    import numpy as np

    s = EvaluationSettings(steps=np.int64(20), checkpoints=np.array([0, 10])).check(timesteps=100)
    assert s.steps == 20 and type(s.steps) is int and s.sampler_steps == 20
    assert EvaluationSettings(steps=20.0, checkpoints=(0, np.int32(5))).check().steps == 20
