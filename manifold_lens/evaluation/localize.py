"""Find the bumps and stripes in images: how many there are and where (sub-pixel).

Works on any array of images (B, N, N) (or (B, 1, N, N), or one (N, N) image)
in the training pixel range [-1, 1]; coordinates are pixels, x = column,
y = row, as in :mod:`manifold_lens.datasets`. Intensities below are the
pixel values mapped back to [0, 1] (a rendered bump has height 1 above a
background of 0; each SOS stripe has height 0.5).

Counting (bumps): the background is the 25th percentile of the image (robust:
a bump covers well under three quarters of the frame); "height" below is
intensity above it. A bump is found by either of two rules:

* relative: a connected region (8-neighbours; across the borders too for
  periodic images, so a bump split by the border counts once) of pixels more
  than ``threshold`` (default 0.5) times the image's peak. Each region counts.
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
(SCIENCE.md section 6: a second bump is a second bump even when it is dimmer
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
height rather than a peak. An image
whose peak rises less than ``min_peak`` (default 0.25 of the rendered height)
above its background, or that is not finite, holds *no* bump: count 0,
centre NaN.

Centre: a least-squares fit of a Gaussian of the known width sigma plus a
constant (background) to a 1D profile through the brightest pixel: for x the
column profile of the rows near the peak (weighted by a Gaussian in the row
offset, a matched filter), for y the row profile likewise. A 2D Gaussian bump
is separable, so these profiles are exactly Gaussian in the other coordinate
whatever the weights. The fit scans centre offsets within 1.5 px of the peak
pixel (0.05 px, then 0.005 px grid, then a parabola through the residuals);
unlike a centroid it is unbiased for bumps cut by the frame edge (centres at
x = 0 or N - 1 are on the lattice) and it uses the background as a free
parameter. Accuracy measured in the tests: < 0.01 px noise-free, < 0.1 px with
pixel noise of std 0.05. Fits use sigma >= 0.5 px so that single-pixel bumps
(sigma = 0.1) still give a well-posed fit (their centre is then the pixel).
Periodic images use wrapped offsets and return centres in [0, N).

Width: a least-squares fit of a Gaussian of *free* width, centre, amplitude
and background to the same 1D profiles, over the whole profile (a blob several
times too wide still fits inside it): widths scanned at the fitted centre on
a log grid from 0.2 px to N px give the start, then centre and width are
refined together (a centre fitted with the wrong width is biased for a bump
cut by the frame edge, and so would be a width fitted at it). Exact to 0.1 %
for rendered bumps anywhere in the frame; under pixel noise of std 0.05 the
rms error is 2 % inside the frame and 7.5 % for bumps cut by its edge
(measured in ``tests/evaluation/test_strict_scoring.py``). ``width_x_hat`` /
``width_y_hat`` lie in [0.2, N] px; NaN without a bump. Widths under
MIN_FIT_SIGMA (0.5 px) are not resolved by 1 px pixels (a sampled Gaussian of
width 0.3 px is one bright pixel), so the scoring compares widths raised to
0.5 px (:func:`manifold_lens.evaluation.scoring.width_ok`).

SOS and stripes: x comes from the column profile (mean over rows: the
horizontal stripe adds only a constant to it), y from the row profile; each
profile is counted and fitted like a bump profile: runs above ``threshold``
of its peak, plus peaks of the 1D fitted height of a stripe of the data's
width above ``second_bump_threshold`` times the rendered stripe height (0.5)
neither in nor next to such a run (a second stripe dimmer than half the first
is a second stripe too); the width of the stripe carrying each coordinate is
fitted as above. ``n_stripes_x`` counts vertical stripes (they carry x),
``n_stripes_y`` horizontal ones, and ``n_bumps`` is the number of stripe
crossings, n_stripes_x * n_stripes_y (1 for a well-formed SOS image). A 1D
stripe image carries one coordinate; its evaluation scores only that axis
(see :mod:`manifold_lens.evaluation.scoring`).
"""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import ManifoldLensError

FAMILIES = ("bump", "periodic", "sos", "stripes")
BACKGROUND_PERCENTILE = 25.0
STRIPE_HEIGHT = 0.5  # intensity of one SOS stripe (see datasets.sos_intensity)
MIN_FIT_SIGMA = 0.5  # px
_CHUNK = 1024  # images per vectorised fitting chunk (bounds memory)


def as_image_batch(images) -> np.ndarray:
    """(B, N, N) float64 from numpy/torch arrays shaped (N, N), (B, N, N) or (B, 1, N, N)."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2]:
        raise ManifoldLensError(f"images of shape {arr.shape}: expected (B, N, N) or (B, 1, N, N) square images")
    return arr


# -- counting ----------------------------------------------------------------

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


def _peaks(height: np.ndarray, level: float, periodic: bool) -> np.ndarray:
    """Local maxima (3 x 3, or 3 in 1D; ties kept) of a fitted-height map (B, ...) above ``level``."""
    size = (1,) + (3,) * (height.ndim - 1)
    top = ndimage.maximum_filter(height, size=size, mode="wrap" if periodic else "nearest")
    return (height > level) & (height >= top)


def _count_blobs(relative: np.ndarray, peaks: np.ndarray, periodic: bool) -> np.ndarray:
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


def _above_background(values: np.ndarray, axes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(values - background, peak above background) with the background a low percentile."""
    bg = np.percentile(values, BACKGROUND_PERCENTILE, axis=axes, keepdims=True)
    h = values - bg
    return h, h.max(axis=axes)


# -- sub-pixel centre --------------------------------------------------------

def _residuals(vals, g, valid):
    """Least-squares residual of A*g + b for each candidate model g (B, K, L) of profiles vals (B, L); inf if A <= 0."""
    g = g * valid[:, None, :]
    n = valid.sum(-1)[:, None]
    sg, sgg = g.sum(-1), (g * g).sum(-1)
    pv = vals * valid
    sp, spp = pv.sum(-1)[:, None], (pv * vals).sum(-1)[:, None]
    sgp = (g * pv[:, None, :]).sum(-1)
    det = n * sgg - sg**2
    ok = det > 1e-12
    det = np.where(ok, det, 1.0)
    amp = (n * sgp - sg * sp) / det
    bg = (sgg * sp - sg * sgp) / det
    res = spp - amp * sgp - bg * sp
    return np.where(ok & (amp > 0), res, np.inf)


def _scan(vals, offs, valid, deltas, sigma):
    """Residual of A*gauss(offs - delta; sigma) + b for each candidate centre offset delta (B, K)."""
    return _residuals(vals, np.exp(-((offs[:, None, :] - deltas[:, :, None]) ** 2) / (2 * sigma**2)), valid)


def _parabola_min(grid: np.ndarray, res: np.ndarray, step: float) -> np.ndarray:
    """Per row, the grid value of least residual moved by a parabola through its neighbours (at most one step)."""
    k = np.argmin(res, axis=1)
    kk = np.clip(k, 1, grid.shape[1] - 2)
    r = np.take_along_axis(res, np.stack([kk - 1, kk, kk + 1], axis=1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        curv = r[:, 0] - 2 * r[:, 1] + r[:, 2]
        shift = np.where((curv > 0) & (k == kk) & np.isfinite(curv), 0.5 * (r[:, 0] - r[:, 2]) / curv, 0.0)
    return grid[np.arange(len(grid)), k] + np.clip(shift, -1, 1) * step


def fit_centre_1d(profiles: np.ndarray, peak: np.ndarray, sigma: float, periodic: bool = False) -> np.ndarray:
    """Sub-pixel centre (px) of a Gaussian of width ``sigma`` in each 1D profile (B, L) near index ``peak``.

    Fits amplitude, background and centre by least squares over the pixels
    within ceil(3 sigma) + 1 of the peak; periodic profiles wrap and the result
    lies in [0, L). Returns NaN where no positive Gaussian fits.
    """
    profiles = np.asarray(profiles, dtype=np.float64)
    B, L = profiles.shape
    s = max(float(sigma), MIN_FIT_SIGMA)
    R = int(np.ceil(3 * s)) + 1
    if periodic:
        R = min(R, (L - 1) // 2)
    offsets = np.arange(-R, R + 1)
    out = np.full(B, np.nan)
    coarse = np.arange(-30, 31) * 0.05  # offsets from the peak pixel, px
    fine_step = 0.005
    for lo in range(0, B, _CHUNK):
        hi = min(lo + _CHUNK, B)
        pk = np.asarray(peak[lo:hi], dtype=np.int64)
        pos = pk[:, None] + offsets[None, :]
        if periodic:
            valid = np.ones(pos.shape)
            pos = pos % L
        else:
            valid = ((pos >= 0) & (pos < L)).astype(np.float64)
            pos = np.clip(pos, 0, L - 1)
        vals = np.take_along_axis(profiles[lo:hi], pos, axis=1)
        offs = np.broadcast_to(offsets.astype(np.float64), pos.shape)
        res = _scan(vals, offs, valid, np.broadcast_to(coarse, (hi - lo, coarse.size)), s)
        best = coarse[np.argmin(res, axis=1)]
        fine = best[:, None] + np.arange(-10, 11)[None, :] * fine_step
        res = _scan(vals, offs, valid, fine, s)
        delta = _parabola_min(fine, res, fine_step)
        found = np.isfinite(res.min(axis=1))
        centre = pk + delta
        if periodic:
            centre = np.mod(centre, L)
            centre = np.where(centre >= L, centre - L, centre)  # mod of a tiny negative rounds up to L
        out[lo:hi] = np.where(found, centre, np.nan)
    return out


MIN_WIDTH = 0.2  # px: the narrowest width scanned (the widest is the profile length)


def _width_scan(vals, offs, valid, log_widths):
    """Residual of A*gauss(offs; w) + b for each candidate log width (B, K)."""
    w = np.exp(log_widths)
    return _residuals(vals, np.exp(-(offs[:, None, :] ** 2) / (2 * w[:, :, None] ** 2)), valid)


def _offsets_1d(L: int, centre: np.ndarray, periodic: bool) -> np.ndarray:
    """Pixel minus centre (B, L); wrapped into [-L/2, L/2) when periodic."""
    d = np.arange(L, dtype=np.float64)[None, :] - centre[:, None]
    return (d + L / 2) % L - L / 2 if periodic else d


def _refine_gaussian(vals, valid, centre, log_width, periodic: bool, iterations: int = 40):
    """Levenberg-Marquardt on A*gauss(u - c; w) + b (A, b, c, log w free): refined (centre, log width).

    Vectorised over profiles; a step is taken only where it lowers the
    residual, so the result is never worse than the start. The centre stays
    within 3 px of the start and the width within [MIN_WIDTH, L].
    """
    B, L = vals.shape
    lo, hi = np.log(MIN_WIDTH), np.log(float(L))
    c0 = centre.copy()

    def linear(c, lw):  # best amplitude and background for a given centre and width
        g = np.exp(-_offsets_1d(L, c, periodic) ** 2 / (2 * np.exp(2 * lw)[:, None])) * valid
        n, sg, sgg = valid.sum(1), g.sum(1), (g * g).sum(1)
        sp, sgp = (vals * valid).sum(1), (g * vals).sum(1)
        det = np.where(np.abs(n * sgg - sg**2) > 1e-12, n * sgg - sg**2, 1.0)
        return (n * sgp - sg * sp) / det, (sgg * sp - sg * sgp) / det

    def ssr(th):
        A, b, c, lw = th.T
        g = np.exp(-_offsets_1d(L, c, periodic) ** 2 / (2 * np.exp(2 * lw)[:, None]))
        return (((vals - A[:, None] * g - b[:, None]) * valid) ** 2).sum(1)

    A, b = linear(centre, log_width)
    theta = np.stack([A, b, centre, log_width], axis=1)
    cost = ssr(theta)
    lam = np.full(B, 1e-3)
    for _ in range(iterations):
        A, b, c, lw = theta.T
        d = _offsets_1d(L, c, periodic)
        w2 = np.exp(2 * lw)[:, None]
        g = np.exp(-d**2 / (2 * w2))
        r = (vals - A[:, None] * g - b[:, None]) * valid
        J = np.stack([g, np.ones_like(g), A[:, None] * g * d / w2, A[:, None] * g * d**2 / w2], axis=2)
        J = J * valid[:, :, None]
        JtJ = np.einsum("bli,blj->bij", J, J)
        Jtr = np.einsum("bli,bl->bi", J, r)
        M = JtJ + lam[:, None, None] * (np.eye(4) * np.diagonal(JtJ, axis1=1, axis2=2)[:, None, :] + 1e-12 * np.eye(4))
        with np.errstate(all="ignore"):
            step = np.linalg.solve(M, Jtr[:, :, None])[:, :, 0]
        trial = theta + np.where(np.isfinite(step), step, 0.0)
        trial[:, 2] = np.clip(trial[:, 2], c0 - 3, c0 + 3)
        trial[:, 3] = np.clip(trial[:, 3], lo, hi)
        new = ssr(trial)
        better = (new < cost) & (trial[:, 0] > 0)
        theta = np.where(better[:, None], trial, theta)
        cost = np.where(better, new, cost)
        lam = np.where(better, lam / 3, lam * 3)
    return theta[:, 2], theta[:, 3]


def fit_width_1d(profiles: np.ndarray, centre: np.ndarray, periodic: bool = False) -> np.ndarray:
    """Width (px) of a Gaussian of free width and centre in each 1D profile (B, L), starting at ``centre``.

    Least squares over the whole profile (offsets wrap when periodic) with a
    free amplitude and background: a scan of widths at ``centre`` (log grid
    from MIN_WIDTH to L px in 4 % steps, then 0.2 % steps) gives the start,
    then centre and width are refined together (Levenberg-Marquardt; a centre
    fitted with the wrong width is biased for bumps cut by the frame edge, and
    a width fitted at that centre would be too). Returns NaN where the centre
    is NaN or no positive Gaussian fits.
    """
    profiles = np.asarray(profiles, dtype=np.float64)
    centre = np.asarray(centre, dtype=np.float64)
    B, L = profiles.shape
    out = np.full(B, np.nan)
    lo, hi = np.log(MIN_WIDTH), np.log(float(L))
    coarse = np.arange(lo, hi + 0.02, 0.04)
    for a in range(0, B, _CHUNK):
        b = min(a + _CHUNK, B)
        found = np.isfinite(centre[a:b])
        mu = np.where(found, centre[a:b], 0.0)
        valid = np.broadcast_to(found[:, None], (b - a, L)).astype(np.float64)
        vals = np.where(found[:, None], profiles[a:b], 0.0)
        offs = _offsets_1d(L, mu, periodic)
        res = _width_scan(vals, offs, valid, np.broadcast_to(coarse, (b - a, coarse.size)))
        fine = np.clip(coarse[np.argmin(res, axis=1)][:, None] + np.arange(-12, 13)[None, :] * 0.002, lo, hi)
        res = _width_scan(vals, offs, valid, fine)
        fits = found & np.isfinite(res.min(axis=1))
        logw = fine[np.arange(b - a), np.argmin(res, axis=1)]
        _, logw = _refine_gaussian(vals, valid, mu, logw, periodic)
        out[a:b] = np.where(fits, np.exp(logw), np.nan)
    return out


def _wrapped_offsets(idx: np.ndarray, peak: np.ndarray, n: int, periodic: bool) -> np.ndarray:
    d = idx[None, :] - peak[:, None]
    if periodic:
        d = (d + n // 2) % n - n // 2
    return d.astype(np.float64)


# -- per family --------------------------------------------------------------

def localize_bumps(images, *, sigma=1.0, periodic: bool = False, threshold: float = 0.5,
                   min_peak: float = 0.25, second_bump_threshold: float = 0.25) -> dict[str, np.ndarray]:
    """Count bumps, locate the brightest one and fit its width in each image (see the module docstring).

    Returns a dict of arrays over images: ``n_bumps`` (int), ``x_hat``,
    ``y_hat``, ``width_x_hat``, ``width_y_hat`` (px; NaN when there is no bump).
    """
    sx, sy = _sigmas(sigma)
    img = as_image_batch(images)
    B, N, _ = img.shape
    finite = np.isfinite(img).all(axis=(1, 2))
    inten = np.where(np.isfinite(img), (img + 1.0) / 2.0, 0.0)
    h, peak = _above_background(inten, (1, 2))
    has = finite & (peak >= min_peak)
    relative = (h > threshold * peak[:, None, None]) & has[:, None, None]
    peaks = _peaks(fitted_height(h, (sy, sx), periodic), second_bump_threshold, periodic) & has[:, None, None]
    n_bumps = _count_blobs(relative, peaks, periodic)
    x_hat, y_hat, width_x, width_y = (np.full(B, np.nan) for _ in range(4))
    if has.any():
        hh = h[has]
        flat = hh.reshape(len(hh), -1).argmax(axis=1)
        r0, c0 = np.divmod(flat, N)
        idx = np.arange(N)
        dv = _wrapped_offsets(idx, r0, N, periodic)
        du = _wrapped_offsets(idx, c0, N, periodic)
        sfx, sfy = max(sx, MIN_FIT_SIGMA), max(sy, MIN_FIT_SIGMA)
        wv = np.exp(-dv**2 / (2 * sfy**2)) * (np.abs(dv) <= np.ceil(3 * sfy))  # rows near the peak
        wu = np.exp(-du**2 / (2 * sfx**2)) * (np.abs(du) <= np.ceil(3 * sfx))
        prof_x = np.einsum("bv,bvu->bu", wv, hh)
        prof_y = np.einsum("bu,bvu->bv", wu, hh)
        x_hat[has] = fit_centre_1d(prof_x, c0, sx, periodic)
        y_hat[has] = fit_centre_1d(prof_y, r0, sy, periodic)
        width_x[has] = fit_width_1d(prof_x, x_hat[has], periodic)
        width_y[has] = fit_width_1d(prof_y, y_hat[has], periodic)
    return {"n_bumps": n_bumps, "x_hat": x_hat, "y_hat": y_hat, "width_x_hat": width_x, "width_y_hat": width_y}


def localize_stripes(images, *, sigma=1.0, threshold: float = 0.5, min_peak: float = 0.25,
                     second_bump_threshold: float = 0.25) -> dict[str, np.ndarray]:
    """SOS / stripe images: x from the column profile, y from the row profile.

    Returns ``n_stripes_x`` (vertical stripes), ``n_stripes_y`` (horizontal
    stripes), ``n_bumps`` (crossings, their product), ``x_hat``, ``y_hat``,
    ``width_x_hat`` (of the vertical stripe), ``width_y_hat`` (px; NaN on an
    axis without a stripe).
    """
    sx, sy = _sigmas(sigma)
    img = as_image_batch(images)
    finite = np.isfinite(img).all(axis=(1, 2))
    inten = np.where(np.isfinite(img), (img + 1.0) / 2.0, 0.0)
    out = {}
    for axis_name, prof, s in (("x", inten.mean(axis=1), sx), ("y", inten.mean(axis=2), sy)):
        h, peak = _above_background(prof, (1,))
        has = finite & (peak >= min_peak * STRIPE_HEIGHT)
        relative = (h > threshold * peak[:, None]) & has[:, None]
        peaks = _peaks(fitted_height(h, (s,)), second_bump_threshold * STRIPE_HEIGHT, False) & has[:, None]
        centre, width = np.full(len(prof), np.nan), np.full(len(prof), np.nan)
        if has.any():
            centre[has] = fit_centre_1d(h[has], h[has].argmax(axis=1), s, periodic=False)
            width[has] = fit_width_1d(h[has], centre[has])
        out[f"n_stripes_{axis_name}"] = _count_blobs(relative, peaks, False)
        out[f"{axis_name}_hat"] = centre
        out[f"width_{axis_name}_hat"] = width
    out["n_bumps"] = out["n_stripes_x"] * out["n_stripes_y"]
    return out


def _sigmas(sigma) -> tuple[float, float]:
    if np.ndim(sigma) == 0:
        return float(sigma), float(sigma)
    sx, sy = (float(s) for s in sigma)
    return sx, sy


def localize(images, family="bump", *, sigma=1.0, periodic: bool | None = None, threshold: float = 0.5,
             min_peak: float = 0.25, second_bump_threshold: float = 0.25) -> xr.Dataset:
    """Count and locate bumps / stripes in images (B, N, N) in [-1, 1].

    Args:
        images: numpy or torch array (B, N, N), (B, 1, N, N) or (N, N).
        family: "bump", "periodic", "sos" or "stripes" (stripes use the SOS
            localizer), or an array with one family per image.
        sigma: bump / stripe width in px, or (sigma_x, sigma_y).
        periodic: wrap-aware counting and centres; default: family == "periodic".
        threshold: fraction of the peak (above background) that delimits a bump.
        min_peak: minimum peak above background, as a fraction of the rendered
            height (1 for bumps, 0.5 for stripes); fainter images hold nothing.
        second_bump_threshold: a blob also counts where the fitted height of a
            bump of width sigma exceeds this fraction of the rendered height.

    Returns:
        Dataset over dim ``image`` with ``x_hat``, ``y_hat``, ``width_x_hat``,
        ``width_y_hat`` (px, NaN when not found), ``n_bumps`` and, for stripe
        families, ``n_stripes_x``, ``n_stripes_y`` (-1 for images of other
        families).
    """
    img = as_image_batch(images)
    B = img.shape[0]
    fam = np.broadcast_to(np.asarray(family, dtype=object), (B,))
    bad = sorted({str(f) for f in fam} - set(FAMILIES))
    if bad:
        raise ManifoldLensError(f"family {bad[0]!r}: must be one of {', '.join(FAMILIES)}")
    if not 0 < threshold < 1:
        raise ManifoldLensError(f"threshold = {threshold}: must be in (0, 1), a fraction of the peak")
    if not min_peak > 0:
        raise ManifoldLensError(f"min_peak = {min_peak}: must be > 0, a fraction of the rendered height")
    if not 0 < second_bump_threshold <= 1:
        raise ManifoldLensError(f"second_bump_threshold = {second_bump_threshold}: must be in (0, 1], a fraction "
                                "of the rendered height")
    res = {k: np.full(B, np.nan) for k in ("x_hat", "y_hat", "width_x_hat", "width_y_hat")}
    res["n_bumps"] = np.zeros(B, dtype=np.int64)
    stripe_fams = {"sos", "stripes"} & set(fam.tolist())
    if stripe_fams:
        res["n_stripes_x"] = np.full(B, -1, dtype=np.int64)
        res["n_stripes_y"] = np.full(B, -1, dtype=np.int64)
    for f in sorted(set(fam.tolist())):
        sel = fam == f
        if f in ("sos", "stripes"):
            part = localize_stripes(img[sel], sigma=sigma, threshold=threshold, min_peak=min_peak,
                                    second_bump_threshold=second_bump_threshold)
        else:
            per = (f == "periodic") if periodic is None else bool(periodic)
            part = localize_bumps(img[sel], sigma=sigma, periodic=per, threshold=threshold, min_peak=min_peak,
                                  second_bump_threshold=second_bump_threshold)
        for k, v in part.items():
            res[k][sel] = v
    sx, sy = _sigmas(sigma)
    ds = xr.Dataset(
        {
            "x_hat": ("image", res["x_hat"], {"long_name": "estimated centre x (column)", "units": "px"}),
            "y_hat": ("image", res["y_hat"], {"long_name": "estimated centre y (row)", "units": "px"}),
            "n_bumps": ("image", res["n_bumps"], {"long_name": "number of bumps (SOS: stripe crossings)"}),
            "width_x_hat": ("image", res["width_x_hat"], {"long_name": "fitted width along x of the located bump "
                                                          "(SOS: of the vertical stripe)", "units": "px"}),
            "width_y_hat": ("image", res["width_y_hat"], {"long_name": "fitted width along y of the located bump "
                                                          "(SOS: of the horizontal stripe)", "units": "px"}),
        },
        coords={"family": ("image", fam.astype(str))},
    )
    if stripe_fams:
        ds["n_stripes_x"] = ("image", res["n_stripes_x"], {"long_name": "number of vertical stripes (carry x)"})
        ds["n_stripes_y"] = ("image", res["n_stripes_y"], {"long_name": "number of horizontal stripes (carry y)"})
    ds.attrs.update({
        "threshold": float(threshold), "min_peak": float(min_peak),
        "second_bump_threshold": float(second_bump_threshold), "sigma_x": sx, "sigma_y": sy,
        "periodic": "auto" if periodic is None else str(bool(periodic)),
        "description": "bump count, sub-pixel centre (known-width Gaussian fit) and width (free-width Gaussian fit) "
                       "by manifold_lens.evaluation.localize",
    })
    return ds
