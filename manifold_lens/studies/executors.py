"""Executors with the ``concurrent.futures`` shape: submit a task, get a future with ``.result()`` and ``.done()``.

- ``local``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers``
  processes (spawned: torch and fork do not mix); each run gets
  ``cores // workers`` torch threads, set inside the worker (``OMP_NUM_THREADS``
  in the environment caps ``cores``: with 1 each worker gets one thread).
- ``slurm``: :class:`submitit.AutoExecutor` (folder ``DIR/slurm``), every run
  one task of a job array; partition, time, GPUs, CPUs from ``[executor.slurm]``.
  ``cluster = "debug"`` (in-process) or ``"local"`` run submitit without Slurm.
- ``dask``: a :class:`distributed.Client`, to ``[executor.dask] address`` or to a
  :class:`distributed.LocalCluster` of ``workers`` single-threaded processes.

Every executor runs the same :func:`~manifold_lens.studies.tasks.run_task`.
Local workers (the pool's, dask's LocalCluster workers and nannies, submitit's
local jobs) watch the runner (:func:`~manifold_lens.devices.watch_runner`) and
exit when it dies: none outlives it, takes another run or holds a lock.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..devices import fair_threads, process_identity, watch_runner
from .stages import check_executor
from .studyfile import ExecutorSpec, timeout_minutes

__all__ = ["StudyExecutor", "cores", "timeout_minutes", "runner_identity"]


def cores() -> int:
    """CPU cores this process may use, less those other processes keep busy (:func:`~manifold_lens.devices.fair_threads`);
    ``OMP_NUM_THREADS``, when set, caps it (a shared machine)."""
    return fair_threads()


def runner_identity(kind: str, cluster: str = "") -> dict | None:
    """This process as the runner its workers watch (pid, host, start time), or None where the workers are not
    local processes (Slurm jobs on other hosts)."""
    if kind == "slurm" and cluster not in ("local", "debug"):
        return None
    return process_identity(os.getpid())


class StudyExecutor:
    """``map(fn, argument tuples) -> futures`` on one of the three engines; a context manager."""

    def __init__(self, spec: ExecutorSpec, folder: str | Path):
        check_executor(spec)
        self.spec, self.folder = spec, Path(folder)
        self._stack = contextlib.ExitStack()
        self.kind = spec.kind
        if spec.kind == "local":
            self.threads = max(1, cores() // spec.workers)
            self._pool = self._stack.enter_context(ProcessPoolExecutor(  # workers die with this process
                max_workers=spec.workers, mp_context=multiprocessing.get_context("spawn"), initializer=watch_runner,
                initargs=(runner_identity("local"),)))
        elif spec.kind == "slurm":
            import submitit

            s = spec.slurm
            self.threads = s.cpus
            cluster = None if s.cluster == "auto" else s.cluster
            self._pool = submitit.AutoExecutor(folder=self.folder / "slurm", cluster=cluster)
            params = {"timeout_min": timeout_minutes(s.time), "slurm_array_parallelism": s.array_parallelism
                      or spec.workers, "name": "manifold-lens"}
            params.update({k: v for k, v in (("slurm_partition", s.partition), ("cpus_per_task", s.cpus),
                                             ("gpus_per_node", s.gpus or None), ("mem_gb", s.mem_gb),
                                             ("slurm_account", s.account), ("slurm_qos", s.qos)) if v is not None})
            params.update(s.extra)
            self._pool.update_parameters(**params)
        else:
            import distributed

            if spec.dask.address:
                self.threads = None
                self._pool = self._stack.enter_context(distributed.Client(spec.dask.address))
            else:
                self.threads = max(1, cores() // spec.workers)
                cluster = self._stack.enter_context(distributed.LocalCluster(
                    n_workers=spec.workers, threads_per_worker=1, processes=True, dashboard_address=None))
                self._pool = self._stack.enter_context(distributed.Client(cluster))
                for nanny in (False, True):  # the local workers and their nannies die with this process
                    self._pool.run(watch_runner, runner_identity("dask"), nanny=nanny)

    def map(self, fn, calls: list[tuple]) -> list:
        """Submit ``fn(*args)`` for each tuple (one job array on Slurm); the futures in order."""
        if not calls:
            return []
        if self.kind == "slurm":
            return self._pool.map_array(fn, *zip(*calls))
        if self.kind == "dask":
            return [self._pool.submit(fn, *args, pure=False) for args in calls]
        return [self._pool.submit(fn, *args) for args in calls]

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "StudyExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
