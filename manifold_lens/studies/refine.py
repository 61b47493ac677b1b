"""A percolation study that refines itself: more keep fractions and seeds where an onset interval is too wide.

:func:`refine_study` reads the study's stored percolation test
(``claims/percolation_test``; computed first when absent or stale) and, for
each bump width whose onset interval is wider than ``target_width`` (the
measured one, and the predicted one where the design is what limits it: the
predicted side is fitted at the same keep fractions), plans new runs in the
span of keep fractions that brackets the interval: the midpoint of every gap
between adjacent keep fractions there (rounded to :data:`RESOLUTION`, so a run
id is stable), each with the study's seeds extended to :data:`SEEDS`, and the
seeds missing at the bracketing keep fractions themselves. The new runs are
resolved from the study file exactly as ``study run`` resolves its runs
(:func:`~.spec.load_study` with the grids extended: same run ids, same configs),
appended to ``study.json`` (each marked with its refine step; the step, the runs
added and the interval widths before are recorded in the manifest's ``refine``
list), run as the same idempotent tasks (:func:`~.tasks.run_task`) on the
study's executor, and the test is computed again with the stored test's
settings. Rounds go on until every width meets the target, nothing more can
be added, or ``max_runs`` runs have been added by refine steps (counted over
the study's whole refine history).
"""

from __future__ import annotations

import inspect
import itertools
import math
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..config import validate_section
from ..errors import ConfigError
from ..percolation.test import percolation_test
from .claims import read_claim, study_percolation_test
from .collect import open_study
from .groups import StudyDataError
from .layout import (
    PERCOLATION_TEST,
    STUDY_FILE,
    append_runs,
    read_manifest,
    run_results,
    study_lock,
)
from .spec import load_study
from .studyfile import ExecutorSpec
from .runner import execute_runs

TARGET_WIDTH = 0.05   # onset interval width to reach (keep fraction)
MAX_RUNS = 24         # runs refine steps may add to a study in all
RESOLUTION = 0.001    # keep fractions are rounded to this (a stable run id); gaps below 2x are not split
SEEDS = 3             # seeds per keep fraction in the refined span (more where the study has more)
KEEP = "data.keep_fraction"
BUMPS = ("bump", "periodic")


def _check(target_width, max_runs) -> None:
    number = isinstance(target_width, (int, float)) and not isinstance(target_width, bool)
    if not (number and 0 < target_width < 1):
        shown = f"{target_width:g}" if number else repr(target_width)
        raise ConfigError(f"target_width = {shown}: must be in (0, 1), an onset interval width in keep fraction, "
                          "e.g. 0.05")
    if isinstance(max_runs, bool) or not isinstance(max_runs, (int, np.integer)) or max_runs < 1:
        raise ConfigError(f"max_runs = {max_runs}: must be a whole number >= 1 (runs refine may add in all)")


def _runs_by_width(manifest: dict) -> dict[float, dict[float, set]]:
    """sigma -> keep fraction -> seeds, over every run listed in the manifest."""
    out: dict[float, dict[float, set]] = {}
    for r in manifest["runs"]:
        data = (r.get("config") or {}).get("data") or {}
        sigma, keep = data.get("sigma_x") or data.get("sigma"), data.get("keep_fraction")
        if sigma is None or keep is None:
            continue
        out.setdefault(float(sigma), {}).setdefault(float(keep), set()).add(int(r.get("seed", 0)))
    return out


def _check_study(study_dir, manifest: dict) -> None:
    """A percolation sweep: keep fractions swept, bump widths, a lattice of bumps; else one line."""
    where = f"study_dir = {study_dir}"
    if KEEP not in (manifest.get("keys") or []):
        raise ConfigError(f"{where}: the study does not sweep {KEEP}; refine adds keep fractions to a percolation "
                          "study (one that sweeps data.keep_fraction per bump width)")
    families = {str(((r.get("config") or {}).get("data") or {}).get("family", "bump")) for r in manifest["runs"]}
    if not families <= set(BUMPS):
        raise ConfigError(f"{where}: family {', '.join(sorted(families - set(BUMPS)))} is not a lattice of bumps: "
                          "percolation predicts no onset to refine")
    widths = _runs_by_width(manifest)
    if not widths or all(len(k) < 2 for k in widths.values()):
        raise ConfigError(f"{where}: no bump width has two keep fractions; refine needs a percolation sweep")


def _stale(test, manifest: dict) -> bool:
    """Whether the stored test misses runs of the manifest (or lists others): then it is computed again."""
    seen = {str(v) for v in test["run_id"].values} | {str(d).split(":", 1)[0] for d in test.attrs.get("dropped", [])}
    return seen != {str(r["run_id"]) for r in manifest["runs"]}


def _test_settings(test) -> dict:
    """The stored test's settings that :func:`~.claims.study_percolation_test` takes (so a re-test is the same
    test on more runs)."""
    takes = set(inspect.signature(study_percolation_test).parameters) - {"study_dir", "replace", "progress"}
    return {k: test.attrs[k] for k in takes if k in test.attrs}


def current_test(study_dir, *, store: bool = True, progress: bool = True):
    """The study's stored percolation test, computed (with the stored one's settings) when absent or stale;
    stored unless ``store=False`` (a dry run computes it in memory)."""
    manifest = read_manifest(study_dir)
    test = read_claim(study_dir, PERCOLATION_TEST)
    if test is not None and not _stale(test, manifest):
        return test
    if test is None and not any(run_results(study_dir, r["run_id"]).exists() for r in manifest["runs"]):
        raise StudyDataError(f"study_dir = {study_dir}: no stored percolation test and no evaluated run to "
                             "compute one; run the study first (`manifold-lens study run`)")
    settings = _test_settings(test) if test is not None else {}
    if store:
        return study_percolation_test(study_dir, replace=True, progress=progress, **settings)
    runs = open_study(study_dir, **({"threshold": settings["threshold"]} if "threshold" in settings else {}))
    takes = inspect.signature(percolation_test).parameters
    return percolation_test(runs, progress=progress, **{k: v for k, v in settings.items() if k in takes})


def _widths(test) -> dict[float, dict[str, tuple[float, float]]]:
    """sigma -> side -> (low, high) of its onset interval."""
    out = {}
    for k, s in enumerate(test["sigma"].values):
        out[float(s)] = {side: tuple(float(v) for v in test[f"lambda_c_{side}_interval"].values[k])
                         for side in ("measured", "predicted")}
    return out


def _width(iv) -> float:
    return iv[1] - iv[0] if all(math.isfinite(v) for v in iv) else math.nan


def _wide(iv, target: float) -> bool:
    w = _width(iv)
    return math.isfinite(w) and w > target + 1e-12


def _span(levels: list[float], iv, bracket) -> tuple[float, float]:
    """The keep fractions of the study that bracket an interval (or the test's own bracket, where it gives one)."""
    if bracket is not None and all(math.isfinite(v) for v in bracket):
        lo, hi = bracket
    else:
        lo, hi = iv
    below = [v for v in levels if v <= lo + 1e-12]
    above = [v for v in levels if v >= hi - 1e-12]
    return (max(below) if below else levels[0]), (min(above) if above else levels[-1])


def plan_round(test, manifest: dict, target_width: float, budget: int) -> tuple[list[tuple[float, float, int]], dict]:
    """The runs one refine step adds, as (sigma, keep fraction, seed), widest intervals first, at most ``budget``;
    and per width what it found (intervals before, the span refined, or why nothing is added)."""
    runs = _runs_by_width(manifest)
    seeds_all = sorted({int(r.get("seed", 0)) for r in manifest["runs"]})
    n_seeds = max(SEEDS, len(seeds_all))
    seeds = seeds_all + [max(seeds_all) + 1 + k for k in range(n_seeds - len(seeds_all))]
    bracket = test.get("lambda_c_measured_bracket")
    widths = _widths(test)
    order = sorted(widths, key=lambda s: -max(np.nan_to_num(_width(widths[s]["measured"]), nan=0),
                                              np.nan_to_num(_width(widths[s]["predicted"]), nan=0)))
    plan, notes = [], {}
    for s in order:
        iv = widths[s]
        wide = [side for side in ("measured", "predicted") if _wide(iv[side], target_width)]
        note = {"measured": iv["measured"], "predicted": iv["predicted"], "span": None, "why": ""}
        notes[s] = note
        if not wide:
            note["why"] = ("at target" if math.isfinite(_width(iv["measured"])) else
                           "no measured onset interval (see the test's status)")
            continue
        at = runs.get(next((k for k in runs if math.isclose(k, s, rel_tol=1e-9)), s), {})
        levels = sorted(at)
        if len(levels) < 2:
            note["why"] = "fewer than two keep fractions"
            continue
        lo, hi = None, None
        for side in wide:
            b = (tuple(float(v) for v in bracket.sel(sigma=s).values)
                 if side == "measured" and bracket is not None else None)
            a, c = _span(levels, iv[side], b)
            lo, hi = (a, c) if lo is None else (min(lo, a), max(hi, c))
        note["span"] = (lo, hi)
        inside = [v for v in levels if lo - 1e-12 <= v <= hi + 1e-12]
        new = [round(round((u + v) / 2 / RESOLUTION) * RESOLUTION, 6) for u, v in itertools.pairwise(inside)
               if v - u >= 2 * RESOLUTION - 1e-12]
        mid = (lo + hi) / 2
        adds = [(s, k, seed) for k in sorted(new, key=lambda k: abs(k - mid)) for seed in seeds]
        adds += [(s, k, seed) for k in inside for seed in seeds if seed not in at[k]]
        if not adds:
            note["why"] = (f"nothing to add: keep fractions {RESOLUTION:g} apart and {n_seeds} seeds in "
                           f"[{lo:g}, {hi:g}]")
        plan += adds
    return plan[:budget], notes


def _extend(additions: list[tuple[float, float, int]]):
    """The function that adds the planned keep fractions and seeds to every grid sweeping data.keep_fraction."""
    keeps = sorted({k for _, k, _ in additions})
    seeds = sorted({seed for _, _, seed in additions})

    def extend(spec):
        spec = spec.model_copy(deep=True)
        head = spec.study
        head.seeds = sorted(set(head.seeds) | set(seeds))
        for grid in [head.grid, *(c.grid for c in head.cases)]:
            if KEEP in grid:
                grid[KEEP] = list(grid[KEEP]) + [k for k in keeps if k not in grid[KEEP]]
        return spec

    return extend


def _study_file(study_dir, manifest: dict) -> Path:
    """The study file as run: its source where it still holds the same text (a config file beside it resolves),
    else the copy in the study directory."""
    copy = Path(study_dir) / STUDY_FILE
    source = Path(str(manifest.get("source") or ""))
    try:
        if source.is_file() and copy.is_file() and source.read_text(encoding="utf-8") == copy.read_text(
                encoding="utf-8"):
            return source
    except OSError:
        pass
    return copy


def resolve_runs(study_dir, manifest: dict, additions: list[tuple[float, float, int]]) -> list[dict]:
    """Manifest entries of the planned runs, resolved from the study file as ``study run`` resolves its runs."""
    study = load_study(_study_file(study_dir, manifest), scale=manifest.get("scale"),
                       overrides=manifest.get("overrides") or None, extend=_extend(additions))
    listed = {str(r["run_id"]) for r in manifest["runs"]}
    wanted = {(round(s, 9), round(k, 9), seed) for s, k, seed in additions}
    out = []
    for r in study.runs:
        data = r["config"]["data"]
        key = (round(float(data.get("sigma_x") or data["sigma"]), 9), round(float(data["keep_fraction"]), 9),
               int(r["seed"]))
        if key in wanted and r["run_id"] not in listed:
            out.append(r)
    if len(out) != len(additions):
        raise ConfigError(f"study refine: resolved {len(out)} of the {len(additions)} planned runs from "
                          f"{_study_file(study_dir, manifest)}; does the study file still match {study_dir}?")
    return out


def execute(study_dir, runs: list[dict], stages: dict, spec: ExecutorSpec, *, progress: bool = True) -> list[dict]:
    """Run ``runs`` (manifest entries) as the study runner's idempotent tasks; their final statuses."""
    done = execute_runs(study_dir, runs, stages, spec, desc="refine", progress=progress)
    return [done[r["run_id"]] for r in runs]


def _before(notes: dict) -> dict:
    """A round's per-width record: intervals before, the span refined, why nothing was added."""
    return {s: {"measured_before": n["measured"], "predicted_before": n["predicted"], "span": n["span"],
                "why": n["why"]} for s, n in notes.items()}


def _executor(manifest: dict, executor: str | None, workers: int | None) -> ExecutorSpec:
    ex = dict(manifest.get("executor") or {})
    ex.update({k: v for k, v in (("kind", executor), ("workers", workers)) if v is not None})
    return validate_section(ExecutorSpec, ex, "executor")


def refine_study(study_dir, *, target_width: float = TARGET_WIDTH, max_runs: int = MAX_RUNS, dry_run: bool = False,
                 executor: str | None = None, workers: int | None = None, progress: bool = True,
                 log=None) -> dict:
    """Refine a percolation study until its onset intervals are at most ``target_width`` wide (module docstring).

    Args:
        study_dir: a study directory (``study run``'s DIR) sweeping
            ``data.keep_fraction`` per bump width.
        target_width: onset interval width to reach, in keep fraction.
        max_runs: runs refine steps may add to this study in all (its
            ``refine`` history counts); at the budget, a one-line error.
        dry_run: plan the first step and return it; nothing is written or run.
        executor, workers: override the study's executor for the new runs.
        progress: progress bars; log: called with a line per step (None: silent).

    Returns ``{"rounds": [...], "stopped": why, "dry_run": bool}``; each round
    holds ``step``, ``runs`` (the manifest entries added), ``failed`` (their
    ids) and ``widths`` (sigma -> intervals before and after, span refined).
    """
    _check(target_width, max_runs)
    read_manifest(study_dir)  # a non-study directory: one line before any lock file is made
    if dry_run:
        return _refine(study_dir, target_width, max_runs, True, executor, workers, progress, log)
    with study_lock(study_dir):  # one runner: a concurrent study run or refine is refused in one line
        return _refine(study_dir, target_width, max_runs, False, executor, workers, progress, log)


def _refine(study_dir, target_width, max_runs, dry_run, executor, workers, progress, log) -> dict:
    """refine_study's rounds (under the study lock unless ``dry_run``)."""
    manifest = read_manifest(study_dir)
    _check_study(study_dir, manifest)
    spent = sum(len(h.get("runs_added", [])) for h in manifest.get("refine", []))
    if spent >= max_runs:
        raise ConfigError(f"max_runs = {max_runs}: this study's refine steps already added {spent} runs; raise "
                          "max_runs to add more")
    spec = _executor(manifest, executor, workers)
    say = log or (lambda *a: None)
    rounds, stopped = [], ""
    test = current_test(study_dir, store=not dry_run, progress=progress)
    while True:
        plan, notes = plan_round(test, manifest, target_width, max_runs - spent)
        if not plan:
            stopped = ("every onset interval is at most target_width wide" if all(
                n["why"] == "at target" for n in notes.values()) else "nothing more to add: " + "; ".join(
                f"sigma {s:g}: {n['why']}" for s, n in notes.items() if n["why"] != "at target"))
            if dry_run:
                rounds.append({"step": len(manifest.get("refine", [])) + 1, "runs": [], "failed": [],
                               "widths": _before(notes)})
            break
        new = resolve_runs(study_dir, manifest, plan)
        step = len(manifest.get("refine", [])) + 1
        widths = _before(notes)
        if dry_run:
            rounds.append({"step": step, "runs": new, "failed": [], "widths": widths})
            stopped = "dry run: nothing written or run"
            break
        record = {"step": step, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "target_width": float(target_width), "runs_added": [r["run_id"] for r in new],
                  "widths_before": {f"{s:g}": {"measured": list(n["measured"]), "predicted": list(n["predicted"])}
                                    for s, n in notes.items()}}
        manifest = append_runs(study_dir, [{**r, "refine": step} for r in new], record)
        say(f"refine step {step}: running {len(new)} new runs")
        t0 = time.perf_counter()
        statuses = execute(study_dir, new, manifest.get("stages") or {}, spec, progress=progress)
        spent += len(new)
        test = current_test(study_dir, progress=progress)
        after = _widths(test)
        for s, w in widths.items():
            w["measured_after"], w["predicted_after"] = after.get(s, {}).get("measured"), after.get(s, {}).get(
                "predicted")
        rounds.append({"step": step, "runs": new, "widths": widths, "seconds": round(time.perf_counter() - t0, 1),
                       "failed": [st["run_id"] for st in statuses if st.get("state") != "done"]})
        say(f"refine step {step}: done in {rounds[-1]['seconds']:g} s")
        if spent >= max_runs:
            stopped = f"max_runs = {max_runs} reached"
            break
    return {"rounds": rounds, "stopped": stopped, "dry_run": dry_run}

