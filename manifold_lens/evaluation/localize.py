"""Find the bumps and stripes in images: how many there are and where (sub-pixel).

Works on any array of images (B, N, N) (or (B, 1, N, N), or one (N, N) image)
in the training pixel range [-1, 1]; coordinates are pixels, x = column,
y = row, as in :mod:`manifold_lens.datasets`. Intensities below are the
pixel values mapped back to [0, 1] (a rendered bump has height 1 above a
background of 0; each SOS stripe has height 0.5).

Three steps, each in its own module: counting
(:mod:`~manifold_lens.evaluation.counting`: regions above ``peak_fraction``
of the peak plus peaks of the fitted height above ``second_bump_threshold``
of the rendered height), the sub-pixel centre and the width
(:mod:`~manifold_lens.evaluation.fitting`: least-squares Gaussian fits to 1D
profiles through the brightest pixel). An image whose peak rises less than
``min_peak`` (default 0.25 of the rendered height) above its background, or
that is not finite, holds *no* bump: count 0, centre NaN. The defaults and
checks of these parameters are :class:`~manifold_lens.evaluation.settings.EvaluationSettings`.

SOS and stripes: x comes from the column profile (mean over rows: the
horizontal stripe adds only a constant to it), y from the row profile; each
profile is counted and fitted like a bump profile: runs above ``peak_fraction``
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

import numpy as np
import xarray as xr

from ..errors import ManifoldLensError
from .counting import above_background, count_blobs, fitted_height, peaks
from .fitting import MIN_FIT_SIGMA, fit_centre_1d, fit_width_1d
from .settings import EvaluationSettings, renamed_keywords

__all__ = ["FAMILIES", "STRIPE_HEIGHT", "MIN_FIT_SIGMA", "as_image_batch", "fitted_height", "fit_centre_1d",
           "fit_width_1d", "localize_bumps", "localize_stripes", "localize"]

FAMILIES = ("bump", "periodic", "sos", "stripes")
STRIPE_HEIGHT = 0.5  # intensity of one SOS stripe (see datasets.sos_intensity)


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


def _wrapped_offsets(idx: np.ndarray, peak: np.ndarray, n: int, periodic: bool) -> np.ndarray:
    d = idx[None, :] - peak[:, None]
    if periodic:
        d = (d + n // 2) % n - n // 2
    return d.astype(np.float64)


# -- per family --------------------------------------------------------------

_DEFAULT = EvaluationSettings.default


def localize_bumps(images, *, sigma=1.0, periodic: bool = False,
                   peak_fraction: float = _DEFAULT("peak_fraction"), min_peak: float = _DEFAULT("min_peak"),
                   second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
                   threshold: float | None = None) -> dict[str, np.ndarray]:
    """Count bumps, locate the brightest one and fit its width in each image (see the module docstring).

    Returns a dict of arrays over images: ``n_bumps`` (int), ``x_hat``,
    ``y_hat``, ``width_x_hat``, ``width_y_hat`` (px; NaN when there is no bump).
    ``threshold`` is the deprecated name of ``peak_fraction``.
    """
    peak_fraction = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})["peak_fraction"]
    sx, sy = _sigmas(sigma)
    img = as_image_batch(images)
    B, N, _ = img.shape
    finite = np.isfinite(img).all(axis=(1, 2))
    inten = np.where(np.isfinite(img), (img + 1.0) / 2.0, 0.0)
    h, peak = above_background(inten, (1, 2))
    has = finite & (peak >= min_peak)
    relative = (h > peak_fraction * peak[:, None, None]) & has[:, None, None]
    tops = peaks(fitted_height(h, (sy, sx), periodic), second_bump_threshold, periodic) & has[:, None, None]
    n_bumps = count_blobs(relative, tops, periodic)
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


def localize_stripes(images, *, sigma=1.0, peak_fraction: float = _DEFAULT("peak_fraction"),
                     min_peak: float = _DEFAULT("min_peak"),
                     second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
                     threshold: float | None = None) -> dict[str, np.ndarray]:
    """SOS / stripe images: x from the column profile, y from the row profile.

    Returns ``n_stripes_x`` (vertical stripes), ``n_stripes_y`` (horizontal
    stripes), ``n_bumps`` (crossings, their product), ``x_hat``, ``y_hat``,
    ``width_x_hat`` (of the vertical stripe), ``width_y_hat`` (px; NaN on an
    axis without a stripe). ``threshold`` is the deprecated name of ``peak_fraction``.
    """
    peak_fraction = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})["peak_fraction"]
    sx, sy = _sigmas(sigma)
    img = as_image_batch(images)
    finite = np.isfinite(img).all(axis=(1, 2))
    inten = np.where(np.isfinite(img), (img + 1.0) / 2.0, 0.0)
    out = {}
    for axis_name, prof, s in (("x", inten.mean(axis=1), sx), ("y", inten.mean(axis=2), sy)):
        h, peak = above_background(prof, (1,))
        has = finite & (peak >= min_peak * STRIPE_HEIGHT)
        relative = (h > peak_fraction * peak[:, None]) & has[:, None]
        tops = peaks(fitted_height(h, (s,)), second_bump_threshold * STRIPE_HEIGHT, False) & has[:, None]
        centre, width = np.full(len(prof), np.nan), np.full(len(prof), np.nan)
        if has.any():
            centre[has] = fit_centre_1d(h[has], h[has].argmax(axis=1), s, periodic=False)
            width[has] = fit_width_1d(h[has], centre[has])
        out[f"n_stripes_{axis_name}"] = count_blobs(relative, tops, False)
        out[f"{axis_name}_hat"] = centre
        out[f"width_{axis_name}_hat"] = width
    out["n_bumps"] = out["n_stripes_x"] * out["n_stripes_y"]
    return out


def _sigmas(sigma) -> tuple[float, float]:
    if np.ndim(sigma) == 0:
        return float(sigma), float(sigma)
    sx, sy = (float(s) for s in sigma)
    return sx, sy


def localize(images, family="bump", *, sigma=1.0, periodic: bool | None = None,
             peak_fraction: float = _DEFAULT("peak_fraction"), min_peak: float = _DEFAULT("min_peak"),
             second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
             threshold: float | None = None) -> xr.Dataset:
    """Count and locate bumps / stripes in images (B, N, N) in [-1, 1].

    Args:
        images: numpy or torch array (B, N, N), (B, 1, N, N) or (N, N).
        family: "bump", "periodic", "sos" or "stripes" (stripes use the SOS
            localizer), or an array with one family per image.
        sigma: bump / stripe width in px, or (sigma_x, sigma_y).
        periodic: wrap-aware counting and centres; default: family == "periodic".
        peak_fraction: fraction of the peak (above background) that delimits a bump.
        min_peak: minimum peak above background, as a fraction of the rendered
            height (1 for bumps, 0.5 for stripes); fainter images hold nothing.
        second_bump_threshold: a blob also counts where the fitted height of a
            bump of width sigma exceeds this fraction of the rendered height.
        threshold: the deprecated name of ``peak_fraction`` (DeprecationWarning).

    The defaults and checks are :class:`~manifold_lens.evaluation.settings.EvaluationSettings`
    (a bad value is a one-line ConfigError naming it).

    Returns:
        Dataset over dim ``image`` with ``x_hat``, ``y_hat``, ``width_x_hat``,
        ``width_y_hat`` (px, NaN when not found), ``n_bumps`` and, for stripe
        families, ``n_stripes_x``, ``n_stripes_y`` (-1 for images of other
        families).
    """
    peak_fraction = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})["peak_fraction"]
    img = as_image_batch(images)
    B = img.shape[0]
    fam = np.broadcast_to(np.asarray(family, dtype=object), (B,))
    bad = sorted({str(f) for f in fam} - set(FAMILIES))
    if bad:
        raise ManifoldLensError(f"family = {bad[0]!r}: must be one of {', '.join(FAMILIES)}")
    checked = EvaluationSettings(peak_fraction=peak_fraction, min_peak=min_peak,
                                 second_bump_threshold=second_bump_threshold).check()
    opts = {"peak_fraction": checked.peak_fraction, "min_peak": checked.min_peak,
            "second_bump_threshold": checked.second_bump_threshold}
    res = {k: np.full(B, np.nan) for k in ("x_hat", "y_hat", "width_x_hat", "width_y_hat")}
    res["n_bumps"] = np.zeros(B, dtype=np.int64)
    stripe_fams = {"sos", "stripes"} & set(fam.tolist())
    if stripe_fams:
        res["n_stripes_x"] = np.full(B, -1, dtype=np.int64)
        res["n_stripes_y"] = np.full(B, -1, dtype=np.int64)
    for f in sorted(set(fam.tolist())):
        sel = fam == f
        if f in ("sos", "stripes"):
            part = localize_stripes(img[sel], sigma=sigma, **opts)
        else:
            per = (f == "periodic") if periodic is None else bool(periodic)
            part = localize_bumps(img[sel], sigma=sigma, periodic=per, **opts)
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
        **opts, "sigma_x": sx, "sigma_y": sy, "periodic": "auto" if periodic is None else str(bool(periodic)),
        "description": "bump count, sub-pixel centre (known-width Gaussian fit) and width (free-width Gaussian fit) "
                       "by manifold_lens.evaluation.localize",
    })
    return ds
