"""Noise-robust estimates: a Clifford torus with independent noise, measured from draws, and extraction keeping draws.

SNR is the signal variance per unit (the variance over conditions of each unit of the noiseless code,
averaged over units) divided by the noise variance per unit (independent Gaussian noise, the same variance
in every unit, condition and draw).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from manifold_lens.analysis import factorization as fact
from manifold_lens.analysis.extract import condition_grid, extract_activations, extract_run, render_grid
from manifold_lens.analysis.hooks import run_with_cache
from manifold_lens.analysis.measure import CROSS_DRAW_VARIABLES, MEAN_VARIABLES, measure
from manifold_lens.analysis.metric_variables import SPLIT_VARIABLES
from manifold_lens.stores import open_run

N, UNITS, DRAWS = 16, 48, 4
ROBUST = ("x_on_x_orthogonality", "y_on_y_orthogonality", "continuity_index")


def _torus_draws(snr, draws=DRAWS, seed=1):
    """(noiseless code (n, d), draws (K, n, d), x, y): the 16 x 16 Clifford torus isometrically in 48 dims."""
    gx, gy = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    frame = np.linalg.qr(np.random.default_rng(0).standard_normal((UNITS, 4)))[0]
    code = fact.clifford_torus(2 * np.pi * x / N, 2 * np.pi * y / N) @ frame.T
    noise_var = code.var(axis=0).mean() / snr
    noisy = code[None] + np.sqrt(noise_var) * np.random.default_rng(seed).standard_normal((draws, *code.shape))
    return code, noisy, x, y


def _da(values, x, y):
    dims = ("condition", "unit") if values.ndim == 2 else ("draw", "condition", "unit")
    return xr.DataArray(values, dims=dims, coords={"x": ("condition", x), "y": ("condition", y)})


def _measure(values, x, y):
    return measure(_da(values, x, y), periodic=True, homology=False, embed=())


@pytest.fixture(scope="module")
def snr1():
    code, noisy, x, y = _torus_draws(snr=1.0)
    return {"noiseless": _measure(code, x, y), "mean": _measure(noisy.mean(axis=0), x, y),
            "single": _measure(noisy[:1], x, y), "cross": _measure(noisy, x, y)}


def test_cross_draw_estimates_recover_the_noiseless_torus_at_snr_1(snr1):
    # x-on-x / continuity measured with this seed (unweighted mean |cos| before chord-length weights): noiseless
    # 0.635 / 0.929, one draw 0.203 / 0.320, mean of 4 draws 0.367 / 0.637, cross-draw 0.647 / 0.938 (other
    # seeds: 0.631-0.643 / 0.921-0.931). Weighted, the noiseless x-on-x is 0.620 and the sign-split estimate
    # 0.59 (benchmarks/calibration_chords.py: bias -0.03). Within 0.1 (the bar) holds with a margin;
    # the mean of the draws is off by > 0.2, the bias the issue reports.
    clean, mean, cross, single = snr1["noiseless"], snr1["mean"], snr1["cross"], snr1["single"]
    assert float(clean.x_on_x_orthogonality) == pytest.approx(0.620, abs=0.01)
    assert float(clean.continuity_index) == pytest.approx(0.929, abs=0.001)
    for v in ROBUST:
        truth = float(clean[v])
        assert abs(float(cross[v]) - truth) < 0.1, v
        assert abs(float(mean[v]) - truth) > 0.2, v  # the plain estimate on the averaged draws is biased ...
        assert float(mean[v]) < truth and float(single[v]) < float(mean[v]), v  # ... toward 0, more with one draw
    # signed statistics and the additive fit recover too (parallelism: 1 noiseless, 0.69 from the mean)
    assert float(cross.x_parallelism) > 0.85 > 0.75 > float(mean.x_parallelism)
    assert float(cross.factorization_score) == pytest.approx(1.0, abs=0.02)
    assert float(mean.factorization_score) < 0.9
    np.testing.assert_allclose(cross.x_similarity_by_distance[:8], clean.x_similarity_by_distance[:8], atol=0.05)


def test_estimator_is_recorded(snr1):
    cross, mean = snr1["cross"], snr1["mean"]
    assert cross.attrs["draws"] == 4 and cross.attrs["estimator"] == "split-draw"
    assert mean.attrs["draws"] == 1 and mean.attrs["estimator"] == "plain"
    assert "no 'draw' dim" in mean.attrs["notes"] and "toward 0" in mean.attrs["notes"]
    assert "'draw'" not in cross.attrs["notes"] and "toward 0" not in cross.attrs["notes"]
    for name, var in cross.data_vars.items():
        cross_draw = name in CROSS_DRAW_VARIABLES or name == "signal_to_noise"
        want = ("split-draw" if name in SPLIT_VARIABLES else "cross-draw" if cross_draw
                else "draw mean" if name in MEAN_VARIABLES else None)
        assert var.attrs.get("inner_products") == want, name
        if name in CROSS_DRAW_VARIABLES - SPLIT_VARIABLES:
            assert "cross-draw inner products" in var.attrs["description"], name
        elif name in SPLIT_VARIABLES:
            assert "two disjoint halves of the noise draws" in var.attrs["description"], name
    # the mean-based metrics are those of the draw mean (same Gram matrix)
    for v in MEAN_VARIABLES - SPLIT_VARIABLES:
        np.testing.assert_allclose(cross[v], mean[v], rtol=1e-9, atol=1e-12, err_msg=v)
    # some short chords come out with squared length <= 0 at SNR 1: dropped and counted, not a crash
    assert "chord pairs dropped" in cross.attrs["notes"]
    assert 0.8 * 20000 < cross.x_on_x_orthogonality.attrs["n_pairs"] < 20000


def test_signal_to_noise_estimate(snr1):
    # the estimate's error at SNR 1 was < 0.02 over seeds (noise variance from 4 x 256 x 48 values)
    assert float(snr1["cross"].signal_to_noise) == pytest.approx(1.0, abs=0.1)
    assert np.isnan(float(snr1["mean"].signal_to_noise)) and np.isnan(float(snr1["single"].signal_to_noise))
    _, noisy, x, y = _torus_draws(snr=0.1)
    assert float(_measure(noisy, x, y).signal_to_noise) == pytest.approx(0.1, rel=0.1)


def test_no_signal_above_the_noise_gives_nan_with_a_note():
    # Two draws that are (nearly) mirror images (H_2 = -H_1 + small noise) share nothing: the cross-draw Gram
    # is about -H_1 H_1^T, the estimated variance of the common code negative. Ratios of such estimates are
    # meaningless: NaN.
    _, noisy, x, y = _torus_draws(snr=1.0, draws=1)
    mirror = -noisy + 0.1 * np.random.default_rng(2).standard_normal(noisy.shape)
    ds = _measure(np.concatenate([noisy, mirror]), x, y)
    assert "no condition signal above the noise" in ds.attrs["notes"]
    for v in ROBUST + ("factorization_score", "x_on_y_orthogonality", "x_parallelism"):
        assert np.isnan(float(ds[v])), v
    assert np.isnan(ds.x_similarity_by_distance.values).all() and np.isnan(ds.x_on_x_cos_hist.values).all()
    assert np.isfinite(float(ds.effective_dim))  # 2 draws: the draw mean (the small noise) is still measured
    assert float(ds.signal_to_noise) <= 0 or np.isnan(float(ds.signal_to_noise))


def test_draw_dim_of_length_one_gives_the_plain_estimate_with_a_note(snr1):
    _, noisy, x, y = _torus_draws(snr=1.0)
    single, plain = snr1["single"], _measure(noisy[0], x, y)
    assert single.attrs["draws"] == 1 and single.attrs["estimator"] == "plain"
    assert "dim 'draw' has length 1" in single.attrs["notes"]
    for v in ROBUST + ("factorization_score", "effective_dim"):
        assert float(single[v]) == pytest.approx(float(plain[v]), rel=1e-9), v


def test_draw_dim_in_any_position_and_float32():
    code, noisy, x, y = _torus_draws(snr=4.0, draws=3)
    da = _da(noisy.astype(np.float32), x, y)
    a = measure(da, periodic=True, homology=False, embed=())
    b = measure(da.transpose("unit", "condition", "draw"), periodic=True, homology=False, embed=())
    for v in ROBUST + ("effective_dim",):
        assert float(a[v]) == pytest.approx(float(b[v]), rel=1e-6), v
    assert a.attrs["draws"] == 3 and a.attrs["n_conditions"] == N * N and a.attrs["n_units"] == UNITS


def test_noiseless_draws_change_nothing():
    # identical draws: the cross-draw Gram equals the plain one, so every value is the no-draw value
    code, _, x, y = _torus_draws(snr=1.0)
    a = _measure(np.stack([code, code, code]), x, y)
    b = _measure(code, x, y)
    for v in ROBUST + ("x_on_y_orthogonality", "x_parallelism", "factorization_score"):
        assert float(a[v]) == pytest.approx(float(b[v]), abs=1e-9), v
    assert "chord pairs dropped" not in a.attrs["notes"]


# -- extraction keeps the draws ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_run):
    run = open_run(tiny_run)
    conds = condition_grid(run.dataset, x="0:7:3", y="1:7:3")  # 3 x 3 = 9 conditions of the 8 x 8 run
    return run, run.load_model(device="cpu"), conds


def test_noised_extraction_keeps_draws_with_noise_shared_across_conditions(tiny):
    run, model, conds = tiny
    images = render_grid(run.dataset, conds)
    da = extract_activations(model, conds, images, run.schedule, layers="bottleneck", timesteps=[300],
                             noise_draws=3, seed=5, device="cpu")["bottleneck"]
    assert da.dims == ("timestep", "condition", "draw", "unit") and list(da.draw.values) == [0, 1, 2]
    x0 = torch.as_tensor(images)
    cond = torch.tensor(np.stack([conds.x.values, conds.y.values], 1), dtype=torch.float32)
    n = conds.sizes["condition"]
    tt = torch.full((n,), 300)
    for k in range(3):  # draw k: one noise field (seed + k) shared by the 9 conditions
        eps = torch.randn((1, *x0.shape[1:]), generator=torch.Generator().manual_seed(5 + k))
        _, cache = run_with_cache(model, run.schedule.q_sample(x0, tt, eps.expand_as(x0)), tt, cond,
                                  names="bottleneck")
        np.testing.assert_allclose(da.sel(timestep=300, draw=k).values, cache["bottleneck"].reshape(n, -1).numpy(),
                                   rtol=1e-5, atol=1e-5)
    assert not np.allclose(da.sel(draw=0).values, da.sel(draw=1).values)  # the draws differ
    m = measure(da.sel(timestep=300), embed=())
    assert m.attrs["draws"] == 3 and m.attrs["estimator"] == "cross-draw"


def test_trajectory_extraction_starts_every_condition_from_the_same_noise(tiny):
    run, model, conds = tiny
    acts = extract_run(run, layers="bottleneck", timesteps=[999], mode="trajectory", sampling_steps=5,
                       noise_draws=2, seed=3, device="cpu", model=model, x="0:7:3", y="1:7:3")
    da = acts["bottleneck"].sel(timestep=999)
    assert da.dims == ("condition", "draw", "unit")
    cond = torch.tensor(np.stack([conds.x.values, conds.y.values], 1), dtype=torch.float32)
    n = conds.sizes["condition"]
    for k in range(2):  # at t = T - 1 the state is the start noise: one field (seed + k) for every condition
        start = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(3 + k)).expand(n, 1, 8, 8)
        _, cache = run_with_cache(model, start, torch.full((n,), 999), cond, names="bottleneck")
        np.testing.assert_allclose(da.sel(draw=k).values, cache["bottleneck"].reshape(n, -1).numpy(),
                                   rtol=1e-5, atol=1e-5)


# -- split-draw estimates (issue 23: chord statistics without noise bias) ------------------------------------

# Clifford torus at SNR 1, 4 draws, noise seeds 1-4 (measured; clean values 0 / 0.620 / 1 / 4 / 1): x-on-y
# -0.008..0.003, x-on-x 0.589..0.594, parallelism 1.015..1.026, effective dimension 3.86..4.04, top-4 share
# 0.964..0.970. The tolerances are the largest error over those seeds plus a margin of about its spread; the
# estimates they replace were off by +0.12 (x-on-y), +2.6 (effective dimension from the draw mean).
SPLIT_TOLERANCE = {"x_on_y_orthogonality": 0.03, "x_on_x_orthogonality": 0.06, "y_on_y_orthogonality": 0.06,
                   "x_parallelism": 0.05, "y_parallelism": 0.05, "effective_dim": 0.5,
                   "explained_variance_top4": 0.06, "factorization_score": 0.03, "continuity_index": 0.03}


def test_chord_statistics_at_snr_1_with_4_draws_are_within_tolerance_of_the_clean_values(snr1):
    clean, cross, mean = snr1["noiseless"], snr1["cross"], snr1["mean"]
    for v, tol in SPLIT_TOLERANCE.items():
        assert abs(float(cross[v]) - float(clean[v])) < tol, (v, float(cross[v]), float(clean[v]))
    assert float(mean.x_on_y_orthogonality) > 0.05  # plain, on the draw mean (0.086): noise reads as entangled
    assert cross.x_on_y_orthogonality.attrs["estimator"].startswith("sign-split")
    assert cross.x_on_y_orthogonality.attrs["ancillary_variables"] == "signal_to_noise"
    assert cross.effective_dim.attrs["inner_products"] == "split-draw"


def test_one_draw_gives_nan_signal_to_noise_with_the_reason(snr1):
    single = snr1["single"]
    assert np.isnan(float(single.signal_to_noise))
    assert "two draws" in single.signal_to_noise.attrs["reason"]
    assert np.isfinite(float(single.x_on_y_orthogonality))  # the plain estimate, exact for a noiseless code
    assert single.x_on_y_orthogonality.attrs["estimator"] == "plain"


def test_two_or_three_draws_fall_back_to_the_pooled_estimate_with_a_note():
    _, noisy, x, y = _torus_draws(snr=4.0, draws=3)
    ds = _measure(noisy, x, y)
    assert ds.attrs["estimator"] == "cross-draw" and "needs >= 4 draws" in ds.attrs["notes"]
    assert "pooled" in ds.x_on_y_orthogonality.attrs["estimator"]
    assert ds.effective_dim.attrs["inner_products"] == "draw mean"
