"""The conditions an analysis looks at, and their ground-truth images.

By default every candidate condition of a run's stored dataset (training and
held out, with its region); or a grid of (x, y) values in pixels, where grid
points that are candidates keep their region and train mask and the others
are ``off_lattice``. Images come from the dataset's renderer
(:mod:`manifold_lens.datasets.render`), the one place images are drawn.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..coords import label
from ..errors import ManifoldLensError


def _parse_axis(values, name: str) -> np.ndarray:
    """A list of numbers, an 'a,b,c' string or a 'lo:hi[:step]' string (inclusive) -> float array."""
    if isinstance(values, str) and ":" not in values:
        try:
            values = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ManifoldLensError(f"{name} = {values!r}: use numbers, e.g. 0:31:2 or 3,5,7") from None
    if isinstance(values, str):
        parts = values.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ManifoldLensError(f"{name} = {values!r}: use numbers, e.g. 0:31:2 or 3,5,7") from None
        if len(parts) not in (2, 3) or (len(parts) == 3 and nums[2] <= 0) or nums[1] < nums[0]:
            raise ManifoldLensError(f"{name} = {values!r}: a range is lo:hi or lo:hi:step with lo <= hi and step > 0")
        step = nums[2] if len(parts) == 3 else 1.0
        return nums[0] + step * np.arange(int(np.floor((nums[1] - nums[0]) / step + 1e-9)) + 1)
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.size == 0:
        raise ManifoldLensError(f"{name} = []: give at least one value")
    return arr


def condition_grid(dataset, x=None, y=None) -> xr.Dataset:
    """Conditions to extract at, for a :class:`~manifold_lens.datasets.SyntheticDataset` (built or stored).

    With ``x = y = None``: every candidate condition (training and held out)
    with its region. Otherwise the grid of all (x, y) pairs of the given values
    (lists, 'a,b,c' or 'lo:hi[:step]' strings, inclusive, in pixels); a grid point that
    is a candidate keeps its region and train mask, others get region
    ``off_lattice``. Points outside the canvas (the span of the candidate
    lattice) raise ManifoldLensError. Adds ``condition_index`` (-1 off lattice).
    """
    cands = dataset.conditions_dataset()
    idx_all = np.arange(cands.sizes["condition"])
    if x is None and y is None:
        return label(cands.assign_coords(condition_index=("condition", idx_all)))
    cx, cy = np.asarray(dataset.x), np.asarray(dataset.y)
    xs = np.unique(cx) if x is None else _parse_axis(x, "x")
    ys = np.unique(cy) if y is None else _parse_axis(y, "y")
    for name, vals, c in (("x", xs, cx), ("y", ys, cy)):
        bad = vals[(vals < c.min() - 1e-9) | (vals > c.max() + 1e-9)]
        if bad.size:
            raise ManifoldLensError(
                f"{name} = {bad[:5].tolist()} outside the canvas [{c.min():g}, {c.max():g}] px of this run's dataset"
            )
    gx, gy = np.meshgrid(xs, ys)  # y slow, x fast, as the dataset's lattice
    gx, gy = gx.ravel(), gy.ravel()
    match = (np.abs(gx[:, None] - cx[None]) < 1e-6) & (np.abs(gy[:, None] - cy[None]) < 1e-6)
    found = match.any(axis=1)
    index = np.where(found, match.argmax(axis=1), -1)
    region = np.where(found, cands["region"].values[index], "off_lattice").astype(str)
    family = np.where(found, cands["family"].values[index], dataset.components[0].family).astype(str)
    in_train = np.where(found, cands["in_train"].values[index], False)
    ds = xr.Dataset(coords={
        "x": ("condition", gx, cands["x"].attrs),
        "y": ("condition", gy, cands["y"].attrs),
        "family": ("condition", family),
        "region": ("condition", region),
        "in_train": ("condition", in_train.astype(bool), cands["in_train"].attrs),
        "condition_index": ("condition", index),
    })
    ds.attrs = dict(cands.attrs)
    return label(ds)  # x, y: the shared long names and units (manifold_lens.coords)


def render_grid(dataset, conditions: xr.Dataset) -> np.ndarray:
    """Ground-truth images (condition, 1, N, N) of conditions from :func:`condition_grid`."""
    return dataset.render(conditions["x"].values, conditions["y"].values, conditions["family"].values)[:, None]
