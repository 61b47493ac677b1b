"""Overlaps: pixels against rendered images and against the continuum closed form."""

import numpy as np
import pytest

from manifold_lens.config import RunConfig
from manifold_lens.datasets import SyntheticDataset, bump_intensity, from_pixels, render, sos_intensity
from manifold_lens.errors import ConfigError
from manifold_lens.percolation.overlap import (condition_edges, connection_radius, continuum_overlap, image_overlap,
                                   lattice_overlap_1d, neighbour_overlap_curve, pixel_overlap)

RNG = np.random.default_rng(1)


def brute_overlap(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return a @ b / np.sqrt((a @ a) * (b @ b))


@pytest.mark.parametrize("family", ["bump", "periodic", "sos"])
def test_pixel_overlap_equals_rendered_images(family):
    n, sx, sy = 16, 1.3, 0.7
    x1, y1, x2, y2 = RNG.uniform(0, n - 1, (4, 25))
    if family == "sos":
        imgs1, imgs2 = sos_intensity(x1, y1, n, sx, sy), sos_intensity(x2, y2, n, sx, sy)
    else:
        per = family == "periodic"
        imgs1, imgs2 = bump_intensity(x1, y1, n, sx, sy, per), bump_intensity(x2, y2, n, sx, sy, per)
    want = np.array([brute_overlap(a, b) for a, b in zip(imgs1, imgs2)])
    got = pixel_overlap(family, x1, y1, x2, y2, n, sx, sy)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # the same through the [-1, 1] training render, brought back to intensities
    np.testing.assert_allclose(image_overlap(from_pixels(render(family, x1, y1, n, sx, sy)),
                                             from_pixels(render(family, x2, y2, n, sx, sy))), want, atol=1e-6)


def test_mixed_family_overlap_matches_rendered():
    n = 16
    a = bump_intensity([5.0], [7.0], n, 1.0)[0]
    b = sos_intensity([6.0], [20.0], n, 1.0)[0]  # a stripe example: only its vertical stripe in frame
    got = pixel_overlap("bump", 5.0, 7.0, 6.0, 20.0, n, 1.0, family2="stripes")
    assert got[0] == pytest.approx(brute_overlap(a, b), rel=1e-12)


@pytest.mark.parametrize("sx,sy", [(2.0, 2.0), (2.0, 3.0), (3.5, 2.5)])
def test_wide_bumps_pixels_equal_closed_form(sx, sy):
    n = 64
    c = 31.0
    dx, dy = RNG.uniform(-6, 6, (2, 40))
    got = pixel_overlap("bump", c, c, c + dx, c + dy, n, sx, sy)
    np.testing.assert_allclose(got, continuum_overlap(dx, dy, sx, sy), atol=1e-3)
    # the closed form is exp(-dx^2/(4 sx^2) - dy^2/(4 sy^2))
    assert continuum_overlap(2.0, 0.0, 1.0) == pytest.approx(np.exp(-1.0))


def test_periodic_bumps_wrap_across_the_frame():
    n, s = 32, 2.0
    x1, x2 = 1.0, 30.0  # 3 px apart across the seam
    got = pixel_overlap("periodic", x1, 10.0, x2, 12.0, n, s)[0]
    want = continuum_overlap(x2 - x1, 2.0, s, period=n)
    assert want == pytest.approx(np.exp(-(9 + 4) / 16))
    assert got == pytest.approx(want, abs=1e-3)
    # without wrapping the two bumps barely overlap
    assert pixel_overlap("bump", x1, 10.0, x2, 12.0, n, s)[0] < 1e-10


def test_narrow_bumps_differ_from_continuum():
    """Documented difference: sigma = 0.1 px bumps are single pixels."""
    n, s = 16, 0.1
    # neighbours one pixel apart: pixels e^-50 vs continuum e^-25
    assert pixel_overlap("bump", 5.0, 5.0, 6.0, 5.0, n, s)[0] == pytest.approx(np.exp(-50), rel=1e-6)
    assert continuum_overlap(1.0, 0.0, s) == pytest.approx(np.exp(-25))
    # two centres 0.6 px apart nearest the same pixel: near-total pixel overlap, continuum ~1e-4
    assert pixel_overlap("bump", 4.7, 5.0, 5.3, 5.0, n, s)[0] > 0.99
    assert continuum_overlap(0.6, 0.0, s) < 2e-4


def test_connection_radius():
    assert connection_radius(1.0, 0.005) == pytest.approx(4.6, abs=0.01)
    r = connection_radius(1.7, 0.05)
    assert continuum_overlap(r, 0.0, 1.7) == pytest.approx(0.05)


def test_lattice_overlap_1d_pixels_and_periodic():
    k = np.arange(6)
    np.testing.assert_allclose(lattice_overlap_1d(k, 1.0, 2.5, "pixel"), lattice_overlap_1d(k, 1.0, 2.5), atol=1e-3)
    # a 2D bump overlap is the product of the axis factors
    f = lattice_overlap_1d([2], 1.0, 1.2, "pixel")[0] * lattice_overlap_1d([1], 1.0, 1.2, "pixel")[0]
    assert pixel_overlap("bump", 20.0, 20.0, 22.0, 21.0, 48, 1.2)[0] == pytest.approx(f, rel=1e-9)
    per = lattice_overlap_1d([-7, 7, 9], 1.0, 1.5, "pixel", period=16)
    assert per[0] == pytest.approx(per[1]) and per[2] == pytest.approx(per[0])  # 9 steps = -7 on a 16 ring
    with pytest.raises(ConfigError, match="whole-pixel period"):
        lattice_overlap_1d([1], 1.0, 1.0, "pixel", period=10.5)


def test_neighbour_overlap_curve():
    ds = neighbour_overlap_curve([0.1, 0.5, 1.0, 2.0], np.linspace(0, 4, 9), image_size=32)
    assert ds.overlap_pixels.dims == ("sigma", "spacing")
    np.testing.assert_allclose(ds.overlap_continuum.sel(sigma=1.0),
                               np.exp(-ds.spacing.values**2 / 4.0), rtol=1e-12)
    np.testing.assert_allclose(ds.overlap_pixels.sel(sigma=2.0), ds.overlap_continuum.sel(sigma=2.0), atol=1e-3)
    np.testing.assert_allclose(ds.overlap_pixels.sel(spacing=0.0), 1.0, rtol=1e-12)
    # narrow bumps are sampled by one or two pixels: at d = 0.5 px the neighbour straddles two pixels
    # (overlap 1/sqrt 2, continuum 0.002); at d = 1 px they share no pixel (e^-50, continuum e^-25)
    narrow_pix, narrow_cont = ds.overlap_pixels.sel(sigma=0.1), ds.overlap_continuum.sel(sigma=0.1)
    assert float(narrow_pix.sel(spacing=0.5)) == pytest.approx(2**-0.5, rel=1e-9)
    assert float(narrow_cont.sel(spacing=0.5)) == pytest.approx(np.exp(-6.25))
    assert float(narrow_pix.sel(spacing=1.0)) < 1e-20 < float(narrow_cont.sel(spacing=1.0))


def _brute_edges(ds, idx, threshold, overlap):
    from itertools import combinations

    out = {}
    for a, b in combinations(range(len(idx)), 2):
        i, j = idx[a], idx[b]
        if overlap == "continuum":
            w = continuum_overlap(ds.x[i] - ds.x[j], ds.y[i] - ds.y[j], ds.sigma_x, ds.sigma_y,
                                  ds.image_size if ds.periodic else None)
        else:
            w = pixel_overlap(ds.family[i], ds.x[i], ds.y[i], ds.x[j], ds.y[j], ds.image_size, ds.sigma_x,
                              ds.sigma_y, family2=ds.family[j])[0]
        if w >= threshold:
            out[(a, b)] = float(w)
    return out


@pytest.mark.parametrize("family,overlap,extra", [
    ("bump", "pixel", {}), ("bump", "continuum", {"data.sigma_y": 0.6}), ("periodic", "pixel", {}),
    ("periodic", "continuum", {}), ("bump", "pixel", {"data.sigma": 0.2, "data.spacing": 0.5}),
    ("sos", "pixel", {}), ("mixture", "pixel", {"data.mix": {"bump": 1.0, "stripes": 1.0}, "data.margin": 2}),
])
def test_condition_edges_match_brute_force(family, overlap, extra):
    cfg = RunConfig().with_overrides({"data.family": family, "data.image_size": 8, "data.sigma": 0.8,
                                      "data.keep_fraction": 0.7, **extra})
    ds = SyntheticDataset(cfg)
    idx = ds.train_index
    i, j, w = condition_edges(ds, idx, 0.01, overlap)
    got = {(int(a), int(b)): float(v) for a, b, v in zip(i, j, w)}
    want = _brute_edges(ds, idx, 0.01, overlap)
    assert got.keys() == want.keys() and len(got) > 0
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-9)


def test_continuum_refused_for_stripes():
    ds = SyntheticDataset(RunConfig().with_overrides({"data.family": "sos", "data.image_size": 8}))
    with pytest.raises(ConfigError, match="bumps only"):
        condition_edges(ds, ds.train_index, 0.005, "continuum")


@pytest.mark.parametrize("th", [0.0, 1.0, -0.1, 2.0])
def test_bad_threshold(th):
    with pytest.raises(ConfigError, match="threshold"):
        connection_radius(1.0, th)
