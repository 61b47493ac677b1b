"""The memorising baseline (nearest training condition): its geometry on band and cross hold-outs, its tie rule,
its setting, and its place in evaluate_run's results (continuing groups written before it)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError
from manifold_lens.evaluation import (EvaluationSettings, evaluate_run, nearest_baseline, nearest_training,
                                      select_conditions)
from manifold_lens.stores import open_run

BASELINE = ("baseline_nearest_accuracy", "baseline_nearest_accuracy_id", "baseline_nearest_accuracy_ood",
            "baseline_nearest_accuracy_region", "baseline_nearest_accuracy_condition")


def scored(family: str, kind: str, width: int, image_size: int = 16):
    data = SyntheticDataset(load_config("quick", overrides=[
        f"data.image_size={image_size}", f"data.family={family}", f"data.holdout.kind={kind}",
        f"data.holdout.width={width}"]).data)
    cond = select_conditions(data.conditions_dataset())
    return data, nearest_baseline(cond, cond, image_size=image_size, sigma=(data.sigma_x, data.sigma_y))


def within_one_px(data: SyntheticDataset, region: str) -> float:
    """Independently of the scorer: the fraction of the region's conditions with a trained condition within 1 px
    on both axes (held-out columns next to a trained column, rows likewise)."""
    tx, ty = data.x[data.train], data.y[data.train]
    sel = data.region == region
    return float(np.mean([((np.abs(tx - x) <= 1) & (np.abs(ty - y) <= 1)).any()
                          for x, y in zip(data.x[sel], data.y[sel])]))


@pytest.mark.parametrize("width", [2, 4, 6, 8])
def test_a_held_out_band_scores_two_over_its_width(width):
    data, base = scored("bump", "band_x", width)
    band = float(base["baseline_nearest_accuracy_region"].sel(region_name="band_x"))
    assert (data.region == "band_x").sum() == width * 16  # w columns of 16 conditions
    assert band == pytest.approx(2 / width, abs=1e-12)
    assert band == pytest.approx(within_one_px(data, "band_x"), abs=1e-12)
    assert float(base["baseline_nearest_accuracy_id"]) == 1.0  # a training image reproduces its own condition
    assert float(base["baseline_nearest_accuracy_ood"]) == band
    assert (base["baseline_nearest_distance"].values[~data.train] >= 1).all()
    assert (base["baseline_nearest_distance"].values[data.train] == 0).all()


@pytest.mark.parametrize("family,width", [("bump", 4), ("sos", 6)])
def test_a_cross_intersection_scores_two_over_its_width_squared(family, width):
    data, base = scored(family, "cross", width)
    acc = base["baseline_nearest_accuracy_region"]
    assert float(acc.sel(region_name="intersection")) == pytest.approx((2 / width) ** 2, abs=1e-12)
    assert float(acc.sel(region_name="intersection")) == pytest.approx(within_one_px(data, "intersection"))
    for band in ("band_x", "band_y"):
        assert float(acc.sel(region_name=band)) == pytest.approx(2 / width, abs=1e-12)


def test_the_nearest_training_condition_and_its_tie_rule():
    tx = np.array([2.0, 0.0, 1.0, 1.0, 15.0])
    ty = np.array([1.0, 1.0, 0.0, 2.0, 5.0])
    # (1, 1): four training conditions 1 px away -> the lowest x, (0, 1); (1.0, 0.2): (1, 0) is nearest
    index, dist = nearest_training([1.0, 1.0], [1.0, 0.2], tx, ty)
    assert index.tolist() == [1, 2] and dist == pytest.approx([1.0, 0.2])
    index, _ = nearest_training([1.0], [1.0], tx[2:4], ty[2:4])  # (1, 0) and (1, 2), both 1 px: the lowest y
    assert index.tolist() == [0]
    # around the torus (N = 16), x = 0 is 1 px from x = 15, not 15 px
    index, dist = nearest_training([0.0], [5.0], tx, ty, periodic=True, image_size=16)
    assert index.tolist() == [4] and dist.tolist() == [1.0]
    index, dist = nearest_training([0.0], [5.0], tx, ty, periodic=False)  # on the plane: (1, 2), sqrt(10) px
    assert index.tolist() == [3] and dist == pytest.approx([np.sqrt(10)])


def test_the_baselines_setting():
    assert EvaluationSettings().check().baselines == ("nearest",)
    assert EvaluationSettings(baselines=[]).check().baselines == ()
    assert EvaluationSettings(baselines="none").check().baselines == ()
    assert EvaluationSettings(baselines=["nearest", "nearest"]).check().baselines == ("nearest",)
    with pytest.raises(ConfigError, match=r"^baselines = 'oracle': unknown baseline; known: nearest"):
        EvaluationSettings(baselines=["oracle"]).check()
    with pytest.raises(ConfigError, match=r"^\[evaluate\] baselines = 3: expected a list"):
        EvaluationSettings.from_mapping({"baselines": 3}, where="[evaluate]")
    on = EvaluationSettings().check(timesteps=1000)
    assert on.resume_key()["baselines"] == ["nearest"]
    assert "baselines" not in on.replace(baselines=()).check(timesteps=1000).resume_key()  # as before baselines


@pytest.mark.slow
def test_evaluate_run_stores_the_baseline_once_and_continues_groups_written_before_it(tiny_run, tmp_path):
    kw = dict(steps=2, samples_per_condition=1, device="cpu", progress=False)
    ev = evaluate_run(tiny_run, checkpoints=[0], **kw)
    for name in BASELINE:
        assert name in ev and "checkpoint" not in ev[name].dims, name
    assert ev["baseline_nearest_accuracy_region"].dims == ("region_name",)
    assert float(ev["baseline_nearest_accuracy_id"]) == 1.0 and ev.attrs["baselines"] == ["nearest"]
    # an unfinished group written without baselines (as before they existed) is continued without them
    out = tmp_path / "results.zarr"
    steps = [int(s) for s in open_run(tiny_run).steps[:2]]
    old = evaluate_run(tiny_run, checkpoints=steps, baselines=(), out=out, name="old", **kw)
    assert not any(name in old for name in BASELINE) and old.attrs["baselines"] == []
    zarr.open_group(str(out), path="evaluation/old", mode="r+").update_attributes({"committed": 1, "complete": 0})
    lines = []
    done = evaluate_run(tiny_run, checkpoints=steps, out=out, name="old", log=lines.append, **kw)
    assert done["checkpoint"].values.tolist() == steps and done.attrs["complete"] == 1
    assert "written without baselines" in lines[-1] and not any(name in done for name in BASELINE)
