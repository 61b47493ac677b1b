"""Writing run stores: create one with its dataset, then append checkpoints atomically (used by trainers).

See :mod:`manifold_lens.stores.run` for the layout. A checkpoint's arrays,
resume state and new loss entries are written first; the commit is one
atomic rewrite of the root attributes (``committed``, ``last_step``,
``resume_slot``, ``loss_committed``), so a killed run never shows a
half-written checkpoint to readers.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
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
from .schema import RUN, VERSIONS, check_store, checksum, open_group, param_key, store_schema


def _renamed_overwrite(replace: bool, overwrite: bool | None, where: str) -> bool:
    """``replace``, or the deprecated ``overwrite`` it replaces (with a DeprecationWarning)."""
    if overwrite is None:
        return bool(replace)
    warnings.warn(f"{where}(overwrite=...) is deprecated: use replace=...", DeprecationWarning, stacklevel=3)
    return bool(replace or overwrite)


def check_replaceable(path: str | Path, replace: bool = False, *, overwrite: bool | None = None) -> None:
    """A new run store may go to ``path``: it is absent, or ``replace`` and it is a run store (or empty folder).

    Anything else (a results store, another Zarr store, a folder of files, a
    file) is refused with what it is: ``replace`` never deletes data that is
    not a run. ``overwrite`` is the deprecated name of ``replace``.
    """
    replace = _renamed_overwrite(replace, overwrite, "check_replaceable")
    path = Path(path)
    if not path.exists():
        return
    if not replace:
        raise StoreError(f"{path} already exists: pass resume=True to continue it or replace=True to replace it")
    if path.is_dir() and not any(path.iterdir()):
        return
    schema = store_schema(path)
    if schema == RUN:
        return
    what = ("a file" if not path.is_dir() else f"a {schema} store" if schema else
            "a Zarr store that is not a run" if (path / "zarr.json").exists() else "a folder of other files")
    raise StoreError(f"{path} is {what}; replace=True replaces only a run store: choose another out")


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
               param_names: list[str], *, replace: bool = False, overwrite: bool | None = None) -> "RunWriter":
        """Create the store at ``path`` (replacing a run store there when ``replace``; ``overwrite`` is its
        deprecated name).

        The store is built in a hidden folder beside ``path`` and renamed into
        place when complete, so a kill during creation leaves no half-made
        store at ``path``. Callers hold the store's lock
        (:func:`~manifold_lens.stores.lock.store_lock`).
        """
        p = Path(path)
        check_replaceable(p, _renamed_overwrite(replace, overwrite, "RunWriter.create"))
        for stale in p.parent.glob(f".{p.name}.creating-*"):  # left by a killed creation (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = p.with_name(f".{p.name}.creating-{os.getpid()}")
        root = open_group(tmp, "w")
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
        write_group(tmp, "dataset/conditions", dataset.conditions_dataset())
        write_group(tmp, "dataset/train", dataset.train_dataset())
        root = open_group(tmp, "r+")
        loss = root.create_group("loss")
        loss.create_array("step", shape=(0,), chunks=(4096,), dtype="int64")
        loss.create_array("loss", shape=(0,), chunks=(4096,), dtype="float32")
        ck = root.create_group("checkpoints")
        ck.create_array("step", shape=(0,), chunks=(1024,), dtype="int64", fill_value=-1)
        ck.create_array("epoch", shape=(0,), chunks=(1024,), dtype="float64")
        root.create_group("resume")
        root.attrs["status"] = "running"
        old = p.with_name(f".{p.name}.replaced-{os.getpid()}") if p.exists() else None
        if old is not None:
            os.rename(p, old)
        os.rename(tmp, p)
        if old is not None:
            shutil.rmtree(old)
        return cls(p, open_group(p, "r+"))

    @classmethod
    def open_for_resume(cls, path: str | Path) -> "RunWriter":
        """Open a run store to append checkpoints; a store written before checksums gets them for its rows."""
        check_store(path, RUN)
        writer = cls(path, open_group(path, "r+"))
        if int(writer.root.attrs.get("schema_version", 1)) < 2:
            writer._add_checksums()
        return writer

    def _add_checksums(self) -> None:
        """Fingerprint the committed rows of a version-1 store (they had none) and mark it version 2."""
        names, ck = list(self.root.attrs["param_names"]), self.root["checkpoints"]
        for group_name in ("params", "ema"):
            if group_name in ck:
                for i in range(self.committed):
                    row = [checksum(ck[group_name][param_key(n)][i]) for n in names]
                    self._write_row(self._checksum_array(group_name, len(names)), i, np.asarray(row, np.int64))
        self.root.attrs["schema_version"] = VERSIONS[RUN]

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

    def _checksum_array(self, group_name: str, n: int) -> zarr.Array:
        g = self.root["checkpoints"].require_group("checksum")
        return self._array(g, group_name, np.zeros(n, np.int64))

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
            sums = np.asarray([checksum(np.asarray(v)) for v in values.values()], np.int64)
            rows.append((ck.require_group("checksum"), group_name, sums))
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


