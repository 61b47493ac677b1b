"""The report of a study directory: study-level figures and a table of its runs.

:func:`render_study_report` collects the study (:func:`manifold_lens.open_study`)
and draws, for each swept key, the terminal accuracy overall / in-distribution
/ out-of-distribution against the key's values (mean over seeds, standard
error as error bars, one line per combination of the other keys and case), and
every run's accuracy over training when the runs share a checkpoint schedule.
A study with a claim (``study.json`` "claim": torus, composition, rim, lesion,
interior-exterior, scaling, percolation) first gets that claim's figures
(:mod:`.claim_plan`), drawn from the claim computations stored in the study's
results (:mod:`manifold_lens.studies.claims`; a note says how to compute an
absent one). The index page lists every run (id, swept values, seed, case, status,
accuracies, the largest cluster of its training set) with a link to the run's
own report (``runs/<id>/report/index.html``) where one has been rendered.
It never recomputes a metric; runs without results show as n/a.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..studies.collect import open_study
from ..studies.layout import report_dir, run_report
from ..versions import package_versions
from . import figures as plot
from .claim_plan import claim_jobs, claim_summary, claim_verdict, stored_claims
from .output import Report, save_figure
from .page import INDEX, MANIFEST, REPORT_SCHEMA, now, prepare_out, study_index_html
from .plan import FigureEntry, Job, _slug

SECTION = "Study"


def run_report_link(study_dir: Path, run_id: str) -> Path | None:
    """``runs/<run_id>/report/index.html`` of the study when that run's report has been rendered."""
    p = run_report(study_dir, run_id) / INDEX
    return p if p.is_file() else None


def case_determined(study, name: str) -> bool:
    """Whether coordinate ``name`` takes one value in each case (it is set by the case, not swept within it)."""
    cases = [str(c) for c in study["case"].values] if "case" in study.coords else []
    if not any(cases):
        return False
    values = [str(v) for v in study[name].values]
    return all(len({v for v, c in zip(values, cases) if c == case}) == 1 for case in set(cases))


def study_plan(study, claims: dict | None = None) -> list[Job]:
    """The study's figures in page order: its claim's figures (``attrs["claim"]``, :mod:`.claim_plan`, drawn from
    ``claims``: the stored claim computations by name, default those of ``attrs["study_dir"]``), then accuracy
    vs each swept key and the runs' accuracy curves."""
    jobs: list[Job] = []
    claims = stored_claims(study) if claims is None else claims

    def add(key, title, caption, draw=None, skipped="", section=SECTION):
        stem = _slug(f"{len(jobs) + 1:02d}", key)
        jobs.append(Job(FigureEntry(section, title, caption, study.attrs.get("study_dir", ""), stem=stem,
                                    skipped=skipped), draw))

    claim_jobs(study, add, claims)

    names = plot.swept_names(study)
    if study.attrs.get("claim"):  # the claim's figures compare the cases; a key the case fixes adds nothing
        names = [n for n in names if not case_determined(study, n)]
    if not names:
        add("accuracy_vs_key", "Accuracy vs swept key", "", skipped="the study sweeps no key (only seeds or cases)")
    for name in names:
        key = study[name].attrs.get("key", name)
        add(f"accuracy_vs_{name}", f"Terminal accuracy vs {key}",
            f"Terminal generation accuracy (last evaluated checkpoint of each run) overall, in-distribution and "
            f"out-of-distribution against {key}: the mean over seeds with the {plot.ERRORBARS} as error bars "
            "(none with one seed); one line per combination of the other swept keys and case. Runs without "
            "an evaluation (failed, missing, unfinished) are left out of the means.",
            lambda name=name: plot.accuracy_vs_key(study, name))
    note = next((n for n in study.attrs.get("notes", []) if n.startswith("accuracy curves omitted")), "")
    add("accuracy_curves", "Accuracy over training, per run",
        "Generation accuracy of every run over training, one line per run, coloured by its grid point (swept "
        "values and case).", lambda: plot.study_accuracy_curves(study),
        skipped=_curves_skipped(study, note))
    return jobs


def _curves_skipped(study, note: str) -> str:
    """Why the accuracy curves are not drawn ("" when they are): none collected, or one checkpoint only."""
    if "accuracy_curve" not in study:
        return note or "no run has an evaluation over several checkpoints"
    if study.sizes.get("checkpoint", 0) < 2:
        steps = ", ".join(str(int(s)) for s in study["checkpoint"].values)
        return (f"the runs were evaluated at one checkpoint only (step {steps}): no curve to draw; "
                "set checkpoints = \"all\" in the study's [evaluate] for curves")
    return ""


def render_study_report(study_dir, out=None, *, replace: bool = False, dpi: int = 110, formats=("png", "pdf"),
                        progress: bool = True) -> Report:
    """Render the study-level report of ``study_dir`` into ``out`` (default ``study_dir/report``); ``replace``:
    write into a directory holding other files."""
    study_dir = Path(study_dir)
    study = open_study(study_dir)
    out = prepare_out(report_dir(study_dir) if out is None else out, replace)
    claims = stored_claims(study)
    jobs = study_plan(study, claims)
    for job in tqdm([j for j in jobs if not j.entry.skipped], desc="report", unit="figure", disable=not progress):
        save_figure(job, out, dpi, formats)
    entries = [j.entry for j in jobs]
    links = {str(r): os.path.relpath(p, out) for r in study["run_id"].values
             if (p := run_report_link(study_dir, str(r))) is not None}
    report = Report(out, out / INDEX, entries, [], {}, {})
    (out / MANIFEST).write_text(json.dumps({
        "schema": REPORT_SCHEMA, "created": now(), "inputs": [str(study_dir)], "study": study.attrs.get("study"),
        "runs": [str(r) for r in study["run_id"].values], "run_reports": links,
        "figures": [asdict(e) for e in entries], "unfinished": {}, "skipped_results": {}, "key_numbers": [],
        "notes": list(study.attrs.get("notes", [])), "versions": package_versions(),
        "claim": study.attrs.get("claim", ""), "scale": study.attrs.get("scale", ""),
        "claim_verdict": claim_verdict(claims),
    }, indent=1, default=str))
    page = study_index_html(report, study, runs_table(study, links))
    summary = claim_summary(study, claims)
    if summary:  # the claim and, for percolation, the test's verdict, above the figures
        page = page.replace("<h2 id='study'>Figures</h2>", f"{summary}\n<h2 id='study'>Figures</h2>", 1)
    report.index.write_text(page)
    return report


def _fmt(v, pct: bool = False) -> str:
    v = float(v)
    if not np.isfinite(v):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.3g}"


def runs_table(study, links: dict) -> tuple[list[str], list[list[str]]]:
    """The index page's table of runs: a header and one row of strings per run (the link is the last cell's
    target, "" when the run has no report)."""
    names = plot.swept_names(study)
    cases = any(str(c) for c in study["case"].values)
    head = ["run", *[study[n].attrs.get("key", n) for n in names], "seed", *(["case"] if cases else []), "status",
            "accuracy", "accuracy ID", "accuracy OOD"]
    perc = "largest_cluster_ratio" in study
    if perc:
        head.append("largest cluster / kept sites")
    head.append("run report")
    rows = []
    for k, rid in enumerate(str(r) for r in study["run_id"].values):
        run = study.isel(run=k)
        status = str(run["status"].values)
        err = str(run["error"].values) if "error" in run.coords else ""
        row = [rid, *[plot.study_value(run[n].values.item()) for n in names], str(int(run["seed"])),
               *([str(run["case"].values) or "-"] if cases else []), status + (f": {err}" if err else ""),
               *[_fmt(run[v], pct=True) for v in ("accuracy", "accuracy_id", "accuracy_ood")]]
        if perc:
            row.append(_fmt(run["largest_cluster_ratio"]))
        row.append(links.get(rid, ""))
        rows.append(row)
    return head, rows
