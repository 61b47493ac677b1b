"""``manifold-lens study``: a grid of runs from one TOML file (run, status, list, refine)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional

import typer

from .core import JSON, PROGRESS, app, echo_json, echo_lines, user_errors

study_app = typer.Typer(help="Studies: a grid of runs from one TOML file, on a local, Slurm or dask executor.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")


def _table(rows: list[dict]) -> list[str]:
    """Rows of dicts as aligned text columns (the keys of the first row, plus any later ones)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    fmt = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return [fmt(cols), *(fmt(row) for row in cells)]


@study_app.command("run")
@user_errors
def study_run(
    study_file: str = typer.Argument(..., metavar="STUDY",
                                     help="A study file (TOML), or the name of a bundled study (`study list`)."),
    out: Path = typer.Option(..., "--out", help="Study directory (created; a rerun finishes what is missing)."),
    scale: Optional[str] = typer.Option(None, "--scale", help="A scale of the study file: cpu or paper for the "
                                        "bundled studies (default: cpu when the file has scales)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key in every run: --set train.steps=200 "
                                   "(repeatable; not a key the grid sweeps; recorded in study.json)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local, slurm or dask (default: the file's)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Runs at once (default: the file's, else 1)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the table of runs; run and create nothing."),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", min=1, help="Refuse a study of more runs than this "
                                           "(default: the file's [study] max_runs, else 10000)."),
    progress: bool = PROGRESS,
):
    """Train, evaluate and analyze every run of a study not yet done; each run in OUT/runs/<run-id>/.

    Examples: manifold-lens study run lesion --scale cpu --out lesion-study;
    manifold-lens study run my-study.toml --out my-study --workers 2
    """
    from manifold_lens.studies import run_study

    rows = run_study(study_file, out, scale=scale, overrides=set_, executor=executor, workers=workers,
                     dry_run=dry_run, progress=progress, max_runs=max_runs)
    if dry_run:
        typer.echo(f"{len(rows)} runs (dry run: nothing executed)")
        echo_lines(_table(rows))
        return
    states = [r["state"] for r in rows]
    typer.echo(f"{out}: {states.count('done')} of {len(rows)} runs done" +
               (f", {states.count('failed')} failed" if "failed" in states else ""))
    for r in rows:
        if r["state"] == "failed":
            typer.echo(f"  {r['run_id']}: failed in {r.get('stage', '?')}: {r['error']}")
    if "failed" in states:
        raise typer.Exit(1)


@study_app.command("status")
@user_errors
def study_status_cmd(out: Path = typer.Argument(..., help="A study directory."), as_json: bool = JSON):
    """Each run's state: done, running, pending, failed (with the error), interrupted, missing."""
    from manifold_lens.studies import study_status

    rows = study_status(out)
    states = [r["state"] for r in rows]
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    if as_json:
        echo_json({"study": str(out), "counts": counts, "runs": rows})
        return
    echo_lines(_table([{**r, "seconds": None if r["seconds"] is None else f"{r['seconds']:.1f}"} for r in rows]))
    typer.echo(", ".join(f"{n} {s}" for s, n in counts.items()))


@study_app.command("list")
@user_errors
def study_list():
    """The bundled studies: name, claim, runs and estimated minutes at --scale cpu, description."""
    from manifold_lens.studies import list_studies, studies_dir

    studies = list_studies("cpu")
    if not studies:
        typer.echo("no bundled studies yet")
        return
    for s in studies:
        size = "" if s["runs"] is None else f"{s['runs']} runs" + (f", ~{s['minutes']:g} min" if s["minutes"] else "")
        typer.echo(f"{s['name']:<18} {s['claim'] or '-':<18} {size:<18} {s['description']}")
    typer.echo(f"(runs and minutes at --scale cpu on 2 CPU cores; run one with `manifold-lens study run NAME "
               f"--scale cpu|paper --out DIR`; files in {studies_dir()})")


def _interval(iv) -> str:
    if iv is None or any(math.isnan(v) for v in iv):  # NaN: no interval
        return "-"
    return f"[{iv[0]:.3f}, {iv[1]:.3f}] ({iv[1] - iv[0]:.3f})"


@study_app.command("refine")
@user_errors
def study_refine(
    out: Path = typer.Argument(..., metavar="DIR", help="A percolation study directory (`study run --out DIR`)."),
    target_width: Optional[float] = typer.Option(None, "--target-width", help="Onset interval width to reach, in "
                                                 "keep fraction (default 0.05)."),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", help="Runs refine may add to this study in all, "
                                           "over every refine step (default 24)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs the first step would add; write and run "
                                 "nothing."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local, slurm or dask (default: the study's)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Runs at once (default: the study's)."),
    progress: bool = PROGRESS,
):
    """Add keep fractions and seeds where an onset interval is wider than the target, run them, re-test; repeat.

    Examples: manifold-lens study refine percolation-study --dry-run;
    manifold-lens study refine percolation-study --target-width 0.05 --max-runs 24
    """
    from manifold_lens.studies.refine import MAX_RUNS, TARGET_WIDTH, refine_study

    result = refine_study(out, target_width=TARGET_WIDTH if target_width is None else target_width,
                          max_runs=MAX_RUNS if max_runs is None else max_runs, dry_run=dry_run, executor=executor,
                          workers=workers, progress=progress, log=None)
    for rnd in result["rounds"]:
        runs = rnd["runs"]
        verb = "would add" if dry_run else "added"
        typer.echo(f"refine step {rnd['step']}: {verb} {len(runs)} runs"
                   + (f", {len(rnd['failed'])} failed" if rnd["failed"] else ""))
        rows = []
        for s, w in rnd["widths"].items():
            added = sum(1 for r in runs if abs(float(r["config"]["data"].get("sigma_x") or r["config"]["data"]
                                                     ["sigma"]) - s) < 1e-9)
            row = {"sigma": f"{s:g}", "measured": _interval(w["measured_before"])}
            if not dry_run:
                row["measured"] += " -> " + _interval(w.get("measured_after"))
            row["predicted"] = _interval(w["predicted_before"]) + ("" if dry_run else
                                                                   " -> " + _interval(w.get("predicted_after")))
            row["runs added"] = str(added) if added else (w["why"] or "0")
            rows.append(row)
        echo_lines("  " + line for line in _table(rows))
        if dry_run and runs:
            echo_lines(f"  {r['run_id']}" for r in runs)
    typer.echo(f"stopped: {result['stopped']}")
