"""Writing run stores: create one with its dataset, then append checkpoints atomically (used by trainers).

See :mod:`manifold_lens.stores.run` for the layout. A checkpoint's arrays,
resume state and new loss entries are written first; the commit is one
atomic rewrite of the root attributes (``committed``, ``last_step``,
``resume_slot``, ``loss_committed``), so a killed run never shows a
half-written checkpoint to readers.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

import numpy as np
import zarr

from ..config import RunConfig
from ..datasets import SyntheticDataset
from ..errors import StoreError
from ..versions import package_versions
from .encoding import write_group
from .schema import RUN, VERSIONS, check_store, open_group, param_key


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
        root = open_group(p, "w")
        root.update_attributes({
            "schema": RUN,
            "schema_version": VERSIONS[RUN],
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
        write_group(p, "dataset/conditions", dataset.conditions_dataset())
        write_group(p, "dataset/train", dataset.train_dataset())
        root = open_group(p, "r+")
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
        check_store(path, RUN)
        return cls(path, open_group(path, "r+"))

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
            rows += [(g, param_key(name), np.asarray(v)) for name, v in values.items()]
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


