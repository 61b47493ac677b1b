"""The figures of a study's claim (``study.attrs["claim"]``, from study.json), before the generic study figures.

Each claim of docs/science.md section 4 has its figures in its own form
(:mod:`manifold_lens.plot`): ``lesion``, ``interior-exterior``,
``composition``, ``rim``, ``scaling`` (with the stored scaling fits),
``torus`` (over training, learned vs references, and the first analysed run's
own histograms, PCA spectrum and persistence diagram) and ``percolation``
(the stored percolation test's three figures, the verdict on the page). A
user study (no claim) gets none. Each caption says which runs were left out
(failed, missing, or without the value drawn); a figure the study cannot
support is skipped with the reason.

The claim computations are read, never computed: :func:`stored_claims` reads
them from the study's results (:mod:`manifold_lens.studies.claims`); an absent
one skips its figures with a note naming the command that computes it.
"""

from __future__ import annotations

import html

import numpy as np
import xarray as xr

from ..stores import list_results, read_results
from ..studies.claims import NEEDS, claim_note, read_claim
from ..studies.layout import PERCOLATION_TEST, RUN_GROUP, SCALING, run_results
from . import figures as plot
from .figures.claims import runs_left_out
from .figures.scaling import exponent_text
from .figures.study import ERRORBARS, left_out

CLAIMS = ("torus", "composition", "rim", "lesion", "interior-exterior", "scaling", "percolation")
SEEDS = f"Points and bars are the mean over seeds with the {ERRORBARS} as error bars (none with one seed)."
SECTION = "Claim"


def stored_claims(study) -> dict:
    """The claim computations the study's claim draws, by name: the stored Dataset, or a note (str) saying it is
    not computed and how to compute it; read from the study's results (``attrs["study_dir"]``)."""
    root = str(study.attrs.get("study_dir", "") or "")
    out: dict = {}
    for name in NEEDS.get(str(study.attrs.get("claim", "") or ""), ()):
        ds = read_claim(root, name) if root else None
        out[name] = ds if ds is not None else claim_note(root, name)
    return out


def claim_verdict(claims: dict) -> dict:
    """{"verdict", "reason"} of the stored percolation test ({} when the claim has none)."""
    test = claims.get(PERCOLATION_TEST)
    if test is None:
        return {}
    if isinstance(test, xr.Dataset):
        return {"verdict": str(test.attrs.get("verdict", "")), "reason": str(test.attrs.get("reason", ""))}
    return {"verdict": "not computed", "reason": str(test)}


def claim_jobs(study, add, claims: dict | None = None) -> None:
    """Add the figures of the study's claim through ``add(key, title, caption, draw, skipped, section)``, drawn
    from ``claims`` (default :func:`stored_claims`)."""
    claims = stored_claims(study) if claims is None else claims
    claim = str(study.attrs.get("claim", "") or "")
    if not claim:
        return
    if claim not in CLAIMS:
        add("claim", f"Claim {claim}", "", skipped=f"unknown claim {claim!r} in study.json (known: "
            f"{', '.join(CLAIMS)}); the generic figures follow", section=SECTION)
        return
    if claim in ("scaling", "percolation"):
        {"scaling": _scaling, "percolation": _percolation}[claim](study, add, claims)
        return
    {"lesion": _lesion, "interior-exterior": _interior_exterior, "composition": _composition, "rim": _rim,
     "torus": _torus}[claim](study, add)


def _memo(study, bars: bool = False) -> str:
    """The caption sentence on the memorising baseline drawn beside each accuracy (or on its absence)."""
    if "baseline_nearest_accuracy" not in study:
        return " No memorising baseline is stored (evaluated before it existed, or with baselines = [])."
    how = "Dashed black ticks across the bars" if bars else "Dotted lines with x markers, in each line's colour,"
    return (f" {how}: the nearest training condition (memorising) baseline, each condition drawn as the training "
            "image nearest to it and scored the same way (2/w in a band of width w px, (2/w)^2 at a cross's "
            "intersection); accuracy at or below it shows nothing beyond memory.")


def _left(study, variables) -> str:
    text = runs_left_out(study, variables)
    return f" {text}" if text else " Every run has a value."


def _analysed(study) -> str:
    """The caption sentence on runs without an analysis."""
    if "analysis_step" not in study:
        return " No run has an analysis."
    text = left_out(study, np.where(study["analysis_step"].values >= 0, 0.0, np.nan))
    return f" {text}" if text else " Every run has an analysis."


def _lesion(study, add) -> None:
    add("lesion_accuracy", "Accuracy vs the held-out band's width (claim 5)",
        "Terminal out-of-distribution accuracy (every held-out condition), the held-out band's own region and the "
        "in-distribution accuracy (a control) against the width of the band of x values held out of training "
        f"(data.holdout.width, px). {SEEDS} Expected: OOD accuracy falls as the band widens." + _memo(study)
        + _left(study, ["accuracy_ood"]), lambda: plot.lesion_accuracy(study), section=SECTION)


def _interior_exterior(study, add) -> None:
    add("interior_exterior_accuracy", "Held-out square's accuracy vs W, interior vs exterior (claim 6)",
        "Terminal accuracy of the held-out W x W square (its region, interior or exterior) against W (px): colour "
        "by position (interior, corner, edge), marker and dash by family (bumps, SOS); right, the same runs' "
        f"in-distribution accuracy as a control. {SEEDS} Expected: interior squares are filled in better than "
        "corner or edge squares of the same W." + _memo(study)
        + _left(study, ["region:interior", "region:exterior"]),
        lambda: plot.interior_exterior_accuracy(study), section=SECTION)


def _composition(study, add) -> None:
    regions = ["region:band_x", "region:band_y", "region:intersection"]
    add("composition_accuracy", "Band and intersection accuracy per training set (claim 3)",
        "Terminal accuracy in the vertical band (x held out, band_x), the horizontal band (y held out, band_y) "
        "and their intersection, with the trained conditions as a control, for each training set (case). "
        f"{SEEDS} Expected: SOS with the cross held out fails in the bands (interpolation); stripes plus SOS "
        "succeeds (composition)." + _memo(study, bars=True) + _left(study, regions),
        lambda: plot.composition_accuracy(study), section=SECTION)


def _rim(study, add) -> None:
    add("rim_accuracy", "Out-of-distribution accuracy with and without the rim (claim 4)",
        "Terminal out-of-distribution accuracy (every held-out condition) and, where present, the accuracy of "
        "the in-frame 2D conditions never shown (frame_2d) and of the held-out interior square (the same "
        "conditions in every case), for stripes alone and stripes with the rim of 2D examples (each case or rim "
        f"setting). {SEEDS} Expected: the few compositional examples of the rim make OOD generation work."
        + _memo(study, bars=True) + _left(study, ["accuracy_ood"]), lambda: plot.rim_accuracy(study), section=SECTION)


def _scaling(study, add, claims: dict) -> None:
    stored = claims.get(SCALING)
    res = stored if isinstance(stored, xr.Dataset) else None
    var = str(res.attrs.get("accuracy", "accuracy_ood")) if res is not None else "accuracy_ood"
    level = float(res.attrs.get("level", 0.6)) if res is not None else 0.6
    if res is not None:
        fits = "Fits: " + "; ".join(f"{g}: {exponent_text(res.sel(group=g))}" for g in res["group"].values) + "."
        source = res.attrs.get("train_size_source", "kept_sites")
    else:
        fits, source = "", "kept_sites"
    add("scaling_accuracy", "Accuracy vs keep fraction per image size (claim 7)",
        "Terminal out-of-distribution accuracy (accuracy_ood: the lattice sites subsampling dropped; keep "
        "fraction 1 has none) against the keep fraction, one panel per image size N, 2D bumps only vs 2D bumps "
        "plus 1D stripes. The dotted line is 60%" + (", dashed lines where each training set crosses it (the "
                                                     "stored scaling fits)" if res is not None else
                                                     f" (crossings {stored})") + f". {SEEDS}"
        + _memo(study) + _left(study, [var]),
        lambda: plot.scaling_accuracy(study, var, level, fits=res, crossings=res is not None), section=SECTION)
    add("scaling_size", "Training-set size for 60% accuracy vs N, log-log (claim 7)",
        f"The number of training images ({source}) at which the seed-mean out-of-distribution accuracy, made "
        "non-decreasing in keep fraction, first reaches 60% (linear interpolation between keep fractions; no "
        "point where it never does) against image size N on log-log axes, with the least-squares power law "
        "size = a N^b per training set. Error bars and intervals: 2.5-97.5 percentiles of a bootstrap over "
        "seeds (resampled at each N, 1000 draws). The study expects b about 2 for 2D only and about 1 with "
        f"stripes. {fits}" + _left(study, [var]), lambda: plot.scaling_size(res), section=SECTION,
        skipped="" if res is not None else f"scaling fits {stored}")


def _first_analysis(study):
    """(run id, its analysis/default group) of the first done run with an analysis, or (None, why)."""
    root = str(study.attrs.get("study_dir", "") or "")
    for rid, status in zip(study["run_id"].values, study["status"].values):
        store = run_results(root, str(rid)) if root else None
        if str(status) == "done" and store is not None and store.exists() and \
                RUN_GROUP in list_results(store).get("analysis", []):
            return str(rid), read_results(store, "analysis", RUN_GROUP)
    return None, "no done run has an analysis/default group"


def _torus(study, add) -> None:
    add("torus_training", "Effective dimension, top-4 variance and accuracy over training (claim 1)",
        "Effective dimension (participation ratio) and the explained variance of the top 4 principal components "
        "of the learned code at every analysed checkpoint (references dashed: pixels, the untrained network, "
        "shuffled labels, the ideal 3-D and Clifford tori; seed means), and generation accuracy at every "
        f"evaluated checkpoint. {SEEDS}" + _analysed(study),
        lambda: plot.torus_training(study), section=SECTION,
        skipped="" if "effective_dim_curve" in study else next(
            (n for n in study.attrs.get("notes", []) if n.startswith("analysis curves omitted")),
            "the runs' analyses hold fewer than 2 checkpoints; analyze with checkpoints = \"all\""))
    add("torus_references", "Learned code vs references at the final checkpoint (claim 2)",
        "x-on-y, x-on-x and y-on-y orthogonality and x, y parallelism of chord vectors, and the counted H1 loops "
        "(betti_1), of the learned code beside the same statistics of the pixels, the untrained network, shuffled "
        f"labels and the ideal 3-D and Clifford tori, at each run's final analysed checkpoint. {SEEDS} A torus "
        "has two loops; the study finds x and y orthogonal, and different values of one feature too."
        + _analysed(study),
        lambda: plot.torus_references(study), section=SECTION)
    rid, analysis = _first_analysis(study)
    for key, title, draw in (("chord_histograms", "Orthogonality and parallelism histograms", plot.chord_histograms),
                             ("pca_spectrum", "PCA spectrum over training", plot.pca_spectrum),
                             ("persistence_diagram", "Persistence diagram", plot.persistence_diagram)):
        if rid is None:
            add(key, f"{title} (first run)", "", skipped=analysis, section=SECTION)
            continue
        add(key, f"{title}, run {rid}",
            f"Run {rid} (the first done run with an analysis), drawn from its own results store; every run's "
            "figures are in its own report (runs table).", lambda draw=draw: draw(analysis), section=SECTION)


def _percolation(study, add, claims: dict) -> None:
    test = claims.get(PERCOLATION_TEST)
    if not isinstance(test, xr.Dataset):
        why = f"percolation test {test}"
        for key in ("percolation_onsets", "lambda_c_comparison", "percolation_collapse"):
            add(key, key.replace("_", " "), "", skipped=why, section=SECTION)
        return
    verdict, reason = str(test.attrs.get("verdict", "")), str(test.attrs.get("reason", ""))
    tail = f" Verdict: {verdict}. {reason}"
    add("percolation_onsets", "Percolation onsets: accuracy and largest cluster vs lambda (claim 8)",
        "Out-of-distribution accuracy on the unsampled sites against the keep fraction lambda, one panel per bump "
        "width: each run, the fitted sigmoid with a floor, the predicted largest-cluster curve of the runs' own "
        "training sets and its sigmoid; measured and predicted lambda_c with their 95% bootstrap intervals over "
        "seeds." + tail, lambda: plot.percolation_onsets(test), section=SECTION)
    add("lambda_c_comparison", "Measured vs predicted onset lambda_c (claim 8)",
        "The measured accuracy onset against the predicted percolation onset per bump width, both with 95% "
        "intervals, the identity line and the errors-in-both regression (slope about 1 and intercept about 0 "
        "if the claim holds)." + tail, lambda: plot.lambda_c_comparison(test), section=SECTION)
    add("percolation_collapse", "Accuracy vs largest cluster: collapse across widths (claim 8)",
        "Every run's out-of-distribution accuracy against the predicted largest-cluster ratio of its training "
        "set, all widths (colour by sigma): the widths collapse onto one curve if cluster size is what matters."
        + tail, lambda: plot.percolation_collapse(test), section=SECTION)


def claim_summary(study, claims: dict | None = None) -> str:
    """HTML paragraph naming the claim (and scale), with the stored percolation test's verdict; "" for a user
    study."""
    claim = str(study.attrs.get("claim", "") or "")
    if not claim:
        return ""
    e = html.escape
    scale = str(study.attrs.get("scale", "") or "")
    text = f"<p class='meta'>Claim: <b>{e(claim)}</b>" + (f" (scale {e(scale)})" if scale else "") + "."
    verdict = claim_verdict(stored_claims(study) if claims is None else claims)
    if verdict:
        text += f" Percolation test verdict: <b>{e(str(verdict.get('verdict', '')))}</b>. " \
                f"{e(str(verdict.get('reason', '')))}"
    n = int(np.isfinite(study["accuracy"].values).sum()) if "accuracy" in study else 0
    return text + f" {n} of {study.sizes['run']} runs evaluated.</p>"
