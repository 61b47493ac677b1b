"""The synthetic datasets of docs/science.md (section 1): the candidate lattice, hold-outs, subsampling.

A :class:`SyntheticDataset` is fully determined by its (resolved)
:class:`~manifold_lens.config.DataConfig`. It lists every *candidate
condition* (the lattice of centres), says for each one whether it is trained
on and which named region it belongs to, and renders images deterministically
(:mod:`manifold_lens.datasets.render`). Stripe examples live on an extended
canvas that reaches ``margin`` pixels beyond the frame on each side, so their
conditions can have x or y outside [0, N-1].

A run store keeps what the dataset was (its conditions and its training set,
as used); :meth:`SyntheticDataset.from_store` restores it from there without
rebuilding the lattice, so readers of a run never re-derive its data.

Each condition carries two labels:

* ``region``, its role in training: ``train`` (in the training set);
  hold-outs ``band_x``, ``band_y``, ``intersection`` (cross), ``interior``,
  ``exterior``, ``donut_hole``, ``beyond`` (outside a donut), ``listed``;
  ``unsampled`` (dropped by keep_fraction); for stripes ``frame_2d`` (in-frame
  2D conditions never shown) and ``rim`` (rim examples left out).
  The stripes rim (``data.rim_kind``, width ``data.rim`` px): ``outside``,
  the stripes centred within ``rim`` px beyond the frame, whose faint second
  stripe shows inside it (trained unless ``include_rim = false``); ``edge``,
  the in-frame 2D examples within ``rim`` px of the frame's border (trained
  with ``include_rim``, else ``frame_2d``), the stripes just outside the frame
  then always left out. Without the rim both kinds give the same training set.
* ``holdout_region``, the hold-out geometry of ``data.holdout`` it lies in
  (the same names: ``band_x`` ... ``listed``), or ``none``; set for every
  in-frame 2D condition of every family, ``none`` for 1D stripe examples.
  For bump, periodic and SOS conditions a held-out condition's region is its
  holdout_region. For the stripes family the hold-out removes nothing (the
  in-frame 2D conditions are never shown anyway; 1D examples cover the whole
  range) and only labels the ``frame_2d`` conditions, so a stripes-only run,
  a stripes + SOS mixture and an SOS run with the same ``data.holdout`` are
  scored on the same bands and intersection
  (:func:`~manifold_lens.evaluation.scoring.aggregate` reports both labels,
  overlapping groups). Stores written before ``holdout_region`` existed are
  read with it derived from their config (:meth:`SyntheticDataset.from_store`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..config import DataConfig, RunConfig
from ..errors import ConfigError
from ..memory import check_dataset_memory
from .render import lattice, render_many


@dataclass(frozen=True)
class Component:
    """One family of a dataset with the conditions it covers."""

    family: str
    weight: float
    keep_fraction: float


class SyntheticDataset:
    """The candidate lattice, its train/held-out split and the renderer.

    Attributes (all arrays over candidate conditions):
        x, y: centres in frame pixels; family: str; region: str (role in training);
        holdout_region: str (hold-out geometry of an in-frame condition, else "none");
        train: bool, True where the condition is in the training set.
    """

    def __init__(self, config: DataConfig | RunConfig):
        self._configure(config)
        check_dataset_memory(self.config)  # before the lattice is built: a one-line error, not a MemoryError
        c, n = self.config, self.image_size
        xs_f = lattice(0, n - 1, c.spacing_x)
        ys_f = lattice(0, n - 1, c.spacing_y)
        parts = []
        for comp in self.components:
            if comp.family == "stripes":
                parts.append(self._stripe_conditions(comp, xs_f, ys_f))
            else:
                parts.append(self._frame_conditions(comp, xs_f, ys_f))
        # In a mixture the in-frame family replaces the stripes family's 2D frame (and any edge rim in it).
        if len(parts) > 1:
            n = self.image_size
            parts = [p if p[2][0] != "stripes" else
                     tuple(a[~((p[0] >= 0) & (p[0] <= n - 1) & (p[1] >= 0) & (p[1] <= n - 1))] for a in p)
                     for p in parts]
        x, y, fam, region, keep_p = (np.concatenate(a) for a in zip(*parts))
        self.x, self.y = x, y
        self.family = fam.astype(str)
        self.holdout_region = holdout_geometry(self.config, x, y)
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
        self._train_set: xr.Dataset | None = None

    @classmethod
    def from_config(cls, config: DataConfig | RunConfig) -> "SyntheticDataset":
        """The dataset a config describes, built (configs are checked when they are built)."""
        return cls(config)

    @classmethod
    def from_store(cls, config: DataConfig | RunConfig, conditions: xr.Dataset,
                   train_set: xr.Dataset) -> "SyntheticDataset":
        """The dataset a run store holds: its stored conditions and training set, nothing rebuilt.

        ``conditions`` and ``train_set`` are the store's ``dataset/conditions``
        and ``dataset/train`` groups; ``config`` gives the widths the
        renderer needs for conditions that were never trained on.
        """
        self = cls.__new__(cls)
        self._configure(config)
        self.x = np.asarray(conditions["x"].values, dtype=np.float64)
        self.y = np.asarray(conditions["y"].values, dtype=np.float64)
        self.family = np.asarray(conditions["family"].values).astype(str)
        self.region = np.asarray(conditions["region"].values).astype(str)
        self.train = np.asarray(conditions["in_train"].values, dtype=bool)
        self.holdout_region = (np.asarray(conditions["holdout_region"].values).astype(str)
                               if "holdout_region" in conditions else holdout_geometry(self.config, self.x, self.y))
        self.weight = np.zeros(len(self.x))
        self.weight[np.asarray(train_set["condition_index"].values)] = train_set["weight"].values
        self._train_set = train_set
        return self

    def _configure(self, config: DataConfig | RunConfig) -> None:
        """Settings shared by built and stored datasets: widths, frame, families."""
        c = (config.data if isinstance(config, RunConfig) else config).resolved()
        self.config = c
        self.image_size = c.image_size
        self.sigma_x, self.sigma_y = float(c.sigma_x), float(c.sigma_y)
        self.periodic = c.family == "periodic" or (c.family == "mixture" and "periodic" in c.mix)
        fams = dict(c.mix) if c.family == "mixture" else {c.family: 1.0}
        self.components = [
            Component(f, float(w), float(c.keep_fractions.get(f, c.keep_fraction))) for f, w in fams.items()
        ]

    # -- conditions -------------------------------------------------------
    def _frame_conditions(self, comp: Component, xs: np.ndarray, ys: np.ndarray):
        gx, gy = np.meshgrid(xs, ys)  # row-major: y slow, x fast
        x, y = gx.ravel(), gy.ravel()
        region = holdout_regions(self.config, x, y)
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
        frame = in_x & in_y
        region = np.full(len(x), "train", dtype=object)
        region[frame] = "frame_2d"
        out_dist = np.where(in_x, np.maximum(-y, y - (n - 1)), np.maximum(-x, x - (n - 1)))
        outside = ~frame & (out_dist <= c.rim)  # stripes just outside the frame: a faint second stripe inside
        if c.rim_kind == "outside":
            if not c.include_rim:
                region[outside] = "rim"
        else:  # the rim is the frame's edge: the stripes just outside are always left out
            region[outside] = "rim"
            edge = frame & (np.minimum(np.minimum(x, n - 1 - x), np.minimum(y, n - 1 - y)) < c.rim)
            if c.include_rim:
                region[edge] = "train"
        fam = np.full(len(x), "stripes", dtype=object)
        return x, y, fam, region, np.full(len(x), comp.keep_fraction)

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
        return render_many(self.family[idx], self.x[idx], self.y[idx], self.image_size, self.sigma_x, self.sigma_y)

    def render(self, x, y, family=None) -> np.ndarray:
        """Render arbitrary centres with this dataset's widths; ``family`` is one name or one per centre
        (default: the first component's)."""
        family = self.components[0].family if family is None else family
        return render_many(family, x, y, self.image_size, self.sigma_x, self.sigma_y)

    def conditions_dataset(self) -> xr.Dataset:
        """Every candidate condition with its train mask, family and region (dim ``condition``)."""
        ds = xr.Dataset(
            coords={
                "x": ("condition", self.x, {"long_name": "bump centre x (column)", "units": "px"}),
                "y": ("condition", self.y, {"long_name": "bump centre y (row)", "units": "px"}),
                "family": ("condition", self.family.astype(str)),
                "region": ("condition", self.region.astype(str),
                           {"long_name": "role in training: train, unsampled, or the hold-out it was held out by"}),
                "holdout_region": ("condition", self.holdout_region.astype(str),
                                   {"long_name": "hold-out geometry of data.holdout the condition lies in",
                                    "description": "set for in-frame 2D conditions of every family (stripes too), "
                                                   "none elsewhere; may differ from region (e.g. frame_2d)"}),
                "in_train": ("condition", self.train, {"long_name": "condition is in the training set"}),
            }
        )
        ds.attrs["description"] = ("candidate lattice of conditions; region names each one's role in training, "
                                   "holdout_region the hold-out geometry it lies in")
        return ds

    def train_dataset(self) -> xr.Dataset:
        """The training set as used: images, centres, family and sampling weight (dim ``example``).

        A stored dataset returns the stored training set; a built one renders it.
        """
        if self._train_set is not None:
            return self._train_set
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


def holdout_regions(config: DataConfig, x, y, outside: str = "train") -> np.ndarray:
    """The hold-out of ``config.holdout`` each centre (x, y) (px) falls in, ``outside`` where none (object array).

    Names: band_x, band_y, intersection (cross), interior, exterior, donut_hole,
    beyond (outside a donut's ring), listed. A range outside the frame, or a
    listed point that is not among (x, y), is a one-line ConfigError.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    h, n = config.holdout, config.image_size
    ctr = (n - 1) / 2.0
    region = np.full(len(x), outside, dtype=object)
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


def holdout_geometry(config: DataConfig, x, y) -> np.ndarray:
    """``holdout_region`` per condition: the hold-out geometry of each in-frame centre, ``none`` elsewhere (str).

    In-frame: both coordinates in [0, N-1] px. Unlike ``region`` this does not
    depend on the family or on subsampling (see the module docstring).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = config.image_size
    inside = (x >= 0) & (x <= n - 1) & (y >= 0) & (y <= n - 1)
    out = np.full(len(x), "none", dtype=object)
    if config.holdout.kind != "none" and inside.any():
        out[inside] = holdout_regions(config.resolved(), x[inside], y[inside], outside="none")
    return out.astype(str)


def build_dataset(config: DataConfig | RunConfig) -> SyntheticDataset:
    """Deprecated: :meth:`SyntheticDataset.from_config`."""
    warnings.warn("build_dataset(config) is deprecated: use SyntheticDataset.from_config(config)",
                  DeprecationWarning, stacklevel=2)
    return SyntheticDataset.from_config(config)
