"""The persistent-homology variables of :func:`~manifold_lens.analysis.measure.measure` (ripser).

H0 and H1 persistence diagrams of the grid cells, the tested loop count
``betti_1`` and its sensitivity band ``betti_1_band`` (the counts at the
neighbouring settings of the rule, dim ``rule_setting``; ``betti_1_conclusive``
is 1 when they agree) (:mod:`~manifold_lens.analysis.topology`;
docs/science.md, section 3), stored at fixed sizes (``N_BARS`` bars per
diagram) so results stack. Too few cells: NaN, with the reason in the notes
and in ``betti_1``'s ``note`` attr.
"""

from __future__ import annotations

import numpy as np

from . import topology as topo
from .metric_variables import variable

N_BARS = 256  # bars stored per persistence diagram: the longest, NaN-padded (n_bars says how many there were)


def rule_settings(cfg) -> dict[str, tuple[int, float, int]]:
    """The band's settings {name: (k, scaled ratio, null rank)} of a measure configuration, the rule first."""
    return topo.band_settings(cfg["homology_neighbors"], cfg["betti_min_ratio"], cfg["homology_null_draws"])


def rule_text(cfg) -> str:
    """One line stating the counting rule with its settings."""
    draws, k, ratio = cfg["homology_null_draws"], cfg["homology_neighbors"], cfg["betti_min_ratio"]
    offset = ratio - topo.PLAIN_MIN_RATIO
    return (f"the smaller of two counts of H1 bars, each bar's persistence (death - birth) above the longest H1 bar of "
            f"each of {draws} shuffled copies (principal-component scores permuted independently per component, "
            f"seeded; significance {1 / (draws + 1):.2g}): in plain distances with death/birth > {ratio - offset:g}, "
            f"and in locally scaled distances d_ij/sqrt(e_i e_j) (e_i: distance to the {k}th nearest neighbour) "
            f"with death/birth > {ratio:g} (holes between neighbouring samples, e.g. grid squares at ratio sqrt 2, "
            f"close sooner)")


def homology_variables(cell_gram, cfg, data, notes):
    """H0 and H1 persistence diagrams of the grid cells, the tested loop count ``betti_1`` and its band (ripser).

    Every variable is written whenever homology is on (NaN when there are too few cells, with the reason in
    ``notes`` and ``betti_1.attrs['note']``), so results of many checkpoints stack. ripser is a dependency:
    :func:`measure` refuses homology without it.
    """
    n, draws, min_ratio = cell_gram.shape[0], cfg["homology_null_draws"], cfg["betti_min_ratio"]
    k = cfg["homology_neighbors"]
    settings = rule_settings(cfg)
    diagram = np.full((2, N_BARS, 2), np.nan)
    n_bars, null_max, counted = np.full(2, np.nan), np.full(draws, np.nan), np.zeros(N_BARS, dtype=bool)
    betti, truncation, used = np.nan, np.nan, min(n, cfg["homology_points"])
    band, plain, scaled = np.full(len(settings), np.nan), np.nan, np.nan
    problem = topo.loop_count_problem(n, k, band_neighbors=False)
    note = ""
    if problem:
        note = f"homology: {n} grid cells are too few ({problem}): betti_1, its band and the diagrams are NaN"
        notes.append(note)
    else:
        h = topo.persistent_homology(cell_gram, cfg["homology_points"], draws, min_ratio, cfg["seed"], k)
        for dim, dgm in enumerate((h.h0, h.h1)):
            diagram[dim, :min(N_BARS, len(dgm))] = dgm[:N_BARS]
            n_bars[dim] = len(dgm)
        counted[:min(N_BARS, len(h.h1))] = h.counted[:N_BARS]
        betti, truncation, used, null_max = float(h.betti_1), h.truncation_scale, h.n_points, h.null_max
        band = np.array([h.band[name] for name in settings], dtype=np.float64)
        plain, scaled = float(h.plain_count), float(h.scaled_count)
        if h.n_points < n:
            notes.append(f"homology on a farthest-point subsample of {h.n_points} of {n} grid cells")
        if not h.conclusive:
            note = ("betti_1 inconclusive: the counts at the neighbouring settings of the rule differ ("
                    + ", ".join(f"{name} {v}" for name, v in h.band.items()) + ")")
            notes.append(f"homology: {note}")
    rule = rule_text(cfg)
    extra = {"inner_products": "draw mean"}
    data["persistence_diagram"] = variable(
        diagram, ("homology_dim", "bar", "endpoint"), "persistence diagram",
        f"(birth, death) of the H0 and H1 bars of the Vietoris-Rips filtration of the grid cells (one point per "
        f"(x, y) cell, plain distances between cell-mean activations), the {N_BARS} most persistent of each "
        f"dimension, descending, NaN-padded; H0's essential bar dies at inf; H1 bars born above "
        f"homology_truncation_scale are not computed (they could not count)", units="activation", **extra)
    data["n_bars"] = variable(n_bars, ("homology_dim",), "number of bars",
                              "bars in each full diagram (persistence_diagram keeps the longest)", units="bars", **extra)
    data["h1_persistence"] = variable(
        diagram[1, :, 1] - diagram[1, :, 0], ("bar",), "H1 persistence",
        "death - birth of the stored H1 bars, descending, NaN-padded", units="activation", **extra)
    data["h1_counted"] = variable(counted, ("bar",), "H1 bar passing the plain test",
                                  f"whether each stored (plain) H1 bar passes the plain half of the rule; betti_1 is "
                                  f"the smaller of this count and the locally scaled one: {rule}", **extra)
    data["h1_null_persistence"] = variable(
        null_max, ("null_draw",), "longest H1 bar of shuffled data",
        "longest plain H1 persistence of each shuffled copy of the points (principal-component scores permuted "
        "independently per component: same spectrum, no loops); a counted bar exceeds all of them",
        units="activation", **extra)
    data["homology_truncation_scale"] = variable(
        truncation, (), "H1 truncation scale",
        "the plain H1 filtration stops at this scale while no bar is alive there (inf: complete); bars born later "
        "die by the enclosing radius E, so their death/birth is below every ratio threshold of the band",
        units="activation", **extra)
    data["homology_n_points"] = variable(
        used, (), "points in the filtration",
        f"grid cells used: all up to homology_points ({cfg['homology_points']}), a farthest-point subsample "
        "beyond", units="points", **extra)
    data["betti_1"] = variable(
        betti, (), "Betti-1 (tested count of loops)",
        f"number of loops: {rule}; a torus has 2, a cylinder or circle 1, a flat sheet, sphere or one-hot code 0; "
        f"betti_1_band gives the counts at neighbouring settings (inconclusive when they differ); NaN with too few "
        f"points", units="loops", rule=rule, null_draws=draws, min_death_birth_ratio=min_ratio,
        plain_min_death_birth_ratio=min_ratio - (cfg["betti_min_ratio"] - topo.PLAIN_MIN_RATIO), neighbors=k,
        significance=1 / (draws + 1), note=note, **extra)
    data["betti_1_band"] = variable(
        band, ("rule_setting",), "Betti-1 at neighbouring settings of the rule",
        "betti_1 counted at each setting of rule_setting (the rule itself first; both death/birth thresholds "
        f"-/+ {topo.BAND_RATIO_STEP:g}; significance {2 / (draws + 1):.2g}, the second-longest null bar); the count "
        "is conclusive only when they all agree", units="loops", **extra)
    data["betti_1_conclusive"] = variable(
        np.nan if np.isnan(betti) else float(np.nanmin(band) == np.nanmax(band)), (), "Betti-1 conclusive",
        "1 when every setting of betti_1_band gives the same count, 0 when they differ (report: inconclusive), "
        "NaN without a count", **extra)
    data["betti_1_plain"] = variable(plain, (), "Betti-1, plain half", "bars passing the plain test alone",
                                     units="loops", **extra)
    data["betti_1_scaled"] = variable(scaled, (), "Betti-1, locally scaled half",
                                      f"bars passing the locally scaled test alone (k = {k})", units="loops", **extra)


def rule_setting_coord(cfg):
    """The ``rule_setting`` coordinate: names and a description of each setting."""
    import xarray as xr

    settings = rule_settings(cfg)
    text = "; ".join(f"{name}: k = {k}, scaled death/birth > {c:g}, null rank {r}" for name, (k, c, r)
                     in settings.items())
    return xr.Variable(("rule_setting",), np.array(list(settings)), {"long_name": "setting of the loop rule",
                                                                      "description": text})


def band_text(band) -> str:
    """' (inconclusive: 1 to 2 across the rule's settings)' when the counts of ``betti_1_band`` differ, else
    ' (conclusive: N settings agree)'; '' without finite counts. ``band``: values along ``rule_setting``."""
    values = np.asarray(getattr(band, "values", band), dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if not len(values):
        return ""
    lo, hi = int(values.min()), int(values.max())
    if lo != hi:
        return f" (inconclusive: {lo} to {hi} across the rule's settings)"
    return f" (conclusive: {len(values)} settings agree)"
