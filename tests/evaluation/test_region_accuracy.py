"""accuracy_region over overlapping groups: a condition counts under its region and its holdout_region."""

import numpy as np
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.evaluation import aggregate, evaluate_run
from tests.builders import QUIET, TINY


def scores(correct, region, holdout_region=None):
    correct = np.asarray(correct, dtype=bool)[None, :, None]  # one checkpoint, one sample
    phase = np.where(correct, "C", "A").astype(object)
    coords = {"checkpoint": [100], "in_train": ("condition", np.array([r == "train" for r in region])),
              "region": ("condition", np.array(region, dtype=object))}
    if holdout_region is not None:
        coords["holdout_region"] = ("condition", np.array(holdout_region, dtype=object))
    dims = ("checkpoint", "condition", "sample")
    return xr.Dataset({"correct": (dims, correct), "phase": (dims, phase)}, coords=coords)


def test_stripes_frame_conditions_report_bands_and_intersection():
    # 1D examples (train), then six in-frame conditions never shown (frame_2d) lying in the cross or not
    region = ["train", "train", "frame_2d", "frame_2d", "frame_2d", "frame_2d", "frame_2d", "frame_2d"]
    geometry = ["none", "none", "band_x", "band_x", "band_y", "intersection", "none", "none"]
    correct = [1, 1, 1, 0, 0, 1, 1, 1]
    acc = aggregate(scores(correct, region, geometry))["accuracy_region"].isel(checkpoint=0)
    got = dict(zip(acc.region_name.values.tolist(), acc.values.tolist()))
    assert got == {"band_x": 0.5, "band_y": 0.0, "intersection": 1.0, "frame_2d": 4 / 6, "train": 1.0}


def test_held_out_conditions_are_counted_once_per_name():
    # SOS with the cross held out: region and holdout_region agree; no group counts a condition twice
    region = ["train", "band_x", "band_x", "intersection"]
    acc = aggregate(scores([1, 1, 0, 0], region, ["none", "band_x", "band_x", "intersection"]))["accuracy_region"]
    assert acc.sel(region_name="band_x").item() == 0.5 and acc.sel(region_name="intersection").item() == 0.0
    assert acc.sizes["region_name"] == 3


def test_results_without_holdout_region_group_by_region_alone():
    acc = aggregate(scores([1, 0, 1], ["train", "frame_2d", "frame_2d"]))["accuracy_region"]
    assert acc.region_name.values.tolist() == ["frame_2d", "train"]
    assert acc.sel(region_name="frame_2d").item() == 0.5


def test_tiny_stripes_run_reports_band_and_intersection_accuracy(tmp_path):
    """Train a tiny stripes run with a cross in data.holdout and evaluate it: the cross's groups exist."""
    from manifold_lens.trainers.train import train

    cfg = load_config("quick", overrides=[*TINY, "data.family=stripes", "data.margin=2", "data.holdout.kind=cross",
                                          "data.holdout.x_range=[3, 4]", "data.holdout.y_range=[3, 4]"])
    train(cfg, tmp_path / "run.zarr", **QUIET)
    ev = evaluate_run(tmp_path / "run.zarr", steps=2, samples_per_condition=1, device="cpu", progress=False)
    names = set(ev.region_name.values.tolist())
    assert {"band_x", "band_y", "intersection", "frame_2d", "train"} <= names
    # 8 x 8 frame, x or y in [3, 4]: 2 x 2 intersection, 2 x 6 in each band alone
    geometry = ev["holdout_region"].values.astype(str)
    assert [(geometry == r).sum() for r in ("band_x", "band_y", "intersection")] == [12, 12, 4]
    correct = ev["correct"].isel(checkpoint=-1).values[:, 0]
    for r in ("band_x", "band_y", "intersection"):
        assert ev["accuracy_region"].isel(checkpoint=-1).sel(region_name=r).item() == correct[geometry == r].mean()
