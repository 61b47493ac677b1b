"""Synthetic datasets of SCIENCE.md section 1: bumps, periodic bumps, SOS, stripes.

Coordinates are pixels of the N x N *frame*: x runs along columns (u), y along
rows (v), and pixel (row v, column u) has its centre at (u, v). An image is
indexed ``image[v, u]``. Stripe examples live on an extended canvas that
reaches ``margin`` pixels beyond the frame on each side, so their conditions
can have x or y outside [0, N-1].

A :class:`SyntheticDataset` is fully determined by its (resolved)
:class:`~manifold_lens.config.DataConfig`. It lists every *candidate
condition* (the lattice of centres), says for each one whether it is trained
on and which named region it belongs to, and renders images deterministically.

Region names: ``train`` (in the training set); hold-outs ``band_x``,
``band_y``, ``intersection`` (cross), ``interior``, ``exterior``,
``donut_hole``, ``beyond`` (outside a donut), ``listed``; ``unsampled`` (dropped
by keep_fraction); for stripes ``frame_2d`` (in-frame 2D conditions never
shown) and ``rim`` (rim examples when excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .config import DataConfig, RunConfig
from .errors import ConfigError

# Pixel range used for training: intensities in [0, 1] map to [-1, 1].
PIXEL_MIN, PIXEL_MAX = -1.0, 1.0


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


def bump_intensity(x, y, n: int, sigma_x: float = 1.0, sigma_y: float | None = None,
                   periodic: bool = False) -> np.ndarray:
    """2D Gaussian bumps, peak 1, shape (B, n, n); periodic wraps distances mod n."""
    sigma_y = sigma_x if sigma_y is None else sigma_y
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    gx = np.exp(-_offsets(x, n, periodic) ** 2 / (2 * sigma_x**2))  # (B, u)
    gy = np.exp(-_offsets(y, n, periodic) ** 2 / (2 * sigma_y**2))  # (B, v)
    return gy[:, :, None] * gx[:, None, :]


def sos_intensity(x, y, n: int, sigma_x: float = 1.0, sigma_y: float | None = None) -> np.ndarray:
    """Sum of stripes: vertical stripe at x plus horizontal stripe at y, halved to [0, 1].

    Each stripe alone peaks at 0.5; where they cross the image reaches 1. A
    centre outside the frame leaves only its Gaussian tail inside it.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    vx = np.exp(-_offsets(x, n, False) ** 2 / (2 * sigma_x**2))
    hy = np.exp(-_offsets(y, n, False) ** 2 / (2 * sigma_y**2))
    return 0.5 * (vx[:, None, :] + hy[:, :, None])


def render(family: str, x, y, n: int, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Render one family at centres (x, y) into the [-1, 1] pixel range, float32 (B, n, n)."""
    if family == "bump":
        inten = bump_intensity(x, y, n, sigma_x, sigma_y)
    elif family == "periodic":
        inten = bump_intensity(x, y, n, sigma_x, sigma_y, periodic=True)
    elif family in ("sos", "stripes"):
        inten = sos_intensity(x, y, n, sigma_x, sigma_y)
    else:
        raise ConfigError(f"data.family = {family!r}: cannot render; use bump, periodic, sos or stripes")
    return to_pixels(inten)


def lattice(lo: float, hi: float, spacing: float) -> np.ndarray:
    """Centres lo, lo + spacing, ... up to hi inclusive (pixels)."""
    k = int(np.floor((hi - lo) / spacing + 1e-9))
    return lo + spacing * np.arange(k + 1, dtype=np.float64)


@dataclass(frozen=True)
class Component:
    """One family of a dataset with the conditions it covers."""

    family: str
    weight: float
    keep_fraction: float


class SyntheticDataset:
    """The candidate lattice, its train/held-out split and the renderer.

    Attributes (all arrays over candidate conditions):
        x, y: centres in frame pixels; family: str; region: str;
        train: bool, True where the condition is in the training set.
    """

    def __init__(self, config: DataConfig | RunConfig):
        if isinstance(config, RunConfig):
            config = config.data
        c = RunConfig(data=config).resolved().data
        self.config = c
        self.image_size = n = c.image_size
        self.sigma_x, self.sigma_y = float(c.sigma_x), float(c.sigma_y)
        self.periodic = c.family == "periodic" or (c.family == "mixture" and "periodic" in c.mix)
        fams = dict(c.mix) if c.family == "mixture" else {c.family: 1.0}
        self.components = [
            Component(f, float(w), float(c.keep_fractions.get(f, c.keep_fraction))) for f, w in fams.items()
        ]
        xs_f = lattice(0, n - 1, c.spacing_x)
        ys_f = lattice(0, n - 1, c.spacing_y)
        parts = []
        for comp in self.components:
            if comp.family == "stripes":
                parts.append(self._stripe_conditions(comp, xs_f, ys_f))
            else:
                parts.append(self._frame_conditions(comp, xs_f, ys_f))
        # In a mixture the in-frame family replaces the stripes family's never-shown 2D frame.
        if len(parts) > 1:
            parts = [p if p[2][0] != "stripes" else tuple(a[p[3] != "frame_2d"] for a in p) for p in parts]
        x, y, fam, region, keep_p = (np.concatenate(a) for a in zip(*parts))
        self.x, self.y = x, y
        self.family = fam.astype(str)
        self.region = region.astype(object)
        self._subsample(keep_p)
        self.region = self.region.astype(str)
        self.train = self.region == "train"
        if not self.train.any():
            raise ConfigError(
                "data.holdout / data.keep_fraction leave no training data: shrink the hold-out or raise keep_fraction"
            )
        self.weight = np.zeros(len(self.x))
        for comp in self.components:
            sel = self.train & (self.family == comp.family)
            if sel.any():
                self.weight[sel] = comp.weight / sel.sum()
        self.weight /= self.weight.sum()

    # -- conditions -------------------------------------------------------
    def _frame_conditions(self, comp: Component, xs: np.ndarray, ys: np.ndarray):
        gx, gy = np.meshgrid(xs, ys)  # row-major: y slow, x fast
        x, y = gx.ravel(), gy.ravel()
        region = self._holdout_regions(x, y)
        fam = np.full(len(x), comp.family, dtype=object)
        return x, y, fam, region, np.full(len(x), comp.keep_fraction)

    def _stripe_conditions(self, comp: Component, xs_f: np.ndarray, ys_f: np.ndarray):
        c, n = self.config, self.image_size
        xs = np.concatenate([xs_f[0] - c.spacing_x * np.arange(1, 1 + int(c.margin / c.spacing_x + 1e-9))[::-1], xs_f,
                             xs_f[-1] + c.spacing_x * np.arange(1, 1 + int(c.margin / c.spacing_x + 1e-9))])
        ys = np.concatenate([ys_f[0] - c.spacing_y * np.arange(1, 1 + int(c.margin / c.spacing_y + 1e-9))[::-1], ys_f,
                             ys_f[-1] + c.spacing_y * np.arange(1, 1 + int(c.margin / c.spacing_y + 1e-9))])
        gx, gy = np.meshgrid(xs, ys)
        x, y = gx.ravel(), gy.ravel()
        in_x = (x >= 0) & (x <= n - 1)
        in_y = (y >= 0) & (y <= n - 1)
        keep = in_x | in_y  # both outside the frame: nothing visible, not a candidate
        x, y, in_x, in_y = x[keep], y[keep], in_x[keep], in_y[keep]
        region = np.full(len(x), "train", dtype=object)
        region[in_x & in_y] = "frame_2d"
        out_dist = np.where(in_x, np.maximum(-y, y - (n - 1)), np.maximum(-x, x - (n - 1)))
        is_rim = ~(in_x & in_y) & (out_dist <= c.rim)
        if not c.include_rim:
            region[is_rim] = "rim"
        fam = np.full(len(x), "stripes", dtype=object)
        return x, y, fam, region, np.full(len(x), comp.keep_fraction)

    def _holdout_regions(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        h, n = self.config.holdout, self.image_size
        ctr = (n - 1) / 2.0
        region = np.full(len(x), "train", dtype=object)
        eps = 1e-9

        def band(rng, w):
            lo, hi = (rng if rng else (ctr - w / 2.0, ctr + w / 2.0))
            if hi < 0 or lo > n - 1:
                raise ConfigError(f"data.holdout range [{lo}, {hi}] lies outside the frame [0, {n - 1}]")
            return lo - eps, hi + eps

        def square(cx, cy, w):
            return ((x >= cx - w / 2 - eps) & (x < cx + w / 2 - eps)
                    & (y >= cy - w / 2 - eps) & (y < cy + w / 2 - eps))

        if h.kind == "band_x":
            lo, hi = band(h.x_range, h.width)
            region[(x >= lo) & (x <= hi)] = "band_x"
        elif h.kind == "band_y":
            lo, hi = band(h.y_range, h.width)
            region[(y >= lo) & (y <= hi)] = "band_y"
        elif h.kind == "cross":
            xlo, xhi = band(h.x_range or h.y_range, h.width)
            ylo, yhi = band(h.y_range or h.x_range, h.width)
            bx = (x >= xlo) & (x <= xhi)
            by = (y >= ylo) & (y <= yhi)
            region[bx & ~by] = "band_x"
            region[by & ~bx] = "band_y"
            region[bx & by] = "intersection"
        elif h.kind == "interior":
            region[square(ctr, ctr, h.width)] = "interior"
        elif h.kind == "exterior":
            w = h.width
            cx = (w - 1) / 2.0 if h.position == "corner" else ctr
            region[square(cx, (w - 1) / 2.0, w)] = "exterior"
        elif h.kind == "donut":
            outer = h.width + 2 * h.ring
            region[~square(ctr, ctr, outer)] = "beyond"
            region[square(ctr, ctr, h.width)] = "donut_hole"
        elif h.kind == "list":
            pts = np.asarray(h.points, dtype=np.float64)
            hit = (np.abs(x[:, None] - pts[None, :, 0]) < 1e-6) & (np.abs(y[:, None] - pts[None, :, 1]) < 1e-6)
            if not hit.any(axis=0).all():
                missing = pts[~hit.any(axis=0)][0].tolist()
                raise ConfigError(f"data.holdout.points: {missing} is not a lattice condition of this dataset")
            region[hit.any(axis=1)] = "listed"
        return region

    def _subsample(self, keep_p: np.ndarray) -> None:
        """Keep round(keep_fraction x n) of each family's trainable sites (at least 1), seeded."""
        rng = np.random.default_rng(self.config.seed)
        for comp in self.components:
            idx = np.flatnonzero((self.family == comp.family) & (self.region == "train"))
            if comp.keep_fraction >= 1 or len(idx) == 0:
                continue
            n_keep = max(1, int(round(comp.keep_fraction * len(idx))))
            drop = rng.permutation(idx)[n_keep:]
            self.region[drop] = "unsampled"

    # -- public API -------------------------------------------------------
    def __len__(self) -> int:
        return int(self.train.sum())

    @property
    def n_conditions(self) -> int:
        return len(self.x)

    @property
    def train_index(self) -> np.ndarray:
        return np.flatnonzero(self.train)

    @property
    def regions(self) -> list[str]:
        return sorted(set(self.region.tolist()))

    def render_conditions(self, index=None) -> np.ndarray:
        """Ground-truth images (float32, [-1, 1]) of candidate conditions by index."""
        idx = np.arange(self.n_conditions) if index is None else np.asarray(index)
        out = np.empty((len(idx), self.image_size, self.image_size), dtype=np.float32)
        for fam in np.unique(self.family[idx]):
            sel = self.family[idx] == fam
            out[sel] = render(fam, self.x[idx][sel], self.y[idx][sel], self.image_size, self.sigma_x, self.sigma_y)
        return out

    def render(self, x, y, family: str | None = None) -> np.ndarray:
        """Render arbitrary centres with this dataset's widths (family defaults to the first component)."""
        fam = family or self.components[0].family
        return render(fam, x, y, self.image_size, self.sigma_x, self.sigma_y)

    def conditions_dataset(self) -> xr.Dataset:
        """Every candidate condition with its train mask, family and region (dim ``condition``)."""
        ds = xr.Dataset(
            coords={
                "x": ("condition", self.x, {"long_name": "bump centre x (column)", "units": "px"}),
                "y": ("condition", self.y, {"long_name": "bump centre y (row)", "units": "px"}),
                "family": ("condition", self.family.astype(str)),
                "region": ("condition", self.region.astype(str)),
                "in_train": ("condition", self.train, {"long_name": "condition is in the training set"}),
            }
        )
        ds.attrs["description"] = "candidate lattice of conditions; region names the hold-out each belongs to"
        return ds

    def train_dataset(self) -> xr.Dataset:
        """The training set as used: images, centres, family and sampling weight (dim ``example``)."""
        idx = self.train_index
        ds = xr.Dataset(
            {
                "image": (("example", "row", "col"), self.render_conditions(idx),
                          {"long_name": "training image", "units": "pixel value in [-1, 1]"}),
                "weight": ("example", self.weight[idx], {"long_name": "probability of drawing the example"}),
                "condition_index": ("example", idx, {"long_name": "index into the candidate conditions"}),
            },
            coords={
                "x": ("example", self.x[idx], {"units": "px"}),
                "y": ("example", self.y[idx], {"units": "px"}),
                "family": ("example", self.family[idx].astype(str)),
            },
        )
        return ds


def build_dataset(config: DataConfig | RunConfig) -> SyntheticDataset:
    """Build the dataset a config describes (validating it first)."""
    if isinstance(config, DataConfig):
        config = RunConfig(data=config)
    config.validate()
    return SyntheticDataset(config)
