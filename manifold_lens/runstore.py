"""Run stores: a training run's config, data, checkpoints and loss in one Zarr store.

Layout of ``RUN.zarr`` (schema ``manifold-lens.run``)::

    attrs       schema, schema_version, config (resolved, JSON), model {name},
                versions, seed, status, committed, last_step, resume_slot
    dataset/conditions   candidate lattice: x, y, family, region, in_train (dim condition)
    dataset/train        training set as used: image, x, y, family, weight (dim example)
    checkpoints/step, checkpoints/epoch           (checkpoint,)
    checkpoints/params/<param name>               (checkpoint, *shape) raw weights
    checkpoints/ema/<param name>                  (checkpoint, *shape) EMA weights, if enabled
    loss/step, loss/loss                          per optimiser step
    resume/slot0, resume/slot1                    optimizer + RNG state of the last
                                                  two commits (double-buffered)

Appending a checkpoint writes its data first and then raises the ``committed``
count in the root attrs (an atomic file replace). Arrays grow in blocks, so
they may hold spare rows past ``committed``. Readers only see committed
checkpoints; anything beyond is a half-written checkpoint from a killed run
and is never loaded. The resume state is written to the slot the previous
commit did not use, so a crash can never destroy the state of the last commit.
Parameter names are the model's ``state_dict`` keys with "." replaced by "/".
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import xarray as xr
import zarr

from .config import RunConfig
from .datasets import SyntheticDataset
from .errors import StoreError
from .models import build_model
from .results import normalise_strings, prepare_for_zarr
from .schedule import NoiseSchedule
from .versions import package_versions

SCHEMA = "manifold-lens.run"
SCHEMA_VERSION = 1


def _key(name: str) -> str:
    return name.replace(".", "/")


def _zarr_open(path: Path, mode: str) -> zarr.Group:
    return zarr.open_group(str(path), mode=mode, zarr_format=3)


def check_run_store(path: str | Path) -> zarr.Group:
    """Open a run store read-only, or raise a one-line StoreError saying what is wrong."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no such run store (train one with `manifold-lens train --out {p}`)")
    try:
        g = _zarr_open(p, "r")
    except Exception:
        raise StoreError(f"{p}: not a manifold-lens run (no Zarr store there)") from None
    schema = g.attrs.get("schema")
    if schema != SCHEMA:
        what = f"a {schema} store" if schema else "a Zarr store without the manifold-lens run schema"
        raise StoreError(f"{p}: not a manifold-lens run ({what})")
    version = int(g.attrs.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{p}: run schema version {version} is newer than this manifold-lens supports ({SCHEMA_VERSION}); "
            "upgrade manifold-lens to read it"
        )
    return g


# ---------------------------------------------------------------------------
# Writing (used by the trainer)
# ---------------------------------------------------------------------------

class RunWriter:
    """Creates a run store and appends checkpoints atomically."""

    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self.root = group
        self._arrays: dict[str, zarr.Array] = {}
        self._groups: dict[str, zarr.Group] = {}
        self._pool = ThreadPoolExecutor(max_workers=8)  # chunk writes are I/O bound

    # -- creation ---------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: RunConfig, dataset: SyntheticDataset,
               param_names: list[str], overwrite: bool = False) -> "RunWriter":
        p = Path(path)
        if p.exists():
            if not overwrite:
                raise StoreError(f"{p} already exists: pass --resume to continue it or --overwrite to replace it")
            if p.is_dir():
                if any(p.iterdir()) and not (p / "zarr.json").exists():
                    raise StoreError(f"{p} exists and is not a Zarr store; refusing to delete it, choose another --out")
                shutil.rmtree(p)
            else:
                raise StoreError(f"{p} exists and is a file; choose another --out")
        root = _zarr_open(p, "w")
        root.update_attributes({
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "config": config.to_dict(),
            "model": {"name": config.model.name},
            "seed": config.train.seed,
            "versions": package_versions(),
            "status": "initialising",
            "committed": 0,
            "last_step": -1,
            "resume_slot": -1,
            "loss_committed": 0,
            "param_names": list(param_names),
        })
        prepare_for_zarr(dataset.conditions_dataset()).to_zarr(str(p), group="dataset/conditions", mode="w", consolidated=False,
                                             zarr_format=3)
        prepare_for_zarr(dataset.train_dataset()).to_zarr(str(p), group="dataset/train", mode="w", consolidated=False, zarr_format=3)
        root = _zarr_open(p, "r+")
        loss = root.create_group("loss")
        loss.create_array("step", shape=(0,), chunks=(4096,), dtype="int64")
        loss.create_array("loss", shape=(0,), chunks=(4096,), dtype="float32")
        ck = root.create_group("checkpoints")
        ck.create_array("step", shape=(0,), chunks=(1024,), dtype="int64", fill_value=-1)
        ck.create_array("epoch", shape=(0,), chunks=(1024,), dtype="float64")
        root.create_group("resume")
        root.attrs["status"] = "running"
        return cls(p, root)

    @classmethod
    def open_for_resume(cls, path: str | Path) -> "RunWriter":
        check_run_store(path)
        return cls(path, _zarr_open(Path(path), "r+"))

    # -- appending --------------------------------------------------------
    @property
    def committed(self) -> int:
        return int(self.root.attrs["committed"])

    def _array(self, group: zarr.Group, name: str, like: np.ndarray) -> zarr.Array:
        """The (cached) array ``group/name`` with a leading checkpoint dim, created on first use."""
        key = f"{group.path}/{name}"
        if key not in self._arrays:
            if name in group:
                self._arrays[key] = group[name]
            else:
                self._arrays[key] = group.create_array(name, shape=(0, *like.shape), chunks=(1, *like.shape),
                                                       dtype=like.dtype, fill_value=-1 if like.dtype.kind == "i"
                                                       else 0)
        return self._arrays[key]

    def _write_row(self, arr: zarr.Array, index: int, value: np.ndarray) -> None:
        # Grow in blocks so most commits rewrite no array metadata; rows beyond
        # the committed count are never read.
        if arr.shape[0] <= index:
            arr.resize((max(index + 1, 2 * arr.shape[0], 8), *arr.shape[1:]))
        arr[index] = value

    def commit_checkpoint(self, step: int, epoch: float, params: dict[str, np.ndarray],
                          ema: dict[str, np.ndarray] | None, resume_state: dict[str, np.ndarray],
                          resume_meta: dict, losses: Iterable[tuple[int, float]]) -> None:
        """Write checkpoint data, resume state and new loss entries, then commit."""
        k = self.committed
        ck = self.root["checkpoints"]
        rows = [(ck, "step", np.asarray(np.int64(step))), (ck, "epoch", np.asarray(np.float64(epoch)))]
        for group_name, values in (("params", params), ("ema", ema)):
            if values is None:
                continue
            g = self._groups.get(group_name) or self._groups.setdefault(group_name, ck.require_group(group_name))
            rows += [(g, _key(name), np.asarray(v)) for name, v in values.items()]
        jobs = [(self._array(g, name, v), v) for g, name, v in rows]
        list(self._pool.map(lambda job: self._write_row(job[0], k, job[1]), jobs))
        # resume state into the slot the last commit did not use
        slot = 1 - int(self.root.attrs["resume_slot"]) if int(self.root.attrs["resume_slot"]) >= 0 else 0
        sg = self.root["resume"].require_group(f"slot{slot}")
        for name, value in resume_state.items():
            value = np.asarray(value)
            sg.create_array(name, data=value, chunks=value.shape or None, overwrite=True)
        sg.update_attributes({"step": step, "meta": json.dumps(resume_meta)})
        # loss history
        n0 = int(self.root.attrs["loss_committed"])
        losses = list(losses)
        lg = self.root["loss"]
        n1 = n0 + len(losses)
        for name, col, dtype in (("step", 0, "int64"), ("loss", 1, "float32")):
            arr = lg[name]
            if arr.shape[0] < n1:
                arr.resize((max(n1, 2 * arr.shape[0]),))
            if losses:
                arr[n0:n1] = np.asarray([r[col] for r in losses], dtype=dtype)
        # commit: one atomic rewrite of the root metadata
        self.root.update_attributes({"committed": k + 1, "last_step": int(step), "resume_slot": slot,
                                "loss_committed": n1})

    def set_status(self, status: str, **extra) -> None:
        self.root.update_attributes({"status": status, **extra})

    def update_config(self, config: RunConfig) -> None:
        self.root.attrs["config"] = config.to_dict()


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class Run:
    """A read-only view of a run store. Obtain with :func:`open_run`."""

    def __init__(self, path: str | Path):
        self.path = Path(path).resolve()
        self._root = check_run_store(self.path)
        attrs = self._root.attrs.asdict()
        self.attrs = attrs
        self.config = RunConfig.from_dict(attrs["config"])
        self.model_name = attrs["model"]["name"]
        self.committed = int(attrs["committed"])
        steps = self._root["checkpoints/step"][: self.committed] if self.committed else np.zeros(0, np.int64)
        self.steps: list[int] = [int(s) for s in steps]
        self.has_ema = "ema" in self._root["checkpoints"] and self.config.train.ema_decay > 0
        self._dataset: SyntheticDataset | None = None

    def __repr__(self) -> str:
        return (f"Run({str(self.path)!r}, family={self.config.data.family!r}, "
                f"image_size={self.config.data.image_size}, steps={self.steps}, status={self.status!r})")

    @property
    def status(self) -> str:
        return str(self.attrs.get("status"))

    @property
    def versions(self) -> dict:
        return dict(self.attrs.get("versions", {}))

    @property
    def dataset(self) -> SyntheticDataset:
        """The dataset rebuilt from the stored config (deterministic; renders ground truth)."""
        if self._dataset is None:
            self._dataset = SyntheticDataset(self.config.data)
        return self._dataset

    @property
    def schedule(self) -> NoiseSchedule:
        return NoiseSchedule.from_config(self.config.diffusion)

    @cached_property
    def conditions(self) -> xr.Dataset:
        """Every candidate condition with its region and train mask (dim ``condition``); read once, cached."""
        with xr.open_zarr(str(self.path), group="dataset/conditions", consolidated=False) as ds:
            return normalise_strings(ds.load())

    @cached_property
    def train_set(self) -> xr.Dataset:
        """The training set as used (dim ``example``): image, x, y, family, weight; read once, cached."""
        with xr.open_zarr(str(self.path), group="dataset/train", consolidated=False) as ds:
            return normalise_strings(ds.load())

    @property
    def loss(self) -> xr.Dataset:
        """Training loss per optimiser step (committed part only)."""
        n = int(self.attrs.get("loss_committed", 0))
        steps = self._root["loss/step"][:n]
        loss = self._root["loss/loss"][:n]
        return xr.Dataset({"loss": ("step", loss, {"long_name": "training loss (MSE on noise)"})},
                          coords={"step": ("step", steps, {"long_name": "optimiser step"})})

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
        """Weights of one committed checkpoint as a torch state dict (EMA when ``ema``)."""
        i = self._index(step)
        use_ema = self.has_ema if ema is None else ema
        if use_ema and not self.has_ema:
            raise StoreError(f"{self.path}: this run has no EMA weights (train.ema_decay = 0)")
        group = self._root["checkpoints/ema" if use_ema else "checkpoints/params"]
        out = {}
        for name in self._param_names():
            out[name] = torch.from_numpy(np.ascontiguousarray(group[_key(name)][i]))
        return out

    def _param_names(self) -> list[str]:
        return list(self.attrs["param_names"])

    def load_model(self, step: int | None = None, ema: bool | None = None, device: str | torch.device = "cpu"):
        """A ready ``torch.nn.Module`` (eval mode) with a committed checkpoint's weights.

        step: training step (None = last committed); ema: use EMA weights
        (None = when the run has them).
        """
        model = build_model(self.model_name, self.attrs["config"]["model"], self.config.data.image_size)
        model.load_state_dict(self.state_dict(step, ema))
        return model.to(device).eval()

    def resume_state(self) -> tuple[dict[str, np.ndarray], dict, int]:
        """Optimizer and RNG state of the last commit: (arrays, meta, step)."""
        slot = int(self.attrs["resume_slot"])
        if slot < 0:
            raise StoreError(f"{self.path}: has no committed checkpoint to resume from; use --overwrite to start again")
        sg = self._root[f"resume/slot{slot}"]
        arrays = {k: np.asarray(sg[k][...]) for k in sg.array_keys()}
        return arrays, json.loads(sg.attrs["meta"]), int(sg.attrs["step"])


def _fmt_steps(steps: list[int]) -> str:
    if len(steps) > 12:
        return ", ".join(map(str, steps[:5])) + ", ..., " + ", ".join(map(str, steps[-5:]))
    return ", ".join(map(str, steps))


def open_run(path: str | Path) -> Run:
    """Open a run store read-only (see :class:`Run`)."""
    return Run(path)
