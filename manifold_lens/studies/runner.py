"""Run a study: check everything, lay out its directory, submit the runs not done, and report their states.

The study directory's layout is :mod:`.layout`'s. After the runs, a study
whose claim needs a study-level computation (the percolation test, the
scaling fits) gets it computed and stored (:func:`~.claims.compute_claims`).
"""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path

from tqdm.auto import tqdm

from ..config import RunConfig
from ..errors import ConfigError
from ..versions import package_versions
from .claims import compute_claims, has_claim
from .claims import NEEDS as CLAIM_NEEDS
from .executors import StudyExecutor, runner_identity
from .layout import (MANIFEST, RUNNER, RUNS, STUDY_FILE, expects_results, gone_stores, manifest_path, read_claims_status,
                     read_manifest, read_status, run_dir, run_state, study_lock, write_manifest, write_status)
from .spec import Study, format_value, load_study
from .tasks import last_line, now, run_task


def run_table(study: Study) -> list[dict]:
    """One row per run: run_id, case, seed and the swept values (as shown in run ids)."""
    return [{"run_id": r["run_id"], **({"case": r["case"]} if r["case"] else {}), "seed": r["seed"],
             **{k: format_value(v) for k, v in r["swept"].items()}} for r in study.runs]


def check_out(out: Path) -> None:
    """A one-line error when folder ``out`` cannot be created or written: a file on its path, no write access,
    a path under /proc or /sys; checked before anything is created."""
    parent = out
    while not parent.exists():
        if parent.is_symlink():
            raise ConfigError(f"out = {out}: {parent} is a dangling symlink; give a folder you can write")
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"out = {out}: {parent} is a file, not a folder; give a folder path")
    virtual = {"proc", "sys"}  # kernel interfaces, never a disk
    if parent.resolve().parts[1:2] and parent.resolve().parts[1] in virtual:
        raise ConfigError(f"out = {out}: under /{parent.resolve().parts[1]} (not a disk); give a folder on a disk")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"out = {out}: {parent} is not writable; give a folder you can write")


def _same_study(out: Path, study: Study) -> None:
    """Refuse a DIR that holds something else than this study (another study, or other files)."""
    check_out(out)
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"out = {out}: exists and is not a directory")
    if not manifest_path(out).exists():
        if any(p.name != f"{RUNNER}.lock" for p in out.iterdir()):  # our own lock may be there already
            raise ConfigError(f"out = {out}: exists and is not a study directory; give a new or empty folder")
        return
    old = read_manifest(out)
    if old.get("scale") != study.scale:
        raise ConfigError(f"out = {out}: holds this study at scale {old.get('scale')!r}, not {study.scale!r}; "
                          f"give another out, or scale = {old.get('scale')}")
    mine = {r["run_id"]: r["config"] for r in study.runs}
    theirs = {r["run_id"]: _current(r.get("config") or {}) for r in old.get("runs", []) if "refine" not in r}  # study refine
    if mine != theirs:
        diff = sorted(set(mine) ^ set(theirs)) or sorted(k for k in mine if mine[k] != theirs[k])
        raise ConfigError(f"out = {out}: holds another study ({old.get('name')!r}: runs differ, e.g. {diff[0]}); "
                          "give another out")
    if old.get("stages") != study.stages:
        raise ConfigError(f"out = {out}: the [evaluate]/[analyze] settings differ from those in {out / MANIFEST}; "
                          "give another out or restore them")


def _current(config: dict) -> dict:
    """A manifest's run config as this version writes it (keys added since get their defaults)."""
    try:
        return RunConfig.from_dict(config).to_dict()
    except ConfigError:
        return config


def _write_layout(out: Path, study: Study) -> None:
    """study.toml and study.json, written once (a rerun leaves them alone)."""
    (out / RUNS).mkdir(parents=True, exist_ok=True)
    if not (out / STUDY_FILE).exists():
        (out / STUDY_FILE).write_text(study.text, encoding="utf-8")
    if not manifest_path(out).exists():
        manifest = {"name": study.name, "source": str(study.source),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "versions": package_versions(), **{k: v for k, v in study.manifest().items()
                                                       if k not in ("name", "source")}}
        write_manifest(out, manifest)


def run_study(study_file: str | Path, out: str | Path, *, scale: str | None = None,
              overrides: list[str] | dict | None = None, executor: str | None = None, workers: int | None = None,
              dry_run: bool = False, progress: bool = True, max_runs: int | None = None) -> list[dict]:
    """Run every run of a study not yet done into ``out``; return the runs' statuses (the table of runs for a dry run).

    ``study_file``: a path or a bundled study's name; ``scale``: one of its
    ``[scale.*]`` tables (default cpu); ``overrides``: ``key=value`` strings
    over every run (the CLI's ``--set``; recorded in study.json). A DIR made at
    another scale, or with other overrides, is refused.

    Everything is checked first (each run's config and memory, the stage
    settings, the executor; :func:`~manifold_lens.studies.spec.load_study`):
    bad input is one line and nothing is created (``max_runs`` overrides the
    file's cap on the run count). A study has one runner: a second
    ``run_study`` on the same ``out`` is refused, naming the first
    (:func:`~manifold_lens.studies.layout.study_lock`). A rerun of the same study
    skips the runs done and finishes the others (a killed training resumes,
    an unfinished results group continues); a failed run is recorded in its
    status.json and does not stop the others.
    """
    study = load_study(study_file, scale=scale, overrides=overrides, executor=executor, workers=workers,
                       max_runs=max_runs)
    out = Path(out)
    _same_study(out, study)
    if dry_run:
        return run_table(study)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"out = {out}: cannot be created ({e.strerror}); give a folder you can write") from None
    with study_lock(out):  # one runner: a second one is refused before it writes anything
        _same_study(out, study)  # what the first runner may have written meanwhile
        return _run(out, study, progress)


def _run(out: Path, study: Study, progress: bool) -> list[dict]:
    """The runner's work, under the study lock: lay out DIR, run what is not done, compute the claims."""
    _write_layout(out, study)
    results = any(v is not None for v in study.stages.values())
    statuses = {r["run_id"]: read_status(run_dir(out, r["run_id"])) for r in study.runs}
    todo = [r for r in study.runs if not (statuses[r["run_id"]] or {}).get("state") == "done"
            or gone_stores(run_dir(out, r["run_id"]), results)]
    if todo:
        statuses.update(execute_runs(out, todo, study.stages, study.executor, statuses=statuses, desc=study.name,
                                     total=len(study.runs), progress=progress))
    tried = read_claims_status(out)  # computations refused before: retried only when runs were (re)run
    if todo or any(not has_claim(out, n) and n not in tried for n in CLAIM_NEEDS.get(study.claim, ())):
        compute_claims(out, replace=True, progress=progress)  # a computation the runs cannot support: claims.json
    return [statuses[r["run_id"]] for r in study.runs]


def execute_runs(out, runs: list[dict], stages: dict, executor, *, statuses: dict | None = None, desc: str = "runs",
                 total: int | None = None, progress: bool = True) -> dict[str, dict]:
    """Run ``runs`` (manifest entries) of study ``out`` as idempotent tasks on ``executor`` (an ExecutorSpec);
    run id -> final status. The caller holds the study lock. ``statuses``: the runs' earlier statuses (kept in
    the pending status); ``total``: the progress bar's length (the study's run count)."""
    out, statuses, done = Path(out), dict(statuses or {}), {}
    total = len(runs) if total is None else total
    runner = runner_identity(executor.kind, executor.slurm.cluster)
    with StudyExecutor(executor, out) as ex:
        for r in runs:  # pending until a worker picks it up
            d = run_dir(out, r["run_id"])
            d.mkdir(parents=True, exist_ok=True)
            write_status(d, {**(statuses.get(r["run_id"]) or {}), "run_id": r["run_id"], "state": "pending",
                             "stage": (statuses.get(r["run_id"]) or {}).get("stage", "train"), "error": ""})
        futures = ex.map(run_task, [(r, str(run_dir(out, r["run_id"])), stages, ex.threads, runner) for r in runs])
        pending = dict(zip(futures, runs))
        bar = tqdm(total=total, initial=total - len(runs), desc=desc, unit="run", disable=not progress)
        while pending:
            for fut in [f for f in pending if f.done()]:
                r = pending.pop(fut)
                done[r["run_id"]] = _outcome(fut, r, run_dir(out, r["run_id"]))
                bar.update(1)
                failed = sum(s["state"] == "failed" for s in done.values())
                bar.set_postfix(failed=failed) if failed else None
            time.sleep(0.05 if pending else 0)
        bar.close()
    return done


def _outcome(fut, run: dict, d: Path) -> dict:
    """The status a finished future returned, or a failed status when the executor itself failed."""
    try:
        return fut.result()
    except Exception as e:  # a worker killed, a Slurm job timed out...: recorded like a failure of the run
        status = {"stage": "train", "started": None, "host": None, "pid": None, "seconds": None,
                  **(read_status(d) or {}), "run_id": run["run_id"], "state": "failed", "error": last_line(e),
                  "finished": now()}
        write_status(d, status)
        return status


def _alive(pid) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not reaped, counts as gone)."""
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    try:
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def study_status(out: str | Path) -> list[dict]:
    """Each run's state: done, running, pending, failed (with the error's last line), interrupted, or missing.

    ``interrupted``: status.json says running but its process (on this host) is gone; ``missing``: no status, or
    done but its run store or results store is gone.
    """
    manifest = read_manifest(out)
    host = socket.gethostname()
    results = expects_results(manifest)
    rows = []
    for r in manifest.get("runs", []):
        s = read_status(run_dir(out, r["run_id"]))
        state, why = run_state(run_dir(out, r["run_id"]), results) if s is not None else ("missing", "")
        if s is None or state == "missing":
            rows.append({"run_id": r["run_id"], "state": "missing", "stage": "", "error": why if s else "",
                         "seconds": None})
            continue
        state = str(s.get("state") or "missing")
        if state == "running" and s.get("host") == host and not _alive(s.get("pid")):
            state = "interrupted"
        rows.append({"run_id": r["run_id"], "state": state, "stage": s.get("stage", ""),
                     "error": s.get("error", ""), "seconds": s.get("seconds")})
    return rows
