"""Normalised overlaps between training images (docs/science.md, section 5).

The overlap of two images is ``<I1, I2> / (|I1| |I2|)``, the cosine between
them as vectors of pixels. It is defined on *intensities* in [0, 1] (what
:func:`~manifold_lens.datasets.bump_intensity` and
:func:`~manifold_lens.datasets.sos_intensity` return), not on the [-1, 1]
training pixels: there every image shares the -1 background, so any two
images overlap almost completely and the threshold would mean nothing. Use
:func:`~manifold_lens.datasets.from_pixels` to bring rendered training images
back to intensities before calling :func:`image_overlap`.

Two ways to compute it:

- ``pixel``: the sum over the N x N frame of the rendered intensities. All
  families are sums of at most two separable terms (a bump is
  ``g(v) g(u)``, an SOS is ``(1 x stripe(u) + stripe(v) x 1) / 2``), so the
  2D inner product is computed exactly from 1D pixel profiles without
  rendering whole images; it equals the rendered-image overlap to rounding.
- ``continuum``: bumps only, the closed form for Gaussians on the plane,
  ``exp(-dx^2 / (4 sx^2) - dy^2 / (4 sy^2))``, with dx, dy wrapped to the
  nearest image on a torus of side ``period`` for periodic bumps (the
  wrapped-distance approximation: images beyond the nearest are ignored, which
  is exact to ~exp(-period^2 / (16 sigma^2))).

Where they differ: for bumps a few pixels wide the two agree to better than
1e-3 (the pixel sum of a Gaussian is its integral up to terms in
exp(-2 pi^2 sigma^2)). For narrow bumps (sigma ~ 0.1 to 0.4 px) the pixel grid
undersamples the bump: it is one or two pixels, so the pixel overlap depends
on where the centres fall between pixels and is not monotone in distance. Two
bumps on different pixels overlap far *less* than in the continuum (sigma =
0.1, d = 1 px: e^-50 vs e^-25), two bumps near the same pixel far *more*
(sigma = 0.1, d = 0.5 px from a pixel centre: 0.707 vs 0.002). Near the frame
edge a bump is truncated, which changes its overlaps slightly; the continuum
ignores the frame.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..datasets import SyntheticDataset
from ..errors import ConfigError
from .settings import PercolationSettings, check_overlap, check_threshold, overlap_kind, renamed_keywords

BUMP_FAMILIES = ("bump", "periodic")
THRESHOLD = PercolationSettings.default("threshold")


def check_method(method: str) -> str:
    """Deprecated: :func:`~manifold_lens.percolation.settings.check_overlap` (the one word is ``overlap``)."""
    warnings.warn("check_method is deprecated; use check_overlap", DeprecationWarning, stacklevel=2)
    return check_overlap(method)


def connection_radius(sigma: float, threshold: float = THRESHOLD) -> float:
    """Continuum centre distance (px) below which two bumps of width sigma overlap >= threshold.

    ``2 sigma sqrt(ln(1 / threshold))``: 4.6 sigma at 0.005.
    """
    return 2.0 * float(sigma) * float(np.sqrt(np.log(1.0 / check_threshold(threshold))))


def wrap(d, period: float | None):
    """Signed distances wrapped into [-period/2, period/2) (unchanged when period is None)."""
    d = np.asarray(d, dtype=np.float64)
    if period is None:
        return d
    return (d + period / 2.0) % period - period / 2.0


def image_overlap(a, b) -> np.ndarray:
    """Normalised overlap of images ``a`` and ``b`` (..., H, W), broadcasting over leading dims.

    Images should be intensities (>= 0); an all-zero image has overlap 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dot = np.sum(a * b, axis=(-2, -1))
    norm = np.sqrt(np.sum(a * a, axis=(-2, -1)) * np.sum(b * b, axis=(-2, -1)))
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def continuum_overlap(dx, dy, sigma_x: float, sigma_y: float | None = None,
                      period: float | None = None) -> np.ndarray:
    """Closed-form overlap of two Gaussian bumps on the plane at centre offset (dx, dy) px.

    ``exp(-dx^2 / (4 sx^2) - dy^2 / (4 sy^2))``; with ``period`` (the side of a
    periodic frame) offsets are wrapped to the nearest image first.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    dx, dy = wrap(dx, period), wrap(dy, period)
    return np.exp(-dx**2 / (4.0 * sigma_x**2) - dy**2 / (4.0 * sigma_y**2))


# -- pixel profiles ----------------------------------------------------------

def gaussian_profile(centres, n: int, sigma: float, periodic: bool = False, start: float = 0.0) -> np.ndarray:
    """Samples exp(-(u - c)^2 / (2 sigma^2)) at pixels u = start .. start + n - 1, shape (B, n).

    With ``periodic`` distances wrap modulo n, as in the periodic renderer.
    """
    u = start + np.arange(n, dtype=np.float64)
    d = u[None, :] - np.atleast_1d(np.asarray(centres, dtype=np.float64))[:, None]
    if periodic:
        d = wrap(d, n)
    return np.exp(-d**2 / (2.0 * sigma**2))


def profile_overlap(p, q) -> np.ndarray:
    """Normalised overlap of 1D profiles p, q (..., n), broadcasting."""
    dot = np.sum(p * q, axis=-1)
    norm = np.sqrt(np.sum(p * p, axis=-1) * np.sum(q * q, axis=-1))
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def separable_terms(family, x, y, image_size: int, sigma_x: float, sigma_y: float | None = None):
    """Row and column profiles (B, 2, image_size) with image = sum_r rows[r] (outer) cols[r].

    Exactly the intensities of :func:`~manifold_lens.datasets.bump_intensity`
    (periodic for ``periodic``) and :func:`~manifold_lens.datasets.sos_intensity`
    (``sos`` and ``stripes``). ``family`` is one name or one per centre.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    n = int(image_size)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    fam = np.broadcast_to(np.asarray(family, dtype=object), x.shape)
    rows = np.zeros((len(x), 2, n))
    cols = np.zeros((len(x), 2, n))
    for f in np.unique(fam.astype(str)):
        sel = fam == f
        if f in BUMP_FAMILIES:
            per = f == "periodic"
            rows[sel, 0] = gaussian_profile(y[sel], n, sigma_y, per)
            cols[sel, 0] = gaussian_profile(x[sel], n, sigma_x, per)
        elif f in ("sos", "stripes"):
            rows[sel, 0] = 0.5
            cols[sel, 0] = gaussian_profile(x[sel], n, sigma_x)
            rows[sel, 1] = 0.5 * gaussian_profile(y[sel], n, sigma_y)
            cols[sel, 1] = 1.0
        else:
            raise ConfigError(f"family {f!r}: no overlap defined; use bump, periodic, sos or stripes")
    return rows, cols


def _inner(rows_a, cols_a, rows_b, cols_b) -> np.ndarray:
    """<I_a, I_b> for matched pairs of separable images, shape (P,)."""
    rr = np.einsum("prn,psn->prs", rows_a, rows_b)
    cc = np.einsum("prn,psn->prs", cols_a, cols_b)
    return np.sum(rr * cc, axis=(1, 2))


def pixel_overlap(family, x1, y1, x2, y2, image_size: int | None = None, sigma_x: float | None = None,
                  sigma_y: float | None = None, family2=None, **retired) -> np.ndarray:
    """Overlap of the rendered intensities of (x1, y1) and (x2, y2) in an image_size x image_size px frame.

    Equals ``image_overlap`` of the rendered intensity images (checked in the
    tests) but works from 1D profiles. ``family2`` defaults to ``family``.
    ``n=`` is the retired name of ``image_size``.
    """
    image_size = renamed_keywords("pixel_overlap", retired, {"n": "image_size"}).get("image_size", image_size)
    if image_size is None or sigma_x is None:
        raise TypeError("pixel_overlap() needs image_size and sigma_x")
    family2 = family if family2 is None else family2
    ra, ca = separable_terms(family, x1, y1, image_size, sigma_x, sigma_y)
    rb, cb = separable_terms(family2, x2, y2, image_size, sigma_x, sigma_y)
    ra, rb = np.broadcast_arrays(ra, rb)
    ca, cb = np.broadcast_arrays(ca, cb)
    dot = _inner(ra, ca, rb, cb)
    norm = np.sqrt(_inner(ra, ca, ra, ca) * _inner(rb, cb, rb, cb))
    return np.divide(dot, norm, out=np.zeros_like(dot), where=norm > 0)


def lattice_overlap_1d(steps, spacing: float, sigma: float, overlap: str = "continuum",
                       period: float | None = None, **retired) -> np.ndarray:
    """Overlap factor along one axis between lattice sites ``steps`` apart (spacing px each).

    The 2D overlap of bumps is the product of the x and y factors. ``pixel``
    places the first bump on a pixel centre of an unbounded pixel row (or a
    periodic row of ``period`` pixels), so the factor depends only on the
    offset: a translation-invariant neighbourhood. For non-integer spacings
    other sites sit at other sub-pixel phases, which matters only for narrow
    bumps; :func:`manifold_lens.percolation.graph.coverage_graph` uses each pair's
    exact pixels instead. ``method=`` is the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "lattice_overlap_1d")
    renamed_keywords("lattice_overlap_1d", retired, {})
    dist = np.abs(np.asarray(steps, dtype=np.float64)) * float(spacing)
    if overlap == "continuum":
        return continuum_overlap(dist, 0.0, sigma, sigma, period)
    if period is not None:
        n = int(round(period))
        if abs(n - period) > 1e-9:
            raise ConfigError(
                f"periodic pixel overlaps need a whole-pixel period, got {period} px: "
                "make lattice_side x spacing a whole number of pixels or use overlap='continuum'"
            )
        p0 = gaussian_profile([0.0], n, sigma, periodic=True)
        return profile_overlap(p0, gaussian_profile(dist.ravel(), n, sigma, periodic=True)).reshape(dist.shape)
    width = int(np.ceil(10 * sigma)) + 2
    out = np.empty(dist.size)
    flat = dist.ravel()
    for i, d in enumerate(flat):  # one short row per offset: O(offsets x bump width)
        start = -width
        m = int(np.ceil(d)) + 2 * width + 1
        out[i] = profile_overlap(gaussian_profile([0.0], m, sigma, start=start),
                                 gaussian_profile([d], m, sigma, start=start))[0]
    return out.reshape(dist.shape)


def neighbour_overlap_curve(sigmas, spacings, image_size: int = 64, periodic: bool = False,
                            **retired) -> xr.Dataset:
    """Overlap of neighbouring bumps vs lattice spacing d for several widths (the study's fig. 6b).

    One bump sits on the pixel at the frame centre, its neighbour d px to the
    right. Returns dims (``sigma``, ``spacing``) with ``overlap_pixels`` (from
    the image_size x image_size px rendered intensities) and ``overlap_continuum``
    (closed form). ``n=`` is the retired name of ``image_size``.
    """
    n = int(renamed_keywords("neighbour_overlap_curve", retired, {"n": "image_size"}).get("image_size", image_size))
    sig = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    d = np.atleast_1d(np.asarray(spacings, dtype=np.float64))
    if (sig <= 0).any():
        raise ConfigError(f"sigma = {sig[sig <= 0][0]}: must be > 0 (pixels)")
    if (d < 0).any():
        raise ConfigError(f"spacing = {d[d < 0][0]}: must be >= 0 (pixels)")
    c = float(n // 2)
    fam = "periodic" if periodic else "bump"
    pix = np.stack([pixel_overlap(fam, c, c, c + d, np.full_like(d, c), n, s) for s in sig])
    cont = np.stack([continuum_overlap(d, 0.0, s, period=float(n) if periodic else None) for s in sig])
    return xr.Dataset(
        {
            "overlap_pixels": (("sigma", "spacing"), pix, {
                "long_name": "neighbour overlap from rendered pixels", "units": "1",
                "description": "<I1,I2>/(|I1||I2|) of intensities in [0, 1] on the pixel frame"}),
            "overlap_continuum": (("sigma", "spacing"), cont, {
                "long_name": "neighbour overlap, continuum closed form", "units": "1",
                "description": "exp(-d^2 / (4 sigma^2))"}),
        },
        coords={
            "sigma": ("sigma", sig, {"long_name": "bump width", "units": "px"}),
            "spacing": ("spacing", d, {"long_name": "lattice spacing d (centre distance)", "units": "px"}),
        },
        attrs={"image_size": n, "periodic": int(periodic), "first_centre": c,
               "description": "overlap of a bump at the frame-centre pixel with its neighbour d px to the right"},
    )


# -- overlaps between a dataset's conditions ----------------------------------

def _bump_edges(xs, ys, fam, n, sx, sy, threshold, overlap, periodic):
    """Pairs (i < j) of bump conditions with overlap >= threshold, via 1D factor tables.

    The 2D overlap is Ox * Oy with each factor <= 1, so only pairs whose x and
    y offsets both pass on their own can connect. A Chebyshev KD-tree query in
    coordinates scaled by the largest passing offsets finds those candidates;
    the exact overlaps come from the factor tables.
    """
    from scipy.spatial import cKDTree

    period = float(n) if periodic else None
    ux, ix = np.unique(xs, return_inverse=True)
    uy, iy = np.unique(ys, return_inverse=True)

    def table(u, sigma):
        if overlap == "continuum":
            return continuum_overlap(u[:, None] - u[None, :], 0.0, sigma, period=period)
        prof = gaussian_profile(u, n, sigma, periodic)
        return profile_overlap(prof[:, None, :], prof[None, :, :])

    ox, oy = table(ux, sx), table(uy, sy)

    def reach(u, o):
        d = np.abs(wrap(u[:, None] - u[None, :], period))
        return float(d[o >= threshold].max())  # the diagonal always passes

    rx, ry = reach(ux, ox), reach(uy, oy)
    if rx == 0 or ry == 0:  # no offset along one axis passes: only identical centres could connect
        rx, ry = max(rx, 1e-6), max(ry, 1e-6)
    scale = np.array([rx, ry]) * (1 + 1e-9)
    pts = np.stack([xs, ys], axis=1) / scale
    if periodic:
        box = n / scale
        tree = cKDTree(np.mod(pts, box), boxsize=box)
    else:
        tree = cKDTree(pts)
    pairs = tree.query_pairs(1.0, p=np.inf, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    i, j = pairs[:, 0], pairs[:, 1]
    w = ox[ix[i], ix[j]] * oy[iy[i], iy[j]]
    keep = w >= threshold
    return i[keep], j[keep], w[keep]


def _general_edges(xs, ys, fam, n, sx, sy, threshold, block: int = 512):
    """All pairs (i < j) with pixel overlap >= threshold for any families (Gram blocks)."""
    rows, cols = separable_terms(fam, xs, ys, n, sx, sy)
    sq = _inner(rows, cols, rows, cols)
    norm = np.sqrt(sq)
    out_i, out_j, out_w = [], [], []
    m = len(xs)
    for a in range(0, m, block):
        b = min(m, a + block)
        g = np.zeros((b - a, m))
        for r in range(2):
            for s in range(2):
                g += (rows[a:b, r] @ rows[:, s].T) * (cols[a:b, r] @ cols[:, s].T)
        denom = norm[a:b, None] * norm[None, :]
        w = np.divide(g, denom, out=np.zeros_like(g), where=denom > 0)
        ii, jj = np.nonzero((w >= threshold) & (np.arange(m)[None, :] > np.arange(a, b)[:, None]))
        out_i.append(ii + a)
        out_j.append(jj)
        out_w.append(w[ii, jj])
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_w)


def condition_edges(dataset: SyntheticDataset, index, threshold: float = THRESHOLD,
                    overlap: str = PercolationSettings.default("overlap"), **retired):
    """Pairs of conditions (by position in ``index``) whose overlap is >= threshold.

    Returns (i, j, overlap) arrays with i < j indexing into ``index`` (indices
    of the dataset's candidate conditions). Bump-only sets use the fast
    factorised search; sets with SOS or stripes compare all pairs in blocks
    (their stripes overlap at any distance). ``continuum`` is for bumps only;
    ``method=`` is the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "condition_edges")
    renamed_keywords("condition_edges", retired, {})
    check_threshold(threshold)
    idx = np.asarray(index, dtype=np.int64)
    xs, ys, fam = dataset.x[idx], dataset.y[idx], dataset.family[idx]
    n, sx, sy = dataset.image_size, dataset.sigma_x, dataset.sigma_y
    families = set(np.unique(fam).tolist())
    if len(idx) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    if families <= set(BUMP_FAMILIES) and len(families) == 1:
        return _bump_edges(xs, ys, fam, n, sx, sy, threshold, overlap, families == {"periodic"})
    if overlap == "continuum":
        raise ConfigError(
            f"overlap = 'continuum' has a closed form for bumps only; this dataset has {', '.join(sorted(families))}: "
            "use overlap='pixel'"
        )
    return _general_edges(xs, ys, fam, n, sx, sy, threshold)
