"""One run of a study as an idempotent task: train, evaluate, analyze, each skipped when its output is complete.

:func:`run_task` is a top-level, picklable function: the same call runs in a
local process pool, a Slurm job (submitit) or a dask worker. It never raises
for a failure of the run itself: the failure is written to ``status.json``
(state ``failed``, the error's last line) and returned, so the other runs go on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from ..analysis.analyze import analyze_run
from ..config import RunConfig
from ..devices import runner_alive, watch_runner
from ..errors import ManifoldLensError
from ..evaluation.evaluate import evaluate_run
from ..stores import open_run
from ..stores.results import group_status
from ..training import train_run
from .layout import LOG, RESULTS_STORE, RUN_GROUP, RUN_STORE, read_status, write_status

GROUP = RUN_GROUP
GROUPS = {"evaluate": "evaluation", "analyze": "analysis"}
STAGE_FUNCTIONS = {"evaluate": evaluate_run, "analyze": analyze_run}
__all__ = ["run_task", "read_status", "write_status", "now", "last_line"]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def last_line(err: BaseException) -> str:
    lines = [s for s in str(err).strip().splitlines() if s.strip()]
    return f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__


def training_done(store: Path, steps: int) -> bool:
    run = open_run(store)
    return run.status == "complete" and (int(run.attrs.get("last_step", -1)) >= steps
                                         or run.attrs.get("stopped") == "until_accuracy")  # train.until_accuracy


def group_done(results: Path, stage: str) -> bool:
    if not results.exists():
        return False
    try:
        return group_status(results, GROUPS[stage], GROUP).complete
    except ManifoldLensError:
        return False


def set_threads(threads: int | None) -> None:
    if threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(int(threads))


def _runner_gone(runner: dict | None, log=None) -> None:
    """Exit this worker, writing nothing more, when the study's runner has died (its locks go with it)."""
    if not runner_alive(runner):
        if log is not None:
            log(f"== {now()} the study's runner (pid {runner['pid']}) is gone: this worker stops")
        os._exit(1)


def run_task(run: dict, run_dir: str, stages: dict, threads: int | None = None, runner: dict | None = None) -> dict:
    """Train, evaluate and analyze one run of a study into ``run_dir``; return its final status dict.

    ``run``: a manifest entry (``run_id``, ``config`` ...); ``stages``: the
    kwargs of ``evaluate_run`` / ``analyze_run`` (None: stage off);
    ``threads``: torch threads in this worker. A complete stage is skipped, a
    killed training resumed, an unfinished results group continued.
    """
    if runner and runner.get("pid") != os.getpid():  # a worker (submitit local, dask) dies with its runner
        watch_runner(runner)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    set_threads(threads)
    t0 = time.perf_counter()
    status = {"run_id": run["run_id"], "state": "running", "stage": "train", "error": "", "started": now(),
              "finished": None, "host": socket.gethostname(), "pid": os.getpid(), "seconds": None}
    store, results = run_dir / RUN_STORE, run_dir / RESULTS_STORE
    with open(run_dir / LOG, "a", buffering=1) as logf, \
            contextlib.redirect_stdout(logf), contextlib.redirect_stderr(logf):
        def log(*args):
            print(*args, file=logf, flush=True)

        log(f"== {status['started']} run {run['run_id']} on {status['host']} (pid {status['pid']}, "
            f"threads {threads or 'default'})")
        try:
            write_status(run_dir, status)
            config = RunConfig.from_dict(run["config"])
            if not store.exists():
                log("train: new run store")
                train_run(config, store, progress=False, log=log)
            elif training_done(store, config.train.steps):
                log("train: complete, skipped")
            else:
                log("train: resuming from the last committed checkpoint")
                train_run(config, store, resume=True, progress=False, log=log)
            for stage in ("evaluate", "analyze"):
                settings = stages.get(stage)
                if settings is None:
                    continue
                _runner_gone(runner, log)
                status["stage"] = stage
                write_status(run_dir, status)
                if group_done(results, stage):
                    log(f"{stage}: complete, skipped")
                    continue
                log(f"{stage}: {settings}")
                STAGE_FUNCTIONS[stage](store, out=results, name=GROUP, progress=False, log=log, **settings)
            status.update(state="done", stage="done")
        except Exception as e:  # recorded, never raised: the other runs go on
            log(traceback.format_exc())
            status.update(state="failed", error=last_line(e))
        status.update(finished=now(), seconds=round(time.perf_counter() - t0, 3))
        write_status(run_dir, status)
        log(f"== {status['finished']} {status['state']}" + (f": {status['error']}" if status["error"] else ""))
    return status
