"""Training a run: resolve its config, check where it goes, and hand it to the registered trainer.

The library does not train by itself: the training loop is a plugin found by
``train.trainer`` in the entry-point group ``manifold_lens.trainers``
(:mod:`manifold_lens.models`; the bundled one is ``ddpm``). This module is the
one entry point the CLI, the quickstart and later the studies use.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

from .config import RunConfig, load_config
from .devices import resolve_device
from .errors import ManifoldLensError
from .memory import check_run_resources
from .models import get_trainer
from .stores import Run, open_run
from .stores.lock import store_lock
from .stores.writer import check_replaceable


def training_config(out, preset: str | None = None, config: str | Path | None = None, overrides=(),
                    resume: bool = False) -> RunConfig:
    """The validated, resolved config of a run to train into ``out``.

    From a preset or config file plus ``overrides`` (default preset ``quick``);
    with ``resume`` and neither, the config stored in ``out`` plus ``overrides``.
    """
    if resume and not (preset or config):
        return open_run(out).config.with_overrides(list(overrides)).checked().resolved()
    return load_config(preset, config, list(overrides))


def train_run(config: RunConfig, out, *, resume: bool = False, replace: bool = False, device: str | None = None,
              progress: bool = True, log=print, overwrite: bool | None = None) -> Run:
    """Train ``config`` into run store ``out`` with its registered trainer; return the run, opened.

    ``resume`` continues ``out`` from its last committed checkpoint (only
    ``train.steps`` and the checkpointing keys may differ from the stored
    config); ``replace`` replaces an existing run store (and nothing else;
    ``overwrite`` is its deprecated former name).
    ``device`` (auto, cpu, cuda, cuda:N) overrides ``train.device``. Before
    anything is allocated the run's memory and disk needs are checked
    (:mod:`manifold_lens.memory`); the store's writer lock is held throughout.
    """
    if overwrite is not None:
        warnings.warn("train_run(overwrite=...) is deprecated: use replace=", DeprecationWarning, stacklevel=2)
        replace = replace or bool(overwrite)
    out = Path(out)
    if resume and replace:
        raise ManifoldLensError("give either resume=True or replace=True, not both")
    if resume and not out.exists():
        raise ManifoldLensError(f"resume=True: {out} does not exist; drop resume=True to start a new run")
    if not resume:
        check_replaceable(out, replace)  # replace=True replaces a run store and nothing else
    dev = resolve_device(device or config.train.device)  # fail before any work on an unavailable device
    trainer = get_trainer(config.train.trainer)
    with store_lock(out):  # one writer: a second train/resume/replace of this store is refused
        check_run_resources(config, out, dev)
        path = trainer(config, out, resume=resume, device=device, progress=progress, log=log,
                       **_replace_keyword(trainer, replace))
    return open_run(path)


def _replace_keyword(trainer, replace: bool) -> dict:
    """``{"replace": ...}`` for the trainer protocol; a trainer written before it was renamed gets ``overwrite``."""
    params = inspect.signature(trainer).parameters
    if "replace" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return {"replace": replace}
    warnings.warn(f"trainer {getattr(trainer, '__name__', trainer)!r} takes overwrite=, the former name of replace=; "
                  "rename its keyword (manifold_lens.models)", DeprecationWarning, stacklevel=3)
    return {"overwrite": replace}
