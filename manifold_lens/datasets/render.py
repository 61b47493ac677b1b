"""Rendering: the one place where images of conditions are drawn (docs/science.md, section 1).

Coordinates are pixels of the N x N *frame*: x runs along columns (u), y along
rows (v), and pixel (row v, column u) has its centre at (u, v). An image is
indexed ``image[v, u]``. Intensities are in [0, 1] (a bump peaks at 1, each SOS
stripe at 0.5); training pixels are intensities mapped to [-1, 1].
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ..errors import ConfigError

# Pixel range used for training: intensities in [0, 1] map to [-1, 1].
PIXEL_MIN, PIXEL_MAX = -1.0, 1.0


def _image_size_was_n(fn):
    """Accept the former keyword ``n`` for ``image_size`` (one release, with a DeprecationWarning)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "n" in kwargs:
            warnings.warn(f"{fn.__name__}(n=...) is deprecated: use image_size=", DeprecationWarning, stacklevel=2)
            kwargs["image_size"] = kwargs.pop("n")
        return fn(*args, **kwargs)

    return wrapper


def to_pixels(intensity: np.ndarray) -> np.ndarray:
    """Map intensities in [0, 1] to the training pixel range [-1, 1]."""
    return (2.0 * intensity - 1.0).astype(np.float32)


def from_pixels(images: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_pixels`."""
    return (np.asarray(images, dtype=np.float64) + 1.0) / 2.0


def _offsets(centres: np.ndarray, n: int, periodic: bool) -> np.ndarray:
    """Pixel-minus-centre distances, shape (B, n); wrapped modulo n if periodic."""
    u = np.arange(n, dtype=np.float64)
    d = u[None, :] - np.asarray(centres, dtype=np.float64)[:, None]
    if periodic:
        d = (d + n / 2.0) % n - n / 2.0
    return d


@_image_size_was_n
def bump_intensity(x, y, image_size: int, sigma_x: float = 1.0, sigma_y: float | None = None,
                   periodic: bool = False) -> np.ndarray:
    """2D Gaussian bumps, peak 1, shape (B, N, N) for N = ``image_size`` px; periodic wraps distances mod N."""
    n = image_size
    sigma_y = sigma_x if sigma_y is None else sigma_y
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    gx = np.exp(-_offsets(x, n, periodic) ** 2 / (2 * sigma_x**2))  # (B, u)
    gy = np.exp(-_offsets(y, n, periodic) ** 2 / (2 * sigma_y**2))  # (B, v)
    return gy[:, :, None] * gx[:, None, :]


@_image_size_was_n
def sos_intensity(x, y, image_size: int, sigma_x: float = 1.0, sigma_y: float | None = None) -> np.ndarray:
    """Sum of stripes: vertical stripe at x plus horizontal stripe at y, halved to [0, 1]; (B, N, N).

    Each stripe alone peaks at 0.5; where they cross the image reaches 1. A
    centre outside the frame leaves only its Gaussian tail inside it.
    """
    n = image_size
    sigma_y = sigma_x if sigma_y is None else sigma_y
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    vx = np.exp(-_offsets(x, n, False) ** 2 / (2 * sigma_x**2))
    hy = np.exp(-_offsets(y, n, False) ** 2 / (2 * sigma_y**2))
    return 0.5 * (vx[:, None, :] + hy[:, :, None])


@_image_size_was_n
def render(family: str, x, y, image_size: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Render one family at centres (x, y) into the [-1, 1] pixel range, float32 (B, N, N)."""
    n = image_size
    if family == "bump":
        inten = bump_intensity(x, y, n, sigma_x, sigma_y)
    elif family == "periodic":
        inten = bump_intensity(x, y, n, sigma_x, sigma_y, periodic=True)
    elif family in ("sos", "stripes"):
        inten = sos_intensity(x, y, n, sigma_x, sigma_y)
    else:
        raise ConfigError(f"data.family = {family!r}: cannot render; use bump, periodic, sos or stripes")
    return to_pixels(inten)


@_image_size_was_n
def render_many(family, x, y, image_size: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Render centres of possibly different families (one name or one per centre), float32 (B, N, N) in [-1, 1]."""
    n = image_size
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    fam = np.broadcast_to(np.asarray(family, dtype=object), x.shape).astype(str)
    out = np.empty((len(x), n, n), dtype=np.float32)
    for f in np.unique(fam):
        sel = fam == f
        out[sel] = render(f, x[sel], y[sel], n, sigma_x, sigma_y)
    return out


def lattice(lo: float, hi: float, spacing: float) -> np.ndarray:
    """Centres lo, lo + spacing, ... up to hi inclusive (pixels)."""
    k = int(np.floor((hi - lo) / spacing + 1e-9))
    return lo + spacing * np.arange(k + 1, dtype=np.float64)
