"""The scaling fits of a study (claim 7): crossings, training-set sizes and power laws with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from manifold_lens.studies.groups import StudyDataError
from manifold_lens.studies.scaling import crossing, isotonic, power_law, size_for_accuracy
from tests.report import study_datasets as sd


def test_fits_refuse_what_the_study_lacks():
    with pytest.raises(StudyDataError, match="does not sweep data.keep_fraction"):
        size_for_accuracy(sd.lesion_study())
    with pytest.raises(StudyDataError, match="level = 1.5"):
        size_for_accuracy(sd.scaling_study(), level=1.5)


def test_isotonic_and_crossing_are_exact():
    np.testing.assert_allclose(isotonic([0.2, 0.5, 0.4, 0.7]), [0.2, 0.45, 0.45, 0.7])
    np.testing.assert_allclose(isotonic([3.0, 2.0, 1.0]), [2.0, 2.0, 2.0])
    x = np.array([0.1, 0.2, 0.4, 0.8])
    assert crossing(x, x, 0.6) == pytest.approx(0.6, abs=1e-12)  # accuracy = keep fraction: crosses at 0.6
    assert crossing(x, [0.2, 0.5, 0.4, 0.7], 0.6) == pytest.approx(0.4 + 0.15 / 0.25 * 0.4, abs=1e-12)
    assert np.isnan(crossing(x, [0.1, 0.2, 0.3, 0.5], 0.6))  # never reaches the level
    assert np.isnan(crossing(x, [0.7, 0.8, 0.9, 1.0], 0.6))  # already above at the smallest keep fraction


def test_size_for_accuracy_linear_crossing():
    runs = [{"swept": {"data.image_size": 16, "data.keep_fraction": k}, "seed": s, "accuracy_ood": k,
             "kept_sites": round(k * 256)} for k in (0.2, 0.4, 0.8) for s in (0, 1)]
    res = size_for_accuracy(sd.study_dataset(runs, ["data.image_size", "data.keep_fraction"]))
    assert res["crossing_keep_fraction"].values.tolist() == [[pytest.approx(0.6, abs=1e-12)]]
    # kept sites 51, 102, 205 at 0.2, 0.4, 0.8: interpolated half-way between 102 and 205
    assert res["train_size"].item() == pytest.approx(153.5, abs=1e-9)
    assert res["n_seeds"].item() == 2 and np.isnan(res["exponent"].item())  # one N: no power law
    assert res.attrs["train_size_source"].startswith("kept_sites")


def test_size_for_accuracy_recovers_power_laws():
    res = size_for_accuracy(sd.scaling_study(noise=False))
    assert res["group"].values.tolist() == ["case 2d", "case 2d+stripes"]
    assert res["image_size"].values.tolist() == [16, 32, 64]
    np.testing.assert_allclose(res["exponent"].values, [2.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(res["prefactor"].values, [0.5, 4.0], rtol=1e-6)
    np.testing.assert_allclose(res["train_size"].sel(group="case 2d").values, 0.5 * np.array([16, 32, 64]) ** 2)
    # identical seeds: the bootstrap interval collapses onto the estimate
    np.testing.assert_allclose(res["exponent_low"].values, [2.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(res["exponent_high"].values, [2.0, 1.0], atol=1e-6)
    b, a, se = power_law(np.array([2.0, 4.0, 8.0]), 3.0 * np.array([2.0, 4.0, 8.0]) ** 1.5)
    assert (b, a) == (pytest.approx(1.5, abs=1e-9), pytest.approx(3.0, rel=1e-9)) and se < 1e-9


def test_size_for_accuracy_bootstrap_interval_over_seeds():
    res = size_for_accuracy(sd.scaling_study(noise=True), bootstrap=300)
    for g, b in (("case 2d", 2.0), ("case 2d+stripes", 1.0)):
        r = res.sel(group=g)
        assert float(r["exponent_low"]) < float(r["exponent"]) < float(r["exponent_high"])
        assert abs(float(r["exponent"]) - b) < 0.05  # seed noise of +-0.02 in accuracy moves the crossing a little
        assert float(r["exponent_high"]) - float(r["exponent_low"]) < 0.2
        assert (r["train_size_low"] <= r["train_size"]).all() and (r["train_size"] <= r["train_size_high"]).all()
    again = size_for_accuracy(sd.scaling_study(noise=True), bootstrap=300)
    xr.testing.assert_identical(res, again)  # seeded
