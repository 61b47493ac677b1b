"""``measure``: every representation metric of one layer, one timestep, one checkpoint.

Input is an ``xarray.DataArray`` of activations with dims (``condition``,
``unit``) and coordinates ``x`` and ``y`` on ``condition``, from this toolkit
or from any model. The output Dataset has only fixed-size dims, so results for
many checkpoints, timesteps and layers stack with ``xr.concat``. See
:mod:`~manifold_lens.analysis.geometry`, :mod:`~manifold_lens.analysis.factorization`,
:mod:`~manifold_lens.analysis.continuity` and :mod:`~manifold_lens.analysis.topology` for the definitions.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..errors import ManifoldLensError
from . import continuity as cont
from . import factorization as fact
from . import geometry as geom
from . import topology as topo

MANIFOLDS = ("learned", "torus3d", "clifford")
COS_BIN_EDGES = np.linspace(-1.0, 1.0, 41)
MIN_DISTINCT_VALUES = 3
N_BARS = 8  # H1 bars stored

_CHORD_TEXT = {
    "x_on_y": ("x-on-y orthogonality", "mean |cos| between random x-chords h(x2,y)-h(x1,y) and "
               "y-chords h(x,y2)-h(x,y1); 0 = x and y move the code in orthogonal directions"),
    "x_on_x": ("x-on-x orthogonality", "mean |cos| between x-chords of two value pairs sharing no "
               "x value; 0 = different x values are mutually orthogonal (hyper-factorized)"),
    "y_on_y": ("y-on-y orthogonality", "mean |cos| between y-chords of two value pairs sharing no "
               "y value; 0 = different y values are mutually orthogonal (hyper-factorized)"),
    "x_parallelism": ("x parallelism", "mean cos between the same x-chord (x1, x2) at two different "
                      "y; 1 = the x step is the same vector whatever y"),
    "y_parallelism": ("y parallelism", "mean cos between the same y-chord (y1, y2) at two different "
                      "x; 1 = the y step is the same vector whatever x"),
}


def _fail(msg: str):
    raise ManifoldLensError(msg)


def _validate(activations) -> tuple[np.ndarray, np.ndarray, np.ndarray, xr.DataArray]:
    """Check the input; return (values (n, d), x, y, the DataArray transposed to (condition, unit))."""
    if not isinstance(activations, xr.DataArray):
        _fail(f"activations: expected an xarray.DataArray with dims ('condition', 'unit'), "
              f"got {type(activations).__name__}")
    if set(activations.dims) != {"condition", "unit"} or activations.ndim != 2:
        _fail(f"activations: dims must be ('condition', 'unit'), got {tuple(activations.dims)}; "
              "select or average the other dims first (e.g. .mean('draw'))")
    da = activations.transpose("condition", "unit")
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
    values = np.asarray(da.values, dtype=np.float64)
    bad = int(np.sum(~np.isfinite(values)))
    if bad:
        _fail(f"activations: {bad} NaN or infinite value(s); drop or fill them before measuring")
    return values, da.coords["x"].values, da.coords["y"].values, da


def _var(data, dims, long_name, description, units="1", **extra) -> xr.Variable:
    attrs = {"long_name": long_name, "description": description, "units": units}
    attrs.update(extra)
    return xr.Variable(dims, np.asarray(data), attrs)


def _geometry(gram, n_dims, cfg, data, notes):
    """PCA spectrum, effective dimension and embeddings; returns nothing (fills ``data``)."""
    n, d = n_dims
    n_top = max(cfg["n_components"], 3, geom.EMBED_INPUT_COMPONENTS if set(cfg["embed"]) - {"pca"} else 0)
    eigval, eigvec = geom.top_eigenpairs(gram, n_top)
    n_available = min(n - 1, d)
    k = cfg["n_components"]
    ratio = geom.explained_variance_ratio(eigval, float(np.trace(gram)), k, n_available)
    cov_eig = np.full(k, np.nan)
    m = min(k, n_available, len(eigval))
    cov_eig[:m] = eigval[:m] / (n - 1)
    data["explained_variance_ratio"] = _var(
        ratio, ("component",), "explained-variance ratio",
        "fraction of the total variance along each principal component (PCA over conditions); "
        "NaN beyond the number of components the data has (min(conditions - 1, units))")
    data["explained_variance"] = _var(
        cov_eig, ("component",), "explained variance",
        "covariance eigenvalue of each principal component", units="activation^2")
    data["explained_variance_top4"] = _var(
        np.nansum(ratio[:4]), (), "explained variance of the top 4 components",
        "sum of the explained-variance ratios of the first 4 principal components")
    data["effective_dim"] = _var(
        geom.effective_dim_from_gram(gram), (), "effective dimension",
        "participation ratio (sum lambda)^2 / sum lambda^2 of the covariance eigenvalues lambda: "
        "k for variance spread evenly over k directions", units="dimensions")
    scores = geom.pca_scores(eigval, eigvec)
    for method in cfg["embed"]:
        try:
            emb3, n3 = geom.embed(scores, method, 3, seed=cfg["seed"])
            emb2, n2 = ((emb3[:, :2], []) if method in ("pca", "isomap")  # nested solutions
                        else geom.embed(scores, method, 2, seed=cfg["seed"]))
        except ImportError:
            notes.append(f"embedding_{method} skipped: umap-learn is not installed "
                         "(pip install manifold-lens[umap])")
            continue
        notes.extend(dict.fromkeys(n3 + n2))
        what = {"pca": "PCA scores", "isomap": "Isomap", "umap": "UMAP"}[method]
        data[f"embedding_{method}"] = _var(
            emb3, ("condition", "embed_dim"), f"3-D {what} embedding",
            f"3-D {what} coordinates of each condition, for figures", units="arbitrary")
        data[f"embedding_{method}_2d"] = _var(
            emb2, ("condition", "embed_dim_2d"), f"2-D {what} embedding",
            f"2-D {what} coordinates of each condition, for figures", units="arbitrary")


def _factorization(grid, cell_gram, cfg, data, notes):
    """Additive-fit score and principal angles; returns the Gram blocks of a(x) and b(y)."""
    la, lb, proj = fact.additive_operators(grid)
    residual_dof = grid.n_cells - round(float(np.trace(proj)))
    score = fact.factorization_score(cell_gram, proj) if residual_dof > 0 else np.nan
    if residual_dof <= 0:
        notes.append(f"factorization_score undefined: {grid.n_cells} (x, y) pairs leave no residual "
                     f"after fitting a(x) and b(y); measure on a lattice of conditions")
    data["factorization_score"] = _var(
        score, (), "factorization score",
        "1 - |r|^2 / |h - mean h|^2 for the additive fit h(x,y) = mu + a(x) + b(y) + r(x,y) over the "
        "condition grid; 1 = perfectly additive (factorized) code")
    gaa, gbb, gab = la @ cell_gram @ la.T, lb @ cell_gram @ lb.T, la @ cell_gram @ lb.T
    energy, max_angles = cfg["subspace_energy"], cfg["max_angles"]
    angles, kx, ky = fact.principal_angles(gaa, gbb, gab, energy=energy)
    padded = np.full(max_angles, np.nan)
    padded[:min(max_angles, len(angles))] = np.degrees(angles[:max_angles])
    data["subspace_angles"] = _var(
        padded, ("angle",), "principal angles between x- and y-subspaces",
        f"principal angles, ascending, between span a(x) and span b(y), each truncated to the "
        f"directions holding {energy:g} of its energy; 90 = orthogonal; NaN-padded", units="degree")
    data["xy_subspace_mean_cos"] = _var(
        np.mean(np.cos(angles)) if len(angles) else np.nan, (), "mean cosine of principal angles",
        "mean cosine over all principal angles between the x- and y-subspaces; 0 = orthogonal")
    data["x_subspace_dim"] = _var(kx, (), "x-subspace dimension",
                                  "directions of span a(x) kept for principal angles", units="dimensions")
    data["y_subspace_dim"] = _var(ky, (), "y-subspace dimension",
                                  "directions of span b(y) kept for principal angles", units="dimensions")
    return gaa, gbb


def _chords(grid, cell_gram, cfg, data, notes):
    """Chord statistics of the learned code and of the ideal tori, on the same chord pairs."""
    pairs = fact.sample_chord_pairs(grid.index_grid(), cfg["n_chord_pairs"], seed=cfg["seed"])
    tx, ty = grid.angles()
    refs = {"torus3d": fact.torus3d(tx, ty), "clifford": fact.clifford_torus(tx, ty)}
    grams = {"learned": cell_gram, **{k: p @ p.T for k, p in refs.items()}}
    for name in fact.CHORD_STATISTICS:
        summary = np.full(len(MANIFOLDS), np.nan)
        hist = np.full((len(MANIFOLDS), len(COS_BIN_EDGES) - 1), np.nan)
        n_used = 0
        for i, manifold in enumerate(MANIFOLDS):
            cos = fact.chord_cosines(grams[manifold], pairs[name])
            summary[i], hist[i] = fact.summarize_cosines(cos, name, COS_BIN_EDGES)
            n_used = len(cos) if manifold == "learned" else n_used
        if n_used == 0:
            notes.append(f"{name}: no usable chord pairs (grid too small, or chords of zero length)")
        long_name, description = _CHORD_TEXT[name]
        summary_name = name if name.endswith("parallelism") else f"{name}_orthogonality"
        data[summary_name] = _var(summary, ("manifold",), long_name, description, n_pairs=n_used)
        data[f"{name}_cos_hist"] = _var(
            hist, ("manifold", "cos_bin"), f"{long_name}: cosine histogram",
            f"fraction of sampled chord pairs per bin of signed cos ({description.split(';')[0]})",
            n_pairs=n_used)


def _decoding(grid, gram, x, y, cfg, data, notes):
    """Cross-validated linear decodability of x and y."""
    n, n_splits, periodic = len(x), cfg["n_splits"], cfg["periodic"]
    r2x = r2y = np.nan
    if n >= 2 * n_splits:
        ax, ay = grid.angles(of_cells=False)
        if periodic:
            targets, cols_x = np.column_stack([np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)]), 2
        else:
            targets, cols_x = np.column_stack([x, y]).astype(np.float64), 1
        r2 = fact.linear_decodability(gram, targets, n_splits, cfg["seed"])
        r2x, r2y = float(np.mean(r2[:cols_x])), float(np.mean(r2[cols_x:]))
    else:
        notes.append(f"decoding skipped: {n} conditions < 2 x n_splits ({2 * n_splits})")
    target = "cos and sin of its angle (mean R^2 of the two)" if periodic else "its value"
    for axis, val in (("x", r2x), ("y", r2y)):
        data[f"{axis}_decoding_r2"] = _var(
            val, (), f"linear decodability of {axis}",
            f"{n_splits}-fold cross-validated R^2 of ridge regression from the activations to {axis} "
            f"({target}); 1 = linearly decodable")


def _continuity(grid, gram, cell_gram, gaa, gbb, cfg, data, notes):
    """Similarity profiles, continuity index and neighbourhood preservation."""
    for axis, g in (("x", gaa), ("y", gbb)):
        other = "y" if axis == "x" else "x"
        data[f"{axis}_similarity_by_distance"] = _var(
            cont.similarity_by_distance(g, grid.distance_steps(axis), cfg["max_distance"]), ("distance",),
            f"similarity vs {axis} distance",
            f"mean cosine similarity of the {axis}-marginal codes ({other} averaged out) of {axis} "
            f"values k lattice steps apart; NaN where no pair is k steps apart")
    cx = cont.axis_continuity_index(cell_gram, grid, "x")
    cy = cont.axis_continuity_index(cell_gram, grid, "y")
    text = ("1 - mean squared distance between codes of adjacent {a} values / mean over all pairs "
            "of distinct {a} values, {o} held fixed; ~1 smooth, ~0 mutually orthogonal values")
    data["x_continuity_index"] = _var(cx, (), "continuity index of x", text.format(a="x", o="y"))
    data["y_continuity_index"] = _var(cy, (), "continuity index of y", text.format(a="y", o="x"))
    data["continuity_index"] = _var(
        np.mean([cx, cy]), (), "continuity index",
        "mean of x_continuity_index and y_continuity_index (1 - Geary's C along each feature): "
        "~1 for smooth manifolds, ~0 for hyper-factorized codes whose values are mutually orthogonal")
    n = gram.shape[0]
    k = min(cfg["n_neighbors"], (n - 1) // 2)
    trust = contin = np.nan
    if k >= 1:
        d_cond, d_rep = cont.condition_distances(grid), geom.distances_from_gram(gram)
        trust, contin = cont.trustworthiness(d_cond, d_rep, k), cont.trustworthiness(d_rep, d_cond, k)
        if k < cfg["n_neighbors"]:
            notes.append(f"neighbourhood measures use k={k} (< n_neighbors={cfg['n_neighbors']}: few conditions)")
    data["neighbourhood_trustworthiness"] = _var(
        trust, (), "neighbourhood trustworthiness",
        f"trustworthiness (k={k}) of representation space w.r.t. condition space (x, y): 1 = every "
        "representation-space neighbour is a condition-space neighbour", n_neighbors=k)
    data["neighbourhood_continuity"] = _var(
        contin, (), "neighbourhood continuity",
        f"trustworthiness (k={k}) of condition space w.r.t. representation space: 1 = every "
        "condition-space neighbour stays a neighbour in representation space", n_neighbors=k)


def _homology(cell_gram, cfg, data, notes):
    """Betti-1 and the top H1 persistences (optional: ripser)."""
    try:
        pers = topo.h1_persistence(geom.distances_from_gram(cell_gram), cfg["homology_points"])
    except ImportError:
        notes.append("homology skipped: ripser is not installed (pip install manifold-lens[topology])")
        return
    top = np.full(N_BARS, np.nan)
    top[:min(N_BARS, len(pers))] = pers[:N_BARS]
    data["h1_persistence"] = _var(
        top, ("bar",), "H1 persistence",
        "persistence (death - birth) of the most persistent H1 bars of the Vietoris-Rips filtration "
        "of the grid cells, descending, NaN-padded", units="activation")
    threshold = cfg["betti_threshold"]
    data["betti_1"] = _var(
        np.int64(topo.betti_number(pers, threshold)), (), "Betti-1",
        f"number of H1 bars with persistence >= {threshold:g} x the largest; a torus has 2", units="loops")


def _coords(da, data, cfg):
    coords = {name: c.variable for name, c in da.coords.items() if c.dims == ("condition",)}
    coords.update({
        "component": np.arange(1, cfg["n_components"] + 1),
        "angle": np.arange(1, cfg["max_angles"] + 1),
        "distance": xr.Variable(("distance",), np.arange(1, cfg["max_distance"] + 1),
                                {"long_name": "feature distance", "units": "lattice steps"}),
        "manifold": xr.Variable(("manifold",), np.array(MANIFOLDS),
                                {"description": "learned: the activations; torus3d, clifford: ideal "
                                 "references sampled on the same condition grid"}),
        "cos_bin": xr.Variable(("cos_bin",), (COS_BIN_EDGES[:-1] + COS_BIN_EDGES[1:]) / 2,
                               {"long_name": "cosine (bin centre)", "units": "1"}),
        "cos_bin_lower": ("cos_bin", COS_BIN_EDGES[:-1]),
        "cos_bin_upper": ("cos_bin", COS_BIN_EDGES[1:]),
    })
    if "h1_persistence" in data:
        coords["bar"] = np.arange(1, N_BARS + 1)
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
    homology_points: int = 300,
    betti_threshold: float = topo.BETTI_RELATIVE_THRESHOLD,
    seed: int = 0,
    progress: bool = False,
) -> xr.Dataset:
    """Geometry, factorization and continuity metrics of one set of activations.

    Parameters
    ----------
    activations : DataArray (condition, unit) with coords ``x``, ``y`` on condition.
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
    homology : compute H1 persistence (needs ripser). None: same as ``periodic``.
    homology_points, betti_threshold : ripser subsample size; Betti-1 relative threshold.
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
    cfg = {"embed": geom.check_embed_methods(embed), "n_components": n_components, "n_chord_pairs": n_chord_pairs,
           "n_neighbors": n_neighbors, "subspace_energy": subspace_energy, "max_angles": max_angles,
           "max_distance": max_distance, "n_splits": n_splits, "homology_points": homology_points,
           "betti_threshold": betti_threshold, "seed": seed, "periodic": periodic}
    grid = fact.ConditionGrid.from_coords(x, y, periodic=periodic, period=period)
    for axis, vals, p in (("x", grid.xs, grid.period_x), ("y", grid.ys, grid.period_y)):
        if periodic and not p > vals[-1] - vals[0]:
            _fail(f"period: the {axis} period {p:g} must exceed the range of {axis} values "
                  f"({vals[-1] - vals[0]:g}); give period=(px, py)")
    notes: list[str] = []
    data: dict[str, xr.Variable] = {}
    stages = ["geometry", "factorization", "chords", "decoding", "continuity"] + (["homology"] if homology else [])
    with tqdm(total=len(stages) + 1, desc="measure", disable=not progress, leave=False) as bar:
        gram = geom.centered_gram(values)  # the one large product: BLAS threads help here
        bar.update(1)
        # Everything else is many small LAPACK calls, which multithreaded BLAS slows down
        # badly on a busy machine (100x for a 200 x 200 Cholesky under oversubscription).
        with threadpool_limits(limits=1, user_api="blas"):
            _geometry(gram, values.shape, cfg, data, notes)
            bar.update(1)
            cell_gram = grid.cell_gram(gram)
            gaa, gbb = _factorization(grid, cell_gram, cfg, data, notes)
            bar.update(1)
            _chords(grid, cell_gram, cfg, data, notes)
            bar.update(1)
            _decoding(grid, gram, x, y, cfg, data, notes)
            bar.update(1)
            _continuity(grid, gram, cell_gram, gaa, gbb, cfg, data, notes)
            bar.update(1)
            if homology:
                _homology(cell_gram, cfg, data, notes)
                bar.update(1)
    ds = xr.Dataset(data, coords=_coords(da, data, cfg))
    n, d = values.shape
    ds.attrs.update({
        "n_conditions": n, "n_units": d, "n_x_values": grid.nx, "n_y_values": grid.ny,
        "n_cells": grid.n_cells, "periodic": int(periodic),
        "period_x": grid.period_x, "period_y": grid.period_y,
        "embed": ",".join(cfg["embed"]), "n_chord_pairs": n_chord_pairs, "n_neighbors": n_neighbors,
        "subspace_energy": subspace_energy, "n_splits": n_splits, "homology": int(homology),
        "homology_points": homology_points, "betti_threshold": betti_threshold, "seed": seed,
        "torus3d_radii": [fact.TORUS_MAJOR_RADIUS, fact.TORUS_MINOR_RADIUS],
        "cos_bin_edges": COS_BIN_EDGES.tolist(),
        "notes": "; ".join(notes),
    })
    return ds
