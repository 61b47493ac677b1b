"""Counting bumps and stripes: regions above a fraction of the peak, plus peaks of the fitted height.

Intensities are pixel values mapped back to [0, 1] (a rendered bump has
height 1 above a background of 0; each SOS stripe has height 0.5); the
caller (:mod:`~manifold_lens.evaluation.localize`) passes heights above the
background (:func:`above_background`).

Counting (bumps): the background is the 25th percentile of the image (robust:
a bump covers well under three quarters of the frame); "height" below is
intensity above it. A bump is found by either of two rules:

* relative: a connected region (8-neighbours; across the borders too for
  periodic images, so a bump split by the border counts once) of pixels more
  than ``peak_fraction`` (default 0.5) times the image's peak. Each region counts.
* absolute: a peak (local maximum over 3 x 3 points; adjacent tied maxima
  count once) of the *fitted height* above ``second_bump_threshold``
  (default 0.25) times the rendered height (1; an SOS stripe: 0.5), neither
  in nor next to a region of the relative rule (there it is the same bump).
  The fitted height at a point of the half-pixel grid (the pixels and the
  midpoints between them) is the least-squares amplitude A of a Gaussian of
  the data's width centred there, A * gauss(sigma), fitted to the heights of
  the pixels within ceil(3 sigma) + 1 px (:func:`fitted_height`): what is
  thresholded is the height of a bump of the right width, not a pixel value,
  and it is within 3 % of the bump's height wherever its centre lies.

So a second bump counts when it rises above half the brightest one *or*
above 0.25 of the rendered height, however bright the first one is
(docs/science.md, section 6: a second bump is a second bump even when it is dimmer
than the first). Why regions above half the peak for the relative rule
rather than local maxima of pixels: pixel maxima multiply under noise (every
noisy pixel on a flank or plateau is one), while the half-maximum contour of
a bump sits ~1.2 sigma from its centre where the slope is steep, so noise
would have to exceed ~0.4 of the bump height to break off or add a region.
The absolute rule takes maxima of the fitted height, which averages over a
bump's footprint (noise std / 1.8 at sigma = 1), so noisy pixels do not make
peaks of it: counts stay exact under Gaussian noise of std 0.1 in pixel units
(``tests/evaluation/test_localize.py``). Pixels at the frame edge are fitted
from the part of the window inside the frame (a bump cut by the edge keeps its
height; one centred just inside the edge reads up to 12 % taller there at
sigma = 1), so a faint blob on the edge needs fewer pixels to reach the
threshold than one inside. Resolution, measured over random sub-pixel centres
and directions at sigma = 1: two equal bumps count as two from 4 sigma apart
(about half of them at 3.5 sigma; closer, their sum stays above half the peak
between them and they form one region); a second bump of 0.5 of the first's
height from 4 sigma (about 40 % at 3 to 3.5 sigma), of 0.3 from 4.5 sigma
(none at 4 sigma): nearer, it is a shoulder on the brighter bump's fitted
height rather than a peak.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .fitting import MIN_FIT_SIGMA

BACKGROUND_PERCENTILE = 25.0


def _label_count(mask: np.ndarray, periodic: bool, exclude: np.ndarray | None = None) -> np.ndarray:
    """Connected regions (8-neighbours) per image of a (B, H, W) mask; wrap-aware if periodic.

    With ``exclude`` (a mask of the same shape) regions holding any excluded pixel are not counted.
    """
    B, H, W = mask.shape
    struct = np.zeros((3, 3, 3), dtype=bool)
    struct[1] = True  # connect within an image only
    labels, nlab = ndimage.label(mask, structure=struct)
    if nlab == 0:
        return np.zeros(B, dtype=np.int64)
    img_of = np.zeros(nlab + 1, dtype=np.int64)
    where = np.nonzero(labels)
    img_of[labels[where]] = where[0]
    comp = np.arange(nlab + 1)
    if periodic:
        pairs = []
        left, right = labels[:, :, 0], labels[:, :, W - 1]
        top, bottom = labels[:, 0, :], labels[:, H - 1, :]
        for shift in (-1, 0, 1):  # straight and diagonal neighbours across the border
            pairs.append((left, np.roll(right, shift, axis=1)))
            pairs.append((top, np.roll(bottom, shift, axis=1)))
        a = np.concatenate([p[0].ravel() for p in pairs])
        b = np.concatenate([p[1].ravel() for p in pairs])
        keep = (a > 0) & (b > 0)
        graph = coo_matrix((np.ones(keep.sum()), (a[keep], b[keep])), shape=(nlab + 1, nlab + 1))
        _, comp = connected_components(graph, directed=False)
    keep = np.ones(nlab + 1, dtype=bool)
    if exclude is not None:
        hit = np.zeros(comp.max() + 1, dtype=bool)
        hit[comp[labels[exclude & (labels > 0)]]] = True
        keep = ~hit[comp]
    ids = np.unique(np.stack([img_of[1:], comp[1:]], axis=1)[keep[1:]], axis=0)
    return np.bincount(ids[:, 0], minlength=B).astype(np.int64)


def _run_count(mask: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Runs of True along the last axis of a (B, L) mask (non-periodic) that hold no ``exclude`` pixel."""
    return _label_count(mask[:, None, :], False, None if exclude is None else exclude[:, None, :])


def peaks(height: np.ndarray, level: float, periodic: bool) -> np.ndarray:
    """Local maxima (3 x 3, or 3 in 1D; ties kept) of a fitted-height map (B, ...) above ``level``."""
    size = (1,) + (3,) * (height.ndim - 1)
    top = ndimage.maximum_filter(height, size=size, mode="wrap" if periodic else "nearest")
    return (height > level) & (height >= top)


def count_blobs(relative: np.ndarray, peaks: np.ndarray, periodic: bool) -> np.ndarray:
    """Regions of the relative mask (pixels) plus peaks of fitted height (half-pixel grid) neither in nor next to one.

    A half-pixel point is next to a region when a pixel it touches (the one
    it sits on, or the two or four it lies between) is in or 8-adjacent to it.
    """
    size = (1,) + (3,) * (relative.ndim - 1)
    near = ndimage.maximum_filter(relative.astype(np.uint8), size=size, mode="wrap" if periodic else "constant") > 0
    for ax in range(1, near.ndim):  # onto the half-pixel grid: point i touches pixels floor(i/2) and ceil(i/2)
        n = near.shape[ax]
        up = np.repeat(near, 2, axis=ax)  # point i -> pixel i // 2
        nxt = np.roll(up, -1, axis=ax)  # pixel (i + 1) // 2 (wraps; cut below when not periodic)
        near = up | nxt
        if not periodic:
            near = np.take(near, np.arange(2 * n - 1), axis=ax)
    if relative.ndim == 2:
        return _run_count(relative) + _run_count(peaks, exclude=near)
    return _label_count(relative, periodic) + _label_count(peaks, periodic, exclude=near)


def _window(s: float, n: int, periodic: bool) -> np.ndarray:
    """Offsets -R..R of a fit window for width ``s`` (R = ceil(3 s) + 1; at most (n - 1) // 2 when periodic)."""
    R = int(np.ceil(3 * s)) + 1
    if periodic:
        R = min(R, (n - 1) // 2)
    return np.arange(-R, R + 1, dtype=np.float64)


def fitted_height(h: np.ndarray, sigmas, periodic: bool = False) -> np.ndarray:
    """Least-squares height A of A * gauss centred on each point of the half-pixel grid of ``h`` (B, L) or (B, H, W).

    ``h`` is the intensity above the image's background; ``sigmas`` gives the
    Gaussian's width per image axis (px, raised to MIN_FIT_SIGMA). The fit
    uses the pixels within ceil(3 sigma) + 1 px of the centre that lie in the
    frame (periodic images wrap): a matched filter. Centres run over the
    pixels and the midpoints between them, so the result has 2n - 1 points
    along an axis of n pixels (2n when periodic; point i is at i / 2 px). A
    bump of height A above the background gives A at its centre and at least
    A * exp(-d^2 / (4 sigma^2)) at the nearest point (d <= 0.35 px: 0.97 A at
    sigma = 1) when the window holds it whole. Where the frame cuts the window
    the fit is one-sided and a bump centred a little inside passes for a
    taller one at the edge: up to 12 % taller at sigma = 1 (25 % at sigma = 2).
    Other bumps within the window add to it.
    """
    h = np.asarray(h, dtype=np.float64)
    axes = tuple(range(1, h.ndim))
    mode = "wrap" if periodic else "constant"

    def corr(values, kernels):
        for ax, k in zip(axes, kernels):
            values = ndimage.correlate1d(values, k, axis=ax, mode=mode, cval=0.0)
        return values

    kernels = []  # per axis: Gaussians centred on the pixel and half a pixel on
    for ax, s in zip(axes, sigmas):
        sf = max(float(s), MIN_FIT_SIGMA)
        o = _window(sf, h.shape[ax], periodic)
        kernels.append([np.exp(-(o - shift) ** 2 / (2 * sf**2)) for shift in (0.0, 0.5)])
    ones = np.ones((1,) + h.shape[1:])
    out = np.empty((h.shape[0],) + tuple(2 * n for n in h.shape[1:]))
    for idx in itertools.product((0, 1), repeat=len(axes)):
        combo = [kernels[i][j] for i, j in enumerate(idx)]
        points = (slice(None),) + tuple(slice(j, None, 2) for j in idx)  # pixels (j = 0) or midpoints (j = 1)
        out[points] = corr(h, combo) / corr(ones, [k * k for k in combo])
    if not periodic:  # the last midpoint along each axis lies beyond the last pixel
        out = out[(slice(None),) + tuple(slice(0, 2 * n - 1) for n in h.shape[1:])]
    return out


def above_background(values: np.ndarray, axes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(values - background, peak above background) with the background a low percentile."""
    bg = np.percentile(values, BACKGROUND_PERCENTILE, axis=axes, keepdims=True)
    h = values - bg
    return h, h.max(axis=axes)

