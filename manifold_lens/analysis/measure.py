"""``measure``: every representation metric of one layer, one timestep, one checkpoint.

Input is an ``xarray.DataArray`` of activations with dims (``condition``,
``unit``), or (``condition``, ``draw``, ``unit``) with independent noise draws
of the same conditions, and coordinates ``x`` and ``y`` on ``condition``, from
this toolkit or from any model. The output Dataset has only fixed-size dims,
so results for many checkpoints, timesteps and layers stack with
``xr.concat``.

Noise. Independent noise in each condition's activations pulls cosines toward
0 and continuity down: it mimics a "hyper-factorized" code. With two or more
draws, every statistic built from inner products between conditions
(factorization score and principal angles, chord statistics, similarity by
distance, continuity index) uses the *cross-draw Gram*
``sum_{k != l} H_k H_l^T / (K (K - 1))`` (:func:`~manifold_lens.analysis.geometry.draw_grams`),
in which independent noise cancels in expectation. Statistics that are
*products* or absolute values of inner products are biased even so; with
K >= 4 draws they use the cross-draw Grams of two disjoint halves of the
draws, whose noises are independent (:func:`~manifold_lens.analysis.geometry.draw_gram_set`):
the PCA spectrum and effective dimension, and |<u, v>| of the orthogonality
statistics (:mod:`~manifold_lens.analysis.chords`). Embeddings, decoding,
neighbourhood preservation and topology use the mean over draws (they need
the points themselves); so do the spectrum and effective dimension with 2-3
draws. Each variable says which in its ``inner_products`` attr; the global
attrs ``draws`` and ``estimator`` ("split-draw", "cross-draw" or "plain")
record what was possible, and ``signal_to_noise`` (NaN with a ``reason``
attr for one draw) qualifies every chord statistic (its
``ancillary_variables`` attr). With one draw (no ``draw`` dim, or one of
length 1) everything uses the plain Gram and a note says the estimate is
noise-biased.

See :mod:`~manifold_lens.analysis.geometry`, :mod:`~manifold_lens.analysis.factorization`,
:mod:`~manifold_lens.analysis.continuity` and :mod:`~manifold_lens.analysis.topology` for the definitions.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..errors import ManifoldLensError
from . import continuity as cont
from . import factorization as fact
from . import geometry as geom
from . import topology as topo
from .homology_variables import N_BARS, homology_variables, rule_setting_coord
from .metric_variables import (COS_BIN_EDGES, CROSS_DRAW_VARIABLES, ESTIMATOR_TEXT, MEAN_VARIABLES,
                               chord_variables, continuity_variables, decoding_variables, factorization_variables,
                               geometry_variables, mark_inner_products, signal_to_noise)

__all__ = ["COS_BIN_EDGES", "CROSS_DRAW_VARIABLES", "ESTIMATOR_TEXT", "MEAN_VARIABLES", "MIN_DISTINCT_VALUES", "N_BARS",
           "measure"]

MIN_DISTINCT_VALUES = 3


def _fail(msg: str):
    raise ManifoldLensError(msg)


def _validate(activations) -> tuple[np.ndarray, np.ndarray, np.ndarray, xr.DataArray]:
    """Check the input; return (values (draw, n, d), x, y, the DataArray transposed to ([draw,] condition, unit))."""
    if not isinstance(activations, xr.DataArray):
        _fail(f"activations: expected an xarray.DataArray with dims ('condition', 'unit'), "
              f"got {type(activations).__name__}")
    if set(activations.dims) not in ({"condition", "unit"}, {"condition", "draw", "unit"}):
        _fail(f"activations: dims must be ('condition', 'unit') or ('condition', 'draw', 'unit'), got "
              f"{tuple(activations.dims)}; select or average the other dims first (e.g. .sel(timestep=50))")
    if activations.sizes.get("draw", 1) < 1:
        _fail("activations: no noise draws (dim 'draw' has size 0)")
    da = activations.transpose(*(("draw",) if "draw" in activations.dims else ()), "condition", "unit")
    for c in ("x", "y"):
        if c not in da.coords:
            _fail(f"activations: missing coordinate {c!r} on 'condition'; "
                  f"add it with .assign_coords({c}=('condition', values))")
        if da.coords[c].dims != ("condition",):
            _fail(f"activations: coordinate {c!r} must have dims ('condition',), got {da.coords[c].dims}")
        if not np.issubdtype(da.coords[c].dtype, np.number) or not np.all(np.isfinite(da.coords[c].values)):
            _fail(f"activations: coordinate {c!r} must hold finite numbers")
        n_distinct = len(np.unique(np.round(da.coords[c].values.astype(np.float64), 9)))
        if n_distinct < MIN_DISTINCT_VALUES:
            _fail(f"activations: coordinate {c!r} has {n_distinct} distinct value(s); "
                  f"need at least {MIN_DISTINCT_VALUES} to measure a manifold")
    if da.sizes["unit"] < 1:
        _fail("activations: no units (dim 'unit' has size 0)")
    values = np.asarray(da.values)
    values = values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)
    values = values if values.ndim == 3 else values[None]  # (draw, condition, unit); kept in its dtype
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        _fail(f"activations: {bad} NaN or infinite value(s); drop or fill them before measuring")
    return values, da.coords["x"].values, da.coords["y"].values, da


def _draw_notes(da) -> list[str]:
    """The note for activations with fewer than two noise draws (their statistics are noise-biased)."""
    if "draw" not in da.dims:
        return ["one noise draw (no 'draw' dim): statistics use plain inner products, which independent noise "
                "biases toward 0 (hyper-factorized); give >= 2 draws (dim 'draw') for noise-robust estimates"]
    if da.sizes["draw"] == 1:
        return ["dim 'draw' has length 1: no cross-draw estimate; statistics use plain inner products of the one "
                "draw, which independent noise biases toward 0 (hyper-factorized)"]
    return []


def _coords(da, data, cfg):
    coords = {name: c.variable for name, c in da.coords.items() if c.dims == ("condition",)}
    coords.update({
        "component": np.arange(1, cfg["n_components"] + 1),
        "angle": np.arange(1, cfg["max_angles"] + 1),
        "distance": xr.Variable(("distance",), np.arange(1, cfg["max_distance"] + 1),
                                {"long_name": "feature distance", "units": "lattice steps"}),
        "cos_bin": xr.Variable(("cos_bin",), (COS_BIN_EDGES[:-1] + COS_BIN_EDGES[1:]) / 2,
                               {"long_name": "cosine (bin centre)", "units": "1"}),
        "cos_bin_lower": ("cos_bin", COS_BIN_EDGES[:-1]),
        "cos_bin_upper": ("cos_bin", COS_BIN_EDGES[1:]),
    })
    if "persistence_diagram" in data:
        coords["bar"] = xr.Variable(("bar",), np.arange(1, N_BARS + 1),
                                    {"long_name": "bar rank", "description": "1 = the most persistent bar"})
        coords["homology_dim"] = xr.Variable(("homology_dim",), np.array([0, 1]),
                                             {"long_name": "homology dimension", "units": "1"})
        coords["endpoint"] = xr.Variable(("endpoint",), np.array(["birth", "death"]),
                                         {"description": "Rips scale (a distance) at which a bar is born / dies"})
        coords["null_draw"] = np.arange(1, cfg["homology_null_draws"] + 1)
        coords["rule_setting"] = rule_setting_coord(cfg)
    if any(name.startswith("embedding_") for name in data):
        coords["embed_dim"] = np.arange(3)
        coords["embed_dim_2d"] = np.arange(2)
    return coords


def measure(
    activations: xr.DataArray,
    *,
    periodic: bool | None = None,
    period: float | tuple[float, float] | None = None,
    embed=("pca",),
    n_components: int = 15,
    n_chord_pairs: int = 20000,
    n_neighbors: int = cont.NEIGHBORS,
    subspace_energy: float = 0.95,
    max_angles: int = 16,
    max_distance: int = 32,
    n_splits: int = 5,
    homology: bool | None = None,
    homology_points: int = topo.MAX_POINTS,
    homology_null_draws: int = topo.NULL_DRAWS,
    betti_min_ratio: float = topo.MIN_DEATH_BIRTH_RATIO,
    homology_neighbors: int = topo.NEIGHBORS,
    seed: int = 0,
    progress: bool = False,
) -> xr.Dataset:
    """Geometry, factorization and continuity metrics of one set of activations.

    Parameters
    ----------
    activations : DataArray (condition, unit) or (condition, draw, unit), any order, with coords
        ``x``, ``y`` on condition; ``draw`` holds independent noise draws of the same conditions
        (two or more give the cross-draw estimates of the module docstring).
    periodic : the features wrap around (periodic bumps). None: ``activations.attrs['periodic']``
        if present, else False. Periodic runs use cos/sin decoding targets, wrapped
        distances and, by default, persistent homology.
    period : (px, py) or one value for both, in coordinate units. None:
        ``activations.attrs['period']`` if present, else the value range plus one lattice step.
    embed : embeddings to compute, any of "pca", "isomap", "umap" (tuple or comma string).
    n_components : length of the explained-variance spectrum (NaN-padded), >= 4.
    n_chord_pairs : chord pairs sampled per chord statistic (seeded).
    n_neighbors : k of the neighbourhood-preservation measures.
    subspace_energy : energy kept in the x- and y-subspaces for principal angles.
    max_angles, max_distance : fixed lengths of dims ``angle`` and ``distance``.
    n_splits : folds of the decodability cross-validation.
    homology : compute H0/H1 persistence and the tested loop count ``betti_1`` (needs ripser), for
        periodic and non-periodic data alike. None: same as ``periodic``.
    homology_points : grid cells used as they are up to this many, a farthest-point subsample beyond.
    homology_null_draws : shuffled copies whose longest H1 bar a loop must outlast.
    betti_min_ratio : death / birth a loop must exceed in locally scaled distances (2 in plain ones at the
        default 2.5: sampling holes close within sqrt 2); see :mod:`~manifold_lens.analysis.topology`.
    homology_neighbors : k of the local scale (distance to the k-th nearest neighbour) of the loop count.
    seed : seeds chord sampling, cross-validation and UMAP.
    progress : show a progress bar over the stages.

    Returns an ``xarray.Dataset``; every variable has ``long_name``, ``description``
    and ``units`` attrs; global attrs record the settings and ``notes`` on anything skipped.
    """
    values, x, y, da = _validate(activations)
    if n_components < 4:
        _fail(f"n_components: must be >= 4 (explained_variance_top4 needs 4), got {n_components}")
    periodic = bool(da.attrs.get("periodic", False)) if periodic is None else bool(periodic)
    period = da.attrs.get("period") if period is None else period
    homology = periodic if homology is None else bool(homology)
    if homology and importlib.util.find_spec("ripser") is None:  # a dependency: refused, never silently skipped
        _fail("homology needs ripser, a dependency of manifold-lens missing from this environment: "
              "pip install ripser (or pass homology=False)")
    if homology and not (int(homology_points) == homology_points and homology_points >= topo.MIN_POINTS):
        _fail(f"homology_points: must be an integer >= {topo.MIN_POINTS}, got {homology_points}")
    if homology and not (int(homology_null_draws) == homology_null_draws and homology_null_draws >= 1):
        _fail(f"homology_null_draws: must be an integer >= 1, got {homology_null_draws}")
    if homology and not betti_min_ratio >= 1:
        _fail(f"betti_min_ratio: must be a number >= 1 (death / birth), got {betti_min_ratio}")
    if homology and not (int(homology_neighbors) == homology_neighbors and homology_neighbors >= 1):
        _fail(f"homology_neighbors: must be an integer >= 1, got {homology_neighbors}")
    cfg = {"embed": geom.check_embed_methods(embed), "n_components": n_components, "n_chord_pairs": n_chord_pairs,
           "n_neighbors": n_neighbors, "subspace_energy": subspace_energy, "max_angles": max_angles,
           "max_distance": max_distance, "n_splits": n_splits, "homology_points": homology_points,
           "homology_null_draws": homology_null_draws, "betti_min_ratio": betti_min_ratio,
           "homology_neighbors": int(homology_neighbors),
           "seed": seed, "periodic": periodic,
           "cross_draw": values.shape[0] >= 2, "draws": values.shape[0]}
    grid = fact.ConditionGrid.from_coords(x, y, periodic=periodic, period=period)
    for axis, vals, p in (("x", grid.xs, grid.period_x), ("y", grid.ys, grid.period_y)):
        if periodic and not p > vals[-1] - vals[0]:
            _fail(f"period: the {axis} period {p:g} must exceed the range of {axis} values "
                  f"({vals[-1] - vals[0]:g}); give period=(px, py)")
    notes: list[str] = _draw_notes(da)
    data: dict[str, xr.Variable] = {}
    stages = ["geometry", "factorization", "chords", "decoding", "continuity"] + (["homology"] if homology else [])
    with tqdm(total=len(stages) + 1, desc="measure", disable=not progress, leave=False) as bar:
        # the large products (K + 1 of them with K draws): BLAS threads help here
        gram, cross, halves = geom.draw_gram_set(values)
        cross = gram if cross is None else cross
        bar.update(1)
        # Everything else is many small LAPACK calls, which multithreaded BLAS slows down
        # badly on a busy machine (100x for a 200 x 200 Cholesky under oversubscription).
        with threadpool_limits(limits=1, user_api="blas"):
            geometry_variables(gram, values.shape[1:], cfg, data, notes, cross, halves)
            bar.update(1)
            cell_gram = grid.cell_gram(gram)  # of the draw mean
            cell_cross = grid.cell_gram(cross) if cfg["cross_draw"] else cell_gram
            gaa, gbb = factorization_variables(grid, cell_cross, cfg, data, notes)
            bar.update(1)
            cell_halves = None if halves is None else tuple(grid.cell_gram(h) for h in halves)
            chord_variables(grid, cell_cross, cfg, data, notes, cell_halves)
            bar.update(1)
            decoding_variables(grid, gram, x, y, cfg, data, notes)
            bar.update(1)
            continuity_variables(grid, gram, cell_cross, gaa, gbb, cfg, data, notes)
            bar.update(1)
            if homology:
                homology_variables(cell_gram, cfg, data, notes)
                bar.update(1)
    signal_to_noise(gram, cross if cfg["cross_draw"] else None, values.shape[0], data, notes, halves is not None)
    mark_inner_products(data, split=halves is not None)
    ds = xr.Dataset(data, coords=_coords(da, data, cfg))
    k_draws, n, d = values.shape
    ds.attrs.update({
        "n_conditions": n, "n_units": d, "draws": k_draws,
        "estimator": ("split-draw" if halves is not None else "cross-draw") if cfg["cross_draw"] else "plain",
        "estimator_description": ESTIMATOR_TEXT, "n_x_values": grid.nx, "n_y_values": grid.ny,
        "n_cells": grid.n_cells, "periodic": int(periodic),
        "period_x": grid.period_x, "period_y": grid.period_y,
        "embed": ",".join(cfg["embed"]), "n_chord_pairs": n_chord_pairs, "n_neighbors": n_neighbors,
        "subspace_energy": subspace_energy, "n_splits": n_splits, "homology": int(homology),
        "homology_points": homology_points, "homology_null_draws": homology_null_draws,
        "betti_min_ratio": betti_min_ratio, "homology_neighbors": homology_neighbors, "seed": seed,
        "cos_bin_edges": COS_BIN_EDGES.tolist(),
        "notes": "; ".join(notes),
    })
    return ds
