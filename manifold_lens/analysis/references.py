"""Empirical and ideal references: what a metric of the learned code is compared with (docs/science.md, section 6).

A representation metric means little alone: the pixels and an untrained
network already look "factorized" by some measures. Every analysis measures,
on the same condition grid, layer and timestep, the learned code and:

- ``pixels``: the ground-truth images themselves (one unit per pixel);
- ``init``: the same layer of the untrained network (the run's step-0
  checkpoint), extracted with the same settings;
- ``shuffled``: the learned code with its condition labels permuted (seeded):
  the null of a code that carries no (x, y) structure but the same spectrum
  (the same points, so its homology is the learned code's and is not
  recomputed: NaN there);
- ``torus3d``, ``clifford``: the ideal 3-D ring torus (x and y coupled; R = 2 r;
  its ``betti_1`` is NaN, with the reason, on grids where the loop count is
  not calibrated for it: :func:`torus3d_loop_problem`) and the
  Clifford torus ``(cos ax, sin ax, cos ay, sin ay)/sqrt 2`` (x and y in
  orthogonal planes), the ideal references of periodic data;
- ``plane``: a flat sheet ``(x, y)``, the ideal reference of non-periodic data;
- ``conjunctive``: units tuned to (x, y) jointly (:func:`conjunctive_code`,
  2-D Gaussian bumps on a lattice of centres): continuous and entangled, the
  reference a factorization claim must beat (a smooth code is not thereby
  factorized).

:func:`stack_references` puts the summary metrics (every variable without a
``condition`` dim) of all of them along a ``reference`` dim, learned first;
per-condition variables (embeddings) stay those of the learned code.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import factorization as fact
from .settings import REFERENCES  # the names are declared with the settings

DESCRIPTIONS = {
    "learned": "the activations of the analysed checkpoint",
    "pixels": "the ground-truth images (one unit per pixel)",
    "init": "the same layer of the untrained network (step-0 checkpoint), same extraction",
    "shuffled": "the learned code with condition labels permuted (seeded null)",
    "torus3d": "ideal 3-D ring torus on the same grid (x and y coupled)",
    "clifford": "ideal Clifford torus (cos ax, sin ax, cos ay, sin ay)/sqrt 2 on the same grid",
    "plane": "ideal flat sheet (x, y) on the same grid: the ideal code of non-periodic data",
    "conjunctive": "2-D Gaussian tuning curves over (x, y) on the same grid: continuous but not factorized",
}
CONJUNCTIVE_CENTRES = 8  # bump centres per feature: CONJUNCTIVE_CENTRES^2 units
SHUFFLE_SEED_OFFSET = 7919  # the shuffle's seed is the analysis seed plus this (recorded in attrs)
# The grids on which the loop count is calibrated right for the ideal 3-D torus (R = 2 r, an even angle grid;
# benchmarks/calibration_loops.py): at least this many x values (around the ring) and y values (around the
# tube), and no more y than x values (the outer ring's step is (R + r) / r = 3 tube steps at nx = ny).
TORUS3D_MIN_X, TORUS3D_MIN_Y = 16, 12
LOOP_VARIABLES = ("betti_1", "betti_1_band", "betti_1_conclusive", "betti_1_plain", "betti_1_scaled")


def _like(values: np.ndarray, template: xr.DataArray, unit: str = "unit") -> xr.DataArray:
    """A (condition, unit) DataArray holding ``values`` with the template's condition coordinates and attrs."""
    coords = {k: v.variable for k, v in template.coords.items() if v.dims == ("condition",)}
    return xr.DataArray(np.asarray(values, dtype=np.float64), dims=("condition", unit), coords=coords,
                        attrs=dict(template.attrs))


def ideal_codes(template: xr.DataArray) -> dict[str, xr.DataArray]:
    """The ideal codes (torus3d, clifford, plane) of the template's conditions, angles as ``measure`` sets them.

    ``template`` is any activations DataArray with ``x``, ``y`` on ``condition``
    and the ``periodic`` / ``period`` attrs measure reads.
    """
    x = np.asarray(template["x"].values, dtype=np.float64)
    y = np.asarray(template["y"].values, dtype=np.float64)
    periodic = bool(template.attrs.get("periodic", False))
    grid = fact.ConditionGrid.from_coords(x, y, periodic=periodic, period=template.attrs.get("period"))
    tx, ty = grid.angles(of_cells=False)
    return {
        "torus3d": _like(fact.torus3d(tx, ty), template),
        "clifford": _like(fact.clifford_torus(tx, ty), template),
        "plane": _like(np.column_stack([x - x.mean(), y - y.mean()]), template),
        "conjunctive": _like(conjunctive_code(tx, ty, periodic), template),
    }


def conjunctive_code(theta_x: np.ndarray, theta_y: np.ndarray, periodic: bool,
                     centres: int = CONJUNCTIVE_CENTRES) -> np.ndarray:
    """Units tuned to (x, y) jointly: ``exp(-(dx^2 + dy^2) / (2 s^2))`` (conditions x centres^2).

    Angles as :meth:`~manifold_lens.analysis.factorization.ConditionGrid.angles`
    gives them (radians); centres on the ``centres x centres`` lattice of
    angles ``2 pi i / centres``; width s = one centre spacing (2 pi / centres);
    dx, dy the angle differences, wrapped around the circle when ``periodic``.
    Each unit is a product of an x-bump and a y-bump, so no additive code
    h = a(x) + b(y) reproduces it, while neighbouring conditions get nearly the
    same code (continuous).
    """
    c = 2 * np.pi * np.arange(centres) / centres
    dx = np.abs(np.asarray(theta_x, dtype=np.float64)[:, None] - c[None, :])
    dy = np.abs(np.asarray(theta_y, dtype=np.float64)[:, None] - c[None, :])
    if periodic:
        dx, dy = np.minimum(dx, 2 * np.pi - dx), np.minimum(dy, 2 * np.pi - dy)
    s2 = 2 * (2 * np.pi / centres) ** 2
    bx, by = np.exp(-dx**2 / s2), np.exp(-dy**2 / s2)  # (n, centres) each
    return (bx[:, :, None] * by[:, None, :]).reshape(len(bx), -1)


def torus3d_loop_problem(nx: int, ny: int) -> str:
    """Why the loop count of the ideal 3-D torus on an nx x ny grid is not to be trusted ("" when it is)."""
    if nx >= TORUS3D_MIN_X and ny >= TORUS3D_MIN_Y and ny <= nx:
        return ""
    return (f"torus3d betti_1 is NaN: on a {nx} x {ny} grid the ideal 3-D torus is sampled outside the range where "
            f"the loop count is calibrated (>= {TORUS3D_MIN_X} x values, >= {TORUS3D_MIN_Y} y values, no more y "
            f"than x values)")


def mask_torus3d_loops(ds: xr.Dataset | None) -> xr.Dataset | None:
    """The torus3d reference's Dataset with its loop count NaN (the reason in ``betti_1``'s note and the notes)
    where :func:`torus3d_loop_problem` says its grid is too coarse; unchanged otherwise."""
    if ds is None or "betti_1" not in ds:
        return ds
    problem = torus3d_loop_problem(int(ds.attrs.get("n_x_values", 0)), int(ds.attrs.get("n_y_values", 0)))
    if not problem:
        return ds
    ds = ds.copy()
    for var in LOOP_VARIABLES:
        if var in ds:
            ds[var] = ds[var].astype(np.float64).where(False)
    ds["betti_1"].attrs["note"] = problem
    ds.attrs["notes"] = "; ".join(n for n in (ds.attrs.get("notes", ""), problem) if n)
    return ds


def pixel_code(images: np.ndarray, template: xr.DataArray) -> xr.DataArray:
    """The ground-truth images (condition, row, col) as a code with one unit per pixel."""
    images = np.asarray(images, dtype=np.float64)
    return _like(images.reshape(len(images), -1), template)


def shuffled_code(activations: xr.DataArray, seed: int) -> xr.DataArray:
    """``activations`` with their condition labels permuted (the same permutation for every draw and timestep)."""
    perm = np.random.default_rng(seed).permutation(activations.sizes["condition"])
    axis = activations.get_axis_num("condition")
    return activations.copy(data=np.take(activations.values, perm, axis=axis))


def learned(obj):
    """The learned code's values of a Dataset or DataArray with a ``reference`` dim (unchanged without one)."""
    return obj.sel(reference="learned", drop=True) if "reference" in obj.dims else obj


def summary_variables(ds: xr.Dataset) -> list[str]:
    """The variables that carry the ``reference`` dim: every one without a ``condition`` dim."""
    return [str(v) for v in ds.data_vars if "condition" not in ds[v].dims]


def stack_references(learned: xr.Dataset, others: dict[str, xr.Dataset | None]) -> xr.Dataset:
    """``learned`` with its summary metrics extended along ``reference`` (learned first, then ``others``).

    A reference that is None, or lacks a variable, is NaN there; the torus3d
    reference's loop count is NaN on grids too coarse for it (the reason in
    the ``reference_notes`` attr; :func:`torus3d_loop_problem`).
    """
    order = {n: i for i, n in enumerate(REFERENCES)}
    names = ["learned", *sorted(others, key=lambda n: order.get(n, len(order)))]
    out = learned.copy()
    masked = mask_torus3d_loops(others.get("torus3d"))
    if masked is not None and masked is not others.get("torus3d"):  # why its loop count is NaN
        out.attrs["reference_notes"] = masked["betti_1"].attrs["note"]
    for var in summary_variables(learned):
        base = learned[var]
        parts = []
        for name in names:
            ds = learned if name == "learned" else mask_torus3d_loops(others[name]) if name == "torus3d" \
                else others[name]
            if ds is not None and var in ds and ds[var].dims == base.dims:
                parts.append(ds[var].variable.astype(np.float64) if base.dtype.kind in "iub" else ds[var].variable)
            else:
                parts.append(xr.full_like(base, np.nan, dtype=np.float64).variable)
        stacked = xr.Variable.concat(parts, dim="reference")
        out[var] = xr.Variable(stacked.dims, stacked.values, base.attrs)
    out = out.assign_coords(reference=xr.Variable(("reference",), np.array(names), {
        "long_name": "code measured",
        "description": "; ".join(f"{n}: {DESCRIPTIONS.get(n, n)}" for n in names)}))
    return out
