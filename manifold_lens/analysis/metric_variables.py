"""The metric variables of :func:`~manifold_lens.analysis.measure.measure`, one family per function.

Each function takes the Gram matrices measure computed (the draw mean's
``gram``, the cross-draw ``cell_gram`` when there are >= 2 noise draws; see
:mod:`~manifold_lens.analysis.measure`), fills ``data`` with labelled
``xarray.Variable`` objects (``long_name``, ``description``, ``units``) and
appends to ``notes`` anything it could not compute. The definitions are in
:mod:`~manifold_lens.analysis.geometry`, :mod:`~manifold_lens.analysis.factorization`
and :mod:`~manifold_lens.analysis.continuity` (docs/science.md, section 3).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import chords
from . import continuity as cont
from . import factorization as fact
from . import geometry as geom

COS_BIN_EDGES = np.linspace(-1.0, 1.0, 41)

ESTIMATOR_TEXT = (
    "cross-draw: with K >= 2 noise draws H_k, variables with inner_products = 'cross-draw' use "
    "G = sum_{k != l} H_k H_l^T / (K (K - 1)) (each draw centred over conditions), which estimates the Gram "
    "of the noise-averaged code without the noise term; those with 'draw mean' use the mean over draws. "
    "split-draw (K >= 4): products of two inner products, one from each half of the draws, each half's own "
    "cross-draw Gram, so the noises of the two factors are independent (spectrum, effective dimension, "
    "|<u, v>| of the orthogonality statistics). "
    "plain: one draw, every variable uses the plain Gram (noise-biased)")
CROSS_DRAW_VARIABLES = frozenset(
    ["factorization_score", "subspace_angles", "xy_subspace_mean_cos", "x_subspace_dim", "y_subspace_dim",
     "x_similarity_by_distance", "y_similarity_by_distance", "x_continuity_index", "y_continuity_index",
     "continuity_index"]
    + [n if n.endswith("parallelism") else f"{n}_orthogonality" for n in fact.CHORD_STATISTICS]
    + [f"{n}_cos_hist" for n in fact.CHORD_STATISTICS])
CHORD_SUMMARIES = frozenset(n if n.endswith("parallelism") else f"{n}_orthogonality" for n in fact.CHORD_STATISTICS)
SPLIT_VARIABLES = frozenset(["explained_variance_ratio", "explained_variance", "explained_variance_top4",
                             "effective_dim"] + [f"{n}_orthogonality" for n in fact.CHORD_STATISTICS
                                                 if not n.endswith("parallelism")])
MEAN_VARIABLES = frozenset(["explained_variance_ratio", "explained_variance", "explained_variance_top4",
                            "effective_dim", "x_decoding_r2", "y_decoding_r2", "neighbourhood_trustworthiness",
                            "neighbourhood_continuity"])

WEIGHTED = "length-weighted mean {f} (sum {n} / sum |u| |v| over pairs (u, v))"
CHORD_TEXT = {
    "x_on_y": ("x-on-y orthogonality", WEIGHTED.format(f="|cos|", n="|<u, v>|") + " between random x-chords "
               "h(x2,y)-h(x1,y) and y-chords h(x,y2)-h(x,y1); 0 = x and y move the code in orthogonal directions"),
    "x_on_x": ("x-on-x orthogonality", WEIGHTED.format(f="|cos|", n="|<u, v>|") + " between x-chords of two "
               "value pairs sharing no x value; 0 = different x values are mutually orthogonal (hyper-factorized)"),
    "y_on_y": ("y-on-y orthogonality", WEIGHTED.format(f="|cos|", n="|<u, v>|") + " between y-chords of two "
               "value pairs sharing no y value; 0 = different y values are mutually orthogonal (hyper-factorized)"),
    "x_parallelism": ("x parallelism", WEIGHTED.format(f="cos", n="<u, v>") + " between the same x-chord "
                      "(x1, x2) at two different y; 1 = the x step is the same vector whatever y"),
    "y_parallelism": ("y parallelism", WEIGHTED.format(f="cos", n="<u, v>") + " between the same y-chord "
                      "(y1, y2) at two different x; 1 = the y step is the same vector whatever x"),
}
SNR_TEXT = ("per-unit signal variance over per-unit noise variance: the variance over conditions of the "
            "noise-averaged code (trace of the cross-draw Gram / n) over the variance over draws of one draw's "
            "noise (K x (trace of the draw-mean Gram - trace of the cross-draw Gram) / (n - 1)), both summed over "
            "units; 1 = as much noise as signal in each draw; < 1: the chord statistics beside it are "
            "noise-dominated (report figures grey them out); <= 0: no signal above the noise (cross-draw "
            "metrics NaN)")
ONE_DRAW_REASON = ("one noise draw: the noise variance needs two draws of the same conditions (give dim 'draw' "
                   ">= 2); a noiseless code (the ideal references, pixels) has no noise to measure")


def signal_to_noise(gram, cross, k_draws, data, notes, split: bool = False) -> None:
    """Per-draw SNR estimated from the two Grams (NaN with a ``reason`` attr for one draw); the cross-draw
    metrics are NaN when no signal is left."""
    snr = np.nan
    extra = {"reason": ONE_DRAW_REASON} if cross is None else {}
    if cross is not None:
        n = gram.shape[0]
        signal, noise = float(np.trace(cross)) / n, k_draws * float(np.trace(gram) - np.trace(cross)) / max(n - 1, 1)
        snr = signal / noise if noise > 0 else (np.inf if signal > 0 else np.nan)
        if not signal > 0:
            notes.append(f"no condition signal above the noise: the cross-draw estimate of the code's variance over "
                         f"conditions is {signal:.3g} <= 0; the cross-draw metrics are NaN")
            extra = {"reason": "no condition signal above the noise (cross-draw variance over conditions <= 0)"}
            for name in (CROSS_DRAW_VARIABLES | (SPLIT_VARIABLES if split else frozenset())) & set(data):
                if data[name].dtype.kind == "f":
                    data[name] = data[name].copy(data=np.full(data[name].shape, np.nan))
    data["signal_to_noise"] = variable(snr, (), "signal-to-noise ratio per draw", SNR_TEXT,
                                       units="1 (variance ratio)", inner_products="cross-draw", **extra)
    for name in CHORD_SUMMARIES & set(data):  # CF: the variable that qualifies each chord statistic
        data[name].attrs["ancillary_variables"] = "signal_to_noise"


def mark_inner_products(data, split: bool = False) -> None:
    """Say in each variable's attrs and description which Gram matrix it comes from (``split``: K >= 4 draws)."""
    for name, var in data.items():
        if split and name in SPLIT_VARIABLES:
            var.attrs["inner_products"] = "split-draw"
            var.attrs["description"] += ("; from the cross-draw Grams of two disjoint halves of the noise draws, "
                                         "whose noises are independent (see the estimator_description attr)")
        elif name in CROSS_DRAW_VARIABLES:
            var.attrs["inner_products"] = "cross-draw"
            var.attrs["description"] += ("; from cross-draw inner products when there are >= 2 noise draws "
                                         "(independent noise cancels in expectation), else plain ones")
        elif name in MEAN_VARIABLES or name.startswith("embedding_"):
            var.attrs["inner_products"] = "draw mean"
            var.attrs["description"] += "; from the mean over noise draws"


def variable(data, dims, long_name, description, units="1", **extra) -> xr.Variable:
    attrs = {"long_name": long_name, "description": description, "units": units}
    attrs.update(extra)
    return xr.Variable(dims, np.asarray(data), attrs)


def geometry_variables(gram, n_dims, cfg, data, notes, cross=None, halves=None):
    """PCA spectrum, effective dimension and embeddings; returns nothing (fills ``data``).

    With ``halves`` (the two halves' cross-draw Grams, K >= 4 draws) the spectrum and effective dimension
    are the split-draw estimates of :mod:`~manifold_lens.analysis.geometry` over ``trace(cross)``; the
    embeddings always come from ``gram``, the draw mean's."""
    n, d = n_dims
    n_top = max(cfg["n_components"], 3, geom.EMBED_INPUT_COMPONENTS if set(cfg["embed"]) - {"pca"} else 0)
    eigval, eigvec = geom.top_eigenpairs(gram, n_top)
    n_available = min(n - 1, d)
    k = cfg["n_components"]
    spectrum, total = eigval, float(np.trace(gram))
    if halves is not None:
        spectrum, total = geom.split_eigenvalues(*halves, k), float(np.trace(cross))
    ratio = geom.explained_variance_ratio(spectrum, total, k, n_available)
    cov_eig = np.full(k, np.nan)
    m = min(k, n_available, len(spectrum))
    cov_eig[:m] = spectrum[:m] / (n - 1)
    data["explained_variance_ratio"] = variable(
        ratio, ("component",), "explained-variance ratio",
        "fraction of the total variance along each principal component (PCA over conditions); "
        "NaN beyond the number of components the data has (min(conditions - 1, units))")
    data["explained_variance"] = variable(
        cov_eig, ("component",), "explained variance",
        "covariance eigenvalue of each principal component", units="activation^2")
    data["explained_variance_top4"] = variable(
        np.nansum(ratio[:4]), (), "explained variance of the top 4 components",
        "sum of the explained-variance ratios of the first 4 principal components")
    data["effective_dim"] = variable(
        geom.effective_dim_from_gram(gram) if halves is None else geom.split_effective_dim(*halves), (),
        "effective dimension",
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
        data[f"embedding_{method}"] = variable(
            emb3, ("condition", "embed_dim"), f"3-D {what} embedding",
            f"3-D {what} coordinates of each condition, for figures", units="arbitrary")
        data[f"embedding_{method}_2d"] = variable(
            emb2, ("condition", "embed_dim_2d"), f"2-D {what} embedding",
            f"2-D {what} coordinates of each condition, for figures", units="arbitrary")


def factorization_variables(grid, cell_gram, cfg, data, notes):
    """Additive-fit score and principal angles; returns the Gram blocks of a(x) and b(y)."""
    la, lb, proj = fact.additive_operators(grid)
    residual_dof = grid.n_cells - round(float(np.trace(proj)))
    score = fact.factorization_score(cell_gram, proj) if residual_dof > 0 else np.nan
    if residual_dof <= 0:
        notes.append(f"factorization_score undefined: {grid.n_cells} (x, y) pairs leave no residual "
                     f"after fitting a(x) and b(y); measure on a lattice of conditions")
    data["factorization_score"] = variable(
        score, (), "factorization score",
        "1 - |r|^2 / |h - mean h|^2 for the additive fit h(x,y) = mu + a(x) + b(y) + r(x,y) over the "
        "condition grid; 1 = perfectly additive (factorized) code")
    gaa, gbb, gab = la @ cell_gram @ la.T, lb @ cell_gram @ lb.T, la @ cell_gram @ lb.T
    energy, max_angles = cfg["subspace_energy"], cfg["max_angles"]
    angles, kx, ky = fact.principal_angles(gaa, gbb, gab, energy=energy)
    padded = np.full(max_angles, np.nan)
    padded[:min(max_angles, len(angles))] = np.degrees(angles[:max_angles])
    data["subspace_angles"] = variable(
        padded, ("angle",), "principal angles between x- and y-subspaces",
        f"principal angles, ascending, between span a(x) and span b(y), each truncated to the "
        f"directions holding {energy:g} of its energy; 90 = orthogonal; NaN-padded", units="degree")
    data["xy_subspace_mean_cos"] = variable(
        np.mean(np.cos(angles)) if len(angles) else np.nan, (), "mean cosine of principal angles",
        "mean cosine over all principal angles between the x- and y-subspaces; 0 = orthogonal")
    data["x_subspace_dim"] = variable(kx, (), "x-subspace dimension",
                                  "directions of span a(x) kept for principal angles", units="dimensions")
    data["y_subspace_dim"] = variable(ky, (), "y-subspace dimension",
                                  "directions of span b(y) kept for principal angles", units="dimensions")
    return gaa, gbb


def chord_variables(grid, cell_gram, cfg, data, notes, halves=None):
    """Chord statistics of the code whose cell Gram matrix is given (cross-draw when there are draws);
    ``halves``: the halves' cell Grams (K >= 4 draws) for the sign-split |<u, v>| (:mod:`.chords`)."""
    pairs = chords.sample_chord_pairs(grid.index_grid(), cfg["n_chord_pairs"], seed=cfg["seed"])
    dropped = []
    k_draws = cfg.get("draws", 2 if cfg["cross_draw"] else 1)
    for name in chords.CHORD_STATISTICS:
        parallel = name.endswith("parallelism")
        summary, n_used = chords.chord_summary(name, cell_gram, pairs[name], None if parallel else halves)
        _, hist = chords.summarize_cosines(chords.chord_cosines(cell_gram, pairs[name]), name, COS_BIN_EDGES)
        n_drawn = pairs[name].shape[1]
        if n_used == 0:
            notes.append(f"{name}: no usable chord pairs (grid too small, or chords of zero length)")
        elif n_used < n_drawn and cfg["cross_draw"]:
            dropped.append(f"{name} {n_drawn - n_used} of {n_drawn}")
        if parallel:
            estimator = "pooled cross-draw" if cfg["cross_draw"] else "plain"
        elif halves is not None:
            estimator = "sign-split over two halves of the draws"
        elif cfg["cross_draw"]:
            estimator = "pooled cross-draw |<u, v>| (biased up where the truth is near 0: fewer than 4 draws)"
        else:
            estimator = "plain"
        long_name, description = CHORD_TEXT[name]
        summary_name = name if parallel else f"{name}_orthogonality"
        data[summary_name] = variable(summary, (), long_name, description, n_pairs=n_used, estimator=estimator)
        data[f"{name}_cos_hist"] = variable(
            hist, ("cos_bin",), f"{long_name}: cosine histogram",
            f"fraction of sampled chord pairs per bin of signed cos, unweighted (pairs as for {summary_name}); "
            "noise broadens it", n_pairs=n_used)
    if 2 <= k_draws < 4:
        notes.append(f"orthogonality from {k_draws} draws: |<u, v>| of the pooled cross-draw estimate, biased up "
                     "where the truth is near 0 (the sign-split estimate needs >= 4 draws)")
    if dropped:
        notes.append("chord pairs dropped where a chord's cross-draw squared length is <= 0 (chords shorter "
                     f"than the noise): {', '.join(dropped)}")


def decoding_variables(grid, gram, x, y, cfg, data, notes):
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
        data[f"{axis}_decoding_r2"] = variable(
            val, (), f"linear decodability of {axis}",
            f"{n_splits}-fold cross-validated R^2 of ridge regression from the activations to {axis} "
            f"({target}); 1 = linearly decodable")


def continuity_variables(grid, gram, cell_gram, gaa, gbb, cfg, data, notes):
    """Similarity profiles and continuity index (from ``cell_gram``, ``gaa``, ``gbb``: cross-draw when there
    are draws) and neighbourhood preservation (from ``gram``, the draw mean's)."""
    for axis, g in (("x", gaa), ("y", gbb)):
        other = "y" if axis == "x" else "x"
        data[f"{axis}_similarity_by_distance"] = variable(
            cont.similarity_by_distance(g, grid.distance_steps(axis), cfg["max_distance"]), ("distance",),
            f"similarity vs {axis} distance",
            f"1 - mean squared distance between the {axis}-marginal codes ({other} averaged out) of {axis} "
            f"values k lattice steps apart / mean over all pairs of distinct {axis} values: 1 identical, "
            f"0 as far apart as a typical pair, < 0 farther; NaN where no pair is k steps apart")
    cx = cont.axis_continuity_index(cell_gram, grid, "x")
    cy = cont.axis_continuity_index(cell_gram, grid, "y")
    text = ("1 - mean squared distance between codes of adjacent {a} values / mean over all pairs "
            "of distinct {a} values, {o} held fixed; ~1 smooth, ~0 mutually orthogonal values")
    data["x_continuity_index"] = variable(cx, (), "continuity index of x", text.format(a="x", o="y"))
    data["y_continuity_index"] = variable(cy, (), "continuity index of y", text.format(a="y", o="x"))
    data["continuity_index"] = variable(
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
    data["neighbourhood_trustworthiness"] = variable(
        trust, (), "neighbourhood trustworthiness",
        f"trustworthiness (k={k}) of representation space w.r.t. condition space (x, y): 1 = every "
        "representation-space neighbour is a condition-space neighbour; ties broken at random (seeded)",
        n_neighbors=k)
    data["neighbourhood_continuity"] = variable(
        contin, (), "neighbourhood continuity",
        f"trustworthiness (k={k}) of condition space w.r.t. representation space: 1 = every "
        "condition-space neighbour stays a neighbour in representation space; ties broken at random (seeded)",
        n_neighbors=k)
