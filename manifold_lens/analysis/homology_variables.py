"""The persistent-homology variables of :func:`~manifold_lens.analysis.measure.measure` (ripser).

H0 and H1 persistence diagrams of the grid cells and the tested loop count
``betti_1`` (:mod:`~manifold_lens.analysis.topology`; docs/science.md, section 3),
stored at fixed sizes (``N_BARS`` bars per diagram) so results stack.
"""

from __future__ import annotations

import numpy as np

from . import topology as topo
from .metric_variables import variable

N_BARS = 256  # bars stored per persistence diagram: the longest, NaN-padded (n_bars says how many there were)


def homology_variables(cell_gram, cfg, data, notes):
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
    data["persistence_diagram"] = variable(
        diagram, ("homology_dim", "bar", "endpoint"), "persistence diagram",
        f"(birth, death) of the H0 and H1 bars of the Vietoris-Rips filtration of the grid cells (one point per "
        f"(x, y) cell, distances between cell-mean activations), the {N_BARS} most persistent of each dimension, "
        f"descending, NaN-padded; H0's essential bar dies at inf; H1 bars born above homology_truncation_scale "
        f"are not computed (they could not count)", units="activation", **extra)
    data["n_bars"] = variable(n_bars, ("homology_dim",), "number of bars",
                          "bars in each full diagram (persistence_diagram keeps the longest)", units="bars", **extra)
    data["h1_persistence"] = variable(
        diagram[1, :, 1] - diagram[1, :, 0], ("bar",), "H1 persistence",
        "death - birth of the stored H1 bars, descending, NaN-padded", units="activation", **extra)
    data["h1_counted"] = variable(counted, ("bar",), "counted H1 bar", f"whether each stored H1 bar counts in "
                              f"betti_1: {rule}", **extra)
    data["h1_null_persistence"] = variable(
        null_max, ("null_draw",), "longest H1 bar of shuffled data",
        "longest H1 persistence of each shuffled copy of the points (principal-component scores permuted "
        "independently per component: same spectrum, no loops); a counted bar exceeds all of them",
        units="activation", **extra)
    data["homology_truncation_scale"] = variable(
        truncation, (), "H1 truncation scale",
        "the H1 filtration stops at this scale while no bar is alive there (inf: complete); bars born later "
        "die by the enclosing radius E <= 2 x this, so their death/birth < 2 and they cannot count",
        units="activation", **extra)
    data["homology_n_points"] = variable(
        used, (), "points in the filtration",
        f"grid cells used: all up to homology_points ({cfg['homology_points']}), a farthest-point subsample "
        "beyond", units="points", **extra)
    data["betti_1"] = variable(
        betti, (), "Betti-1 (tested count of loops)",
        f"number of long H1 bars: {rule}; a torus has 2, a cylinder or circle 1, a flat sheet or one-hot code 0; "
        f"NaN with too few points", units="loops", rule=rule, null_draws=draws, min_death_birth_ratio=min_ratio,
        **extra)
