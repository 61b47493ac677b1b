"""Reading run stores: a training run's config, data, checkpoints and loss in one Zarr store.

Layout of ``RUN.zarr`` (schema ``manifold-lens.run``)::

    attrs       schema, schema_version, config (resolved, JSON), model {name},
                versions, seed, status, committed, last_step, resume_slot
    dataset/conditions   candidate lattice: x, y, family, region, in_train (dim condition)
    dataset/train        training set as used: image, x, y, family, weight (dim example)
    checkpoints/step, checkpoints/epoch           (checkpoint,)
    checkpoints/params/<param name>               (checkpoint, *shape) raw weights
    checkpoints/ema/<param name>                  (checkpoint, *shape) EMA weights, if enabled
    checkpoints/checksum/params, checksum/ema     (checkpoint, parameter) BLAKE2b of each row,
                                                  in param_names order (schema version 2)
    loss/step, loss/loss                          per optimiser step
    resume/slot0, resume/slot1                    optimizer + RNG state of the last
                                                  two commits (double-buffered)

Appending a checkpoint writes its data first and then raises the ``committed``
count in the root attrs (an atomic file replace). Arrays grow in blocks, so
they may hold spare rows past ``committed``. Readers only see committed
checkpoints; anything beyond is a half-written checkpoint from a killed run
and is never loaded. Every weight row is verified against its checksum when
it is loaded, so a damaged or deleted chunk (which Zarr would read back as
zeros) is an error naming the parameter and step, never a silent model.
The resume state is written to the slot the previous commit did not use, so
a crash can never destroy the state of the last commit.
Parameter names are the model's ``state_dict`` keys with "." replaced by "/".

The store is the one source of truth about its run: the dataset, training
set and conditions come from its groups, never re-derived from the config
(:attr:`Run.dataset`). Writing is :mod:`manifold_lens.stores.writer`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from ..config import RunConfig
from ..coords import COORDS
from ..datasets import SyntheticDataset
from ..diffusion import NoiseSchedule
from ..errors import ConfigError, ManifoldLensError, StoreError
from ..memory import check_model_memory
from ..models import MissingPluginError, build_model
from .encoding import decode
from .schema import RUN, check_store, checksum, param_key


class Run:
    """A read-only view of a run store. Obtain with :func:`open_run`."""

    def __init__(self, path: str | Path):
        self._root = check_store(path, RUN)
        self.path = Path(path).resolve()
        attrs = self._root.attrs.asdict()
        self.attrs = attrs
        self.config = _stored_config(self.path, attrs)
        self.model_name = self.config.model.name
        self.committed = attrs["committed"]
        try:
            self.steps: list[int] = self._committed_steps()
        except StoreError as e:
            if self.committed:
                raise
            raise StoreError(f"{e}; it holds no committed checkpoint (creation was interrupted): start it again "
                             "with replace=True") from None
        self.has_ema = "ema" in self._root["checkpoints"] and self.config.train.ema_decay > 0

    def _damaged(self, what: str) -> StoreError:
        return StoreError(f"{self.path}: damaged run store: {what}")

    def _committed_steps(self) -> list[int]:
        """The committed checkpoints' steps, checked: the arrays exist, hold every committed row, and the steps
        increase from 0."""
        for group in GROUPS:
            if group not in self._root:
                raise self._damaged(f"group {group} is missing")
        n = self.committed
        arr = self._root["checkpoints/step"]
        if n > arr.shape[0]:
            raise self._damaged(f"committed = {n} but only {arr.shape[0]} checkpoint rows exist")
        steps = [int(s) for s in self._read(lambda: arr[:n], "checkpoints/step")] if n else []
        if steps and (steps[0] < 0 or any(b <= a for a, b in zip(steps, steps[1:]))):
            raise self._damaged(f"checkpoint steps {_fmt_steps(steps)} are not increasing from 0 "
                                "(rows beyond the written ones are committed)")
        return steps

    def _read(self, fn, what: str):
        """``fn()`` (a read from the store), with any failure turned into one line naming ``what``."""
        try:
            return fn()
        except ManifoldLensError:
            raise
        except Exception as e:  # zarr / codec errors of a missing or damaged chunk
            text = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise self._damaged(f"{what} cannot be read ({type(e).__name__}: {text[:120]})") from None

    def __repr__(self) -> str:
        return (f"Run({str(self.path)!r}, family={self.config.data.family!r}, "
                f"image_size={self.config.data.image_size}, steps={self.steps}, status={self.status!r})")

    @property
    def status(self) -> str:
        return str(self.attrs.get("status"))

    @property
    def versions(self) -> dict:
        return dict(self.attrs.get("versions", {}))

    @cached_property
    def dataset(self) -> SyntheticDataset:
        """The dataset as stored: its conditions and training set read from the store (renders ground truth)."""
        return SyntheticDataset.from_store(self.config, self.conditions, self.train_set)

    @property
    def schedule(self) -> NoiseSchedule:
        return NoiseSchedule.from_config(self.config.diffusion)

    @cached_property
    def conditions(self) -> xr.Dataset:
        """Every candidate condition with its region and train mask (dim ``condition``); read once, cached."""
        return self._group("dataset/conditions")

    @cached_property
    def train_set(self) -> xr.Dataset:
        """The training set as used (dim ``example``): image, x, y, family, weight; read once, cached."""
        return self._group("dataset/train")

    def _group(self, group: str) -> xr.Dataset:
        def load():
            with xr.open_zarr(str(self.path), group=group, consolidated=False, chunks=None) as ds:  # numpy, no dask
                return decode(ds.load())

        return self._read(load, f"group {group}")

    @property
    def loss(self) -> xr.Dataset:
        """Training loss per optimiser step (committed part only)."""
        n = int(self.attrs.get("loss_committed", 0))
        steps = self._read(lambda: self._root["loss/step"][:n], "loss/step")
        loss = self._read(lambda: self._root["loss/loss"][:n], "loss/loss")
        return xr.Dataset({"loss": ("step", loss, {"long_name": "training loss (MSE on the prediction target)"})},
                          coords={"step": ("step", steps, {"long_name": "optimiser step",
                                                           "units": COORDS["checkpoint"]["units"]})})

    def select_checkpoints(self, checkpoints="all") -> list[int]:
        """Committed steps from "all", "last", "STEP,STEP", a step or a list (see :func:`select_checkpoints`)."""
        return select_checkpoints(checkpoints, self.steps, str(self.path))

    def _index(self, step: int | None) -> int:
        if not self.steps:
            raise StoreError(f"{self.path}: has no committed checkpoint yet (the run was stopped before the first one)")
        if step is None or step == -1:
            return len(self.steps) - 1
        if step in self.steps:
            return self.steps.index(step)
        total = self._root["checkpoints/step"].shape[0]
        if total > self.committed and step in [int(s) for s in self._root["checkpoints/step"][:]]:
            raise StoreError(f"{self.path}: checkpoint at step {step} is half-written (not committed); "
                             f"committed steps: {_fmt_steps(self.steps)}")
        raise StoreError(f"{self.path}: no checkpoint at step {step}; committed steps: {_fmt_steps(self.steps)}")

    def state_dict(self, step: int | None = None, ema: bool | None = None) -> dict[str, torch.Tensor]:
        """Weights of one committed checkpoint as a torch state dict (EMA when ``ema``).

        Every row is checked against the checksum recorded at commit: a missing
        or altered chunk is a one-line StoreError naming the parameter and step.
        """
        i = self._index(step)
        use_ema = self.has_ema if ema is None else ema
        if use_ema and not self.has_ema:
            raise StoreError(f"{self.path}: this run has no EMA weights (train.ema_decay = 0)")
        kind = "ema" if use_ema else "params"
        names = self._param_names()
        sums = self._checksums(kind, i, len(names))
        at = f"checkpoint at step {self.steps[i]}"
        out = {}
        for j, name in enumerate(names):
            key = f"checkpoints/{kind}/{param_key(name)}"
            if key not in self._root:
                raise self._damaged(f"parameter {name} ({kind}) has no array in the store")
            value = self._read(lambda key=key: np.ascontiguousarray(self._root[key][i]),
                               f"{at}: parameter {name} ({kind})")
            if sums is not None and checksum(value) != sums[j]:
                raise self._damaged(f"{at}: parameter {name} ({kind}) does not match the checksum recorded at "
                                    "commit (a chunk is missing or altered)")
            out[name] = torch.from_numpy(value)
        return out

    def _checksums(self, kind: str, i: int, n: int) -> np.ndarray | None:
        """Checksums of row ``i`` of ``kind`` (None for a version-1 store, written before checksums)."""
        if int(self.attrs.get("schema_version", 1)) < 2:
            return None
        key = f"checkpoints/checksum/{kind}"
        if key not in self._root:
            raise self._damaged(f"{key} is missing (version-2 stores record a checksum of every checkpoint row)")
        sums = self._read(lambda: np.asarray(self._root[key][i]), key)
        if sums.shape != (n,):
            raise self._damaged(f"{key} holds {sums.size} checksums per checkpoint for {n} parameters")
        return sums

    def _param_names(self) -> list[str]:
        return list(self.attrs["param_names"])

    def load_model(self, step: int | None = None, ema: bool | None = None, device: str | torch.device = "cpu"):
        """A ready ``torch.nn.Module`` (eval mode) with a committed checkpoint's weights.

        step: training step (None = last committed); ema: use EMA weights
        (None = when the run has them). The stored model's size is checked
        against the memory available before it is built.
        """
        try:
            check_model_memory(self.config, what=f"{self.path}: the stored model")
        except MissingPluginError as e:
            raise MissingPluginError(f"{self.path}: {e}") from None
        model = build_model(self.model_name, self.config.model.params, self.config.data.image_size)
        expected, stored = list(model.state_dict()), self._param_names()
        if set(expected) != set(stored):
            extra, missing = sorted(set(stored) - set(expected)), sorted(set(expected) - set(stored))
            raise self._damaged(f"its parameters do not match model {self.model_name!r} built from its config (extra: "
                                f"{', '.join(extra[:3]) or 'none'}; missing: {', '.join(missing[:3]) or 'none'})")
        model.load_state_dict(self.state_dict(step, ema))
        return model.to(device).eval()

    def resume_state(self) -> tuple[dict[str, np.ndarray], dict, int]:
        """Optimizer and RNG state of the last commit: (arrays, meta, step)."""
        slot = int(self.attrs["resume_slot"])
        if slot < 0:
            raise StoreError(f"{self.path}: has no committed checkpoint to resume from; train it again with "
                             "replace=True")
        sg = self._read(lambda: self._root[f"resume/slot{slot}"], f"resume/slot{slot}")
        arrays = {k: self._read(lambda k=k: np.asarray(sg[k][...]), f"resume/slot{slot}/{k}") for k in sg.array_keys()}
        return arrays, json.loads(sg.attrs["meta"]), int(sg.attrs["step"])


GROUPS = ("dataset/conditions", "dataset/train", "checkpoints", "checkpoints/step", "loss", "resume")
ATTRS = {"config": dict, "committed": int, "last_step": int, "resume_slot": int, "loss_committed": int,
         "param_names": list}


def _stored_config(path: Path, attrs: dict) -> RunConfig:
    """The store's config, checked as strictly as ``train`` checks a new one; a damaged store is a StoreError."""
    for key, kind in ATTRS.items():
        if key not in attrs:
            raise StoreError(f"{path}: damaged run store: root attribute {key!r} is missing")
        if not isinstance(attrs[key], kind) or isinstance(attrs[key], bool):
            raise StoreError(f"{path}: damaged run store: root attribute {key} = {attrs[key]!r} is not a "
                             f"{kind.__name__}")
    if attrs["committed"] < 0 or not all(isinstance(n, str) for n in attrs["param_names"]):
        raise StoreError(f"{path}: damaged run store: committed < 0 or param_names not a list of names")
    try:
        config = RunConfig.from_dict(attrs["config"])
        config.checked()
    except MissingPluginError:  # not damage: the model's plugin is missing here; load_model names it
        return config
    except ConfigError as e:
        raise StoreError(f"{path}: the stored config is invalid ({e}); the store is damaged") from None
    return config


def _fmt_steps(steps: list[int]) -> str:
    if len(steps) > 12:
        return ", ".join(map(str, steps[:5])) + ", ..., " + ", ".join(map(str, steps[-5:]))
    return ", ".join(map(str, steps))


def select_checkpoints(checkpoints, available: list[int], where: str) -> list[int]:
    """Steps from "all", "last", "STEP,STEP", a step or a list, each one of ``available``; sorted, unique.

    The one checkpoint selection of the toolkit: a step not in ``available``
    (the committed or evaluated steps of ``where``) is a one-line error
    listing them.
    """
    if not len(available):
        raise ManifoldLensError(f"{where}: has no committed checkpoint yet; train it first (manifold-lens train)")
    available = [int(s) for s in available]
    if isinstance(checkpoints, str):
        spec = checkpoints.strip().lower()
        if spec == "last":
            return [available[-1]]
        if spec == "all":
            return list(available)
        try:
            checkpoints = [int(s) for s in spec.split(",") if s.strip()]
        except ValueError:
            raise ManifoldLensError(
                f"checkpoints = {checkpoints!r}: use all, last or a comma-separated list of steps, e.g. 0,500"
            ) from None
    wanted = [int(checkpoints)] if isinstance(checkpoints, (int, np.integer)) else [int(s) for s in checkpoints]
    if not wanted:
        raise ManifoldLensError("checkpoints = []: use all, last or steps such as 0,500")
    missing = [s for s in wanted if s not in available]
    if missing:
        raise ManifoldLensError(f"checkpoints: no checkpoint at step {missing[0]} in {where}; "
                                f"available steps: {_fmt_steps(available)}")
    return sorted(set(wanted))


def open_run(path: str | Path) -> Run:
    """Open a run store read-only (see :class:`Run`); a damaged store is a one-line StoreError."""
    return Run(path)
