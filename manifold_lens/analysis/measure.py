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
in which independent noise cancels in expectation; the PCA spectrum,
effective dimension, embeddings, decoding, neighbourhood preservation and
topology use the mean over draws (they need a positive semi-definite Gram or
the points themselves). Each variable says which in its ``inner_products``
attr; the global attrs ``draws`` and ``estimator`` ("cross-draw" or "plain")
record what was possible. With one draw (no ``draw`` dim, or one of length 1)
everything uses the plain Gram and a note says the estimate is noise-biased.

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

COS_BIN_EDGES = np.linspace(-1.0, 1.0, 41)
MIN_DISTINCT_VALUES = 3
N_BARS = 256  # bars stored per persistence diagram: the longest, NaN-padded (n_bars says how many there were)

ESTIMATOR_TEXT = (
    "cross-draw: with K >= 2 noise draws H_k, variables with inner_products = 'cross-draw' use "
    "G = sum_{k != l} H_k H_l^T / (K (K - 1)) (each draw centred over conditions), which estimates the Gram "
    "of the noise-averaged code without the noise term; those with 'draw mean' use the mean over draws. "
    "plain: one draw, every variable uses the plain Gram (noise-biased)")
CROSS_DRAW_VARIABLES = frozenset(
    ["factorization_score", "subspace_angles", "xy_subspace_mean_cos", "x_subspace_dim", "y_subspace_dim",
     "x_similarity_by_distance", "y_similarity_by_distance", "x_continuity_index", "y_continuity_index",
     "continuity_index"]
    + [n if n.endswith("parallelism") else f"{n}_orthogonality" for n in fact.CHORD_STATISTICS]
    + [f"{n}_cos_hist" for n in fact.CHORD_STATISTICS])
MEAN_VARIABLES = frozenset(["explained_variance_ratio", "explained_variance", "explained_variance_top4",
                            "effective_dim", "x_decoding_r2", "y_decoding_r2", "neighbourhood_trustworthiness",
                            "neighbourhood_continuity"])

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


def _signal_to_noise(gram, cross, k_draws, data, notes) -> None:
    """Per-draw SNR estimated from the two Grams; the cross-draw metrics are NaN when no signal is left."""
    snr = np.nan
    if cross is not None:
        n = gram.shape[0]
        signal, noise = float(np.trace(cross)) / n, k_draws * float(np.trace(gram) - np.trace(cross)) / max(n - 1, 1)
        snr = signal / noise if noise > 0 else (np.inf if signal > 0 else np.nan)
        if not signal > 0:
            notes.append(f"no condition signal above the noise: the cross-draw estimate of the code's variance over "
                         f"conditions is {signal:.3g} <= 0; the cross-draw metrics are NaN")
            for name in CROSS_DRAW_VARIABLES & set(data):
                if data[name].dtype.kind == "f":
                    data[name] = data[name].copy(data=np.full(data[name].shape, np.nan))
    data["signal_to_noise"] = _var(
        snr, (), "signal-to-noise ratio per draw",
        "variance over conditions of the noise-averaged code (trace of the cross-draw Gram / n) over the noise "
        "variance of one draw (K x (trace of the draw-mean Gram - trace of the cross-draw Gram) / (n - 1)), both "
        "summed over units; NaN with one draw; <= 0: no signal above the noise (cross-draw metrics NaN)",
        inner_products="cross-draw")


def _mark_inner_products(data) -> None:
    """Say in each variable's attrs and description which Gram matrix it comes from."""
    for name, var in data.items():
        if name in CROSS_DRAW_VARIABLES:
            var.attrs["inner_products"] = "cross-draw"
            var.attrs["description"] += ("; from cross-draw inner products when there are >= 2 noise draws "
                                         "(independent noise cancels in expectation), else plain ones")
        elif name in MEAN_VARIABLES or name.startswith("embedding_"):
            var.attrs["inner_products"] = "draw mean"
            var.attrs["description"] += "; from the mean over noise draws"


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
    """Chord statistics of the code whose cell Gram matrix is given (cross-draw when there are draws)."""
    pairs = fact.sample_chord_pairs(grid.index_grid(), cfg["n_chord_pairs"], seed=cfg["seed"])
    dropped = []
    for name in fact.CHORD_STATISTICS:
        cos = fact.chord_cosines(cell_gram, pairs[name])
        summary, hist = fact.summarize_cosines(cos, name, COS_BIN_EDGES)
        n_used, n_drawn = len(cos), pairs[name].shape[1]
        if n_used == 0:
            notes.append(f"{name}: no usable chord pairs (grid too small, or chords of zero length)")
        elif n_used < n_drawn and cfg["cross_draw"]:
            dropped.append(f"{name} {n_drawn - n_used} of {n_drawn}")
        long_name, description = _CHORD_TEXT[name]
        summary_name = name if name.endswith("parallelism") else f"{name}_orthogonality"
        data[summary_name] = _var(summary, (), long_name, description, n_pairs=n_used)
        data[f"{name}_cos_hist"] = _var(
            hist, ("cos_bin",), f"{long_name}: cosine histogram",
            f"fraction of sampled chord pairs per bin of signed cos ({description.split(';')[0]})",
            n_pairs=n_used)
    if dropped:
        notes.append("chord pairs dropped where a chord's cross-draw squared length is <= 0 (chords shorter "
                     f"than the noise): {', '.join(dropped)}")


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
    """Similarity profiles and continuity index (from ``cell_gram``, ``gaa``, ``gbb``: cross-draw when there
    are draws) and neighbourhood preservation (from ``gram``, the draw mean's)."""
    for axis, g in (("x", gaa), ("y", gbb)):
        other = "y" if axis == "x" else "x"
        data[f"{axis}_similarity_by_distance"] = _var(
            cont.similarity_by_distance(g, grid.distance_steps(axis), cfg["max_distance"]), ("distance",),
            f"similarity vs {axis} distance",
            f"1 - mean squared distance between the {axis}-marginal codes ({other} averaged out) of {axis} "
            f"values k lattice steps apart / mean over all pairs of distinct {axis} values: 1 identical, "
            f"0 as far apart as a typical pair, < 0 farther; NaN where no pair is k steps apart")
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
        trust = cont.trustworthiness(d_cond, d_rep, k, seed=cfg["seed"])
        contin = cont.trustworthiness(d_rep, d_cond, k, seed=cfg["seed"])
        if k < cfg["n_neighbors"]:
            notes.append(f"neighbourhood measures use k={k} (< n_neighbors={cfg['n_neighbors']}: few conditions)")
    data["neighbourhood_trustworthiness"] = _var(
        trust, (), "neighbourhood trustworthiness",
        f"trustworthiness (k={k}) of representation space w.r.t. condition space (x, y): 1 = every "
        "representation-space neighbour is a condition-space neighbour; ties broken at random (seeded)",
        n_neighbors=k)
    data["neighbourhood_continuity"] = _var(
        contin, (), "neighbourhood continuity",
        f"trustworthiness (k={k}) of condition space w.r.t. representation space: 1 = every "
        "condition-space neighbour stays a neighbour in representation space; ties broken at random (seeded)",
        n_neighbors=k)


def _homology(cell_gram, cfg, data, notes):
    """H0 and H1 persistence diagrams of the grid cells and the tested loop count ``betti_1`` (ripser).

    Every variable is written whenever homology is on (NaN when there are too few cells), so results of
    many checkpoints stack. ripser is a dependency: :func:`measure` refuses homology without it.
    """
    n, draws, min_ratio = cell_gram.shape[0], cfg["homology_null_draws"], cfg["betti_min_ratio"]
    diagram = np.full((2, N_BARS, 2), np.nan)
    n_bars, null_max, counted = np.full(2, np.nan), np.full(draws, np.nan), np.zeros(N_BARS, dtype=bool)
    betti, truncation, used = np.nan, np.nan, min(n, cfg["homology_points"])
    if n < topo.MIN_POINTS:
        notes.append(f"homology: {n} grid cells are too few (a loop needs >= {topo.MIN_POINTS} points to pass "
                     f"the death/birth test); betti_1 and the persistence diagrams are NaN")
    else:
        h = topo.persistent_homology(cell_gram, cfg["homology_points"], draws, min_ratio, cfg["seed"])
        for dim, dgm in enumerate((h.h0, h.h1)):
            diagram[dim, :min(N_BARS, len(dgm))] = dgm[:N_BARS]
            n_bars[dim] = len(dgm)
        counted[:min(N_BARS, len(h.h1))] = h.counted[:N_BARS]
        betti, truncation, used, null_max = float(h.betti_1), h.truncation_scale, h.n_points, h.null_max
        if h.n_points < n:
            notes.append(f"homology on a farthest-point subsample of {h.n_points} of {n} grid cells")
    rule = (f"an H1 bar counts when its persistence (death - birth) exceeds the longest H1 bar of each of "
            f"{draws} shuffled copies (principal-component scores permuted independently per component, seeded; "
            f"h1_null_persistence) and its death/birth exceeds {min_ratio:g} (holes between neighbouring samples, "
            f"e.g. grid squares at ratio sqrt 2, close sooner)")
    extra = {"inner_products": "draw mean"}
    data["persistence_diagram"] = _var(
        diagram, ("homology_dim", "bar", "endpoint"), "persistence diagram",
        f"(birth, death) of the H0 and H1 bars of the Vietoris-Rips filtration of the grid cells (one point per "
        f"(x, y) cell, distances between cell-mean activations), the {N_BARS} most persistent of each dimension, "
        f"descending, NaN-padded; H0's essential bar dies at inf; H1 bars born above homology_truncation_scale "
        f"are not computed (they could not count)", units="activation", **extra)
    data["n_bars"] = _var(n_bars, ("homology_dim",), "number of bars",
                          "bars in each full diagram (persistence_diagram keeps the longest)", units="bars", **extra)
    data["h1_persistence"] = _var(
        diagram[1, :, 1] - diagram[1, :, 0], ("bar",), "H1 persistence",
        "death - birth of the stored H1 bars, descending, NaN-padded", units="activation", **extra)
    data["h1_counted"] = _var(counted, ("bar",), "counted H1 bar", f"whether each stored H1 bar counts in "
                              f"betti_1: {rule}", **extra)
    data["h1_null_persistence"] = _var(
        null_max, ("null_draw",), "longest H1 bar of shuffled data",
        "longest H1 persistence of each shuffled copy of the points (principal-component scores permuted "
        "independently per component: same spectrum, no loops); a counted bar exceeds all of them",
        units="activation", **extra)
    data["homology_truncation_scale"] = _var(
        truncation, (), "H1 truncation scale",
        "the H1 filtration stops at this scale while no bar is alive there (inf: complete); bars born later "
        "die by the enclosing radius E <= 2 x this, so their death/birth < 2 and they cannot count",
        units="activation", **extra)
    data["homology_n_points"] = _var(
        used, (), "points in the filtration",
        f"grid cells used: all up to homology_points ({cfg['homology_points']}), a farthest-point subsample "
        "beyond", units="points", **extra)
    data["betti_1"] = _var(
        betti, (), "Betti-1 (tested count of loops)",
        f"number of long H1 bars: {rule}; a torus has 2, a cylinder or circle 1, a flat sheet or one-hot code 0; "
        f"NaN with too few points", units="loops", rule=rule, null_draws=draws, min_death_birth_ratio=min_ratio,
        **extra)


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
    betti_min_ratio : death / birth a loop must exceed (sampling holes close within sqrt 2); see
        :mod:`~manifold_lens.analysis.topology`.
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
              "pip install ripser (or pass homology=False; analyze --no-homology)")
    if homology and not (int(homology_points) == homology_points and homology_points >= topo.MIN_POINTS):
        _fail(f"homology_points: must be an integer >= {topo.MIN_POINTS}, got {homology_points}")
    if homology and not (int(homology_null_draws) == homology_null_draws and homology_null_draws >= 1):
        _fail(f"homology_null_draws: must be an integer >= 1, got {homology_null_draws}")
    if homology and not betti_min_ratio >= 1:
        _fail(f"betti_min_ratio: must be a number >= 1 (death / birth), got {betti_min_ratio}")
    cfg = {"embed": geom.check_embed_methods(embed), "n_components": n_components, "n_chord_pairs": n_chord_pairs,
           "n_neighbors": n_neighbors, "subspace_energy": subspace_energy, "max_angles": max_angles,
           "max_distance": max_distance, "n_splits": n_splits, "homology_points": homology_points,
           "homology_null_draws": homology_null_draws, "betti_min_ratio": betti_min_ratio,
           "seed": seed, "periodic": periodic,
           "cross_draw": values.shape[0] >= 2}
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
        gram, cross = geom.draw_grams(values)
        cross = gram if cross is None else cross
        bar.update(1)
        # Everything else is many small LAPACK calls, which multithreaded BLAS slows down
        # badly on a busy machine (100x for a 200 x 200 Cholesky under oversubscription).
        with threadpool_limits(limits=1, user_api="blas"):
            _geometry(gram, values.shape[1:], cfg, data, notes)
            bar.update(1)
            cell_gram = grid.cell_gram(gram)  # of the draw mean
            cell_cross = grid.cell_gram(cross) if cfg["cross_draw"] else cell_gram
            gaa, gbb = _factorization(grid, cell_cross, cfg, data, notes)
            bar.update(1)
            _chords(grid, cell_cross, cfg, data, notes)
            bar.update(1)
            _decoding(grid, gram, x, y, cfg, data, notes)
            bar.update(1)
            _continuity(grid, gram, cell_cross, gaa, gbb, cfg, data, notes)
            bar.update(1)
            if homology:
                _homology(cell_gram, cfg, data, notes)
                bar.update(1)
    _signal_to_noise(gram, cross if cfg["cross_draw"] else None, values.shape[0], data, notes)
    _mark_inner_products(data)
    ds = xr.Dataset(data, coords=_coords(da, data, cfg))
    k_draws, n, d = values.shape
    ds.attrs.update({
        "n_conditions": n, "n_units": d, "draws": k_draws,
        "estimator": "cross-draw" if cfg["cross_draw"] else "plain",
        "estimator_description": ESTIMATOR_TEXT, "n_x_values": grid.nx, "n_y_values": grid.ny,
        "n_cells": grid.n_cells, "periodic": int(periodic),
        "period_x": grid.period_x, "period_y": grid.period_y,
        "embed": ",".join(cfg["embed"]), "n_chord_pairs": n_chord_pairs, "n_neighbors": n_neighbors,
        "subspace_energy": subspace_energy, "n_splits": n_splits, "homology": int(homology),
        "homology_points": homology_points, "homology_null_draws": homology_null_draws,
        "betti_min_ratio": betti_min_ratio, "seed": seed,
        "cos_bin_edges": COS_BIN_EDGES.tolist(),
        "notes": "; ".join(notes),
    })
    return ds
