"""The one schema check of a store: is this path a manifold-lens store of the kind asked for, readable here?

Every store records ``schema`` (``manifold-lens.run`` or ``manifold-lens.results``)
and ``schema_version`` in its root attributes. :func:`check_store` opens a
store read-only and raises a one-line :class:`~manifold_lens.errors.StoreError`
saying what the path is instead (missing, not Zarr, another kind of store, a
newer schema) and what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import zarr

from ..errors import StoreError

RUN = "manifold-lens.run"
RESULTS = "manifold-lens.results"
VERSIONS = {RUN: 2, RESULTS: 1}  # run v2: checkpoint rows carry checksums
_WHAT = {RUN: "run store", RESULTS: "results store"}
_MISSING_HINT = {RUN: "train one there first (out = {p})",
                 RESULTS: "write one with evaluate, analyze or percolate (out = {p})"}
_WRONG_HINT = {RUN: "give a run store (RUN.zarr)",
               RESULTS: "give a results store (e.g. out = results.zarr) or a new path"}


def param_key(name: str) -> str:
    """The array name of a model parameter in a run store: its state_dict key with "." replaced by "/"."""
    return name.replace(".", "/")


def checksum(value: np.ndarray) -> int:
    """A 63-bit BLAKE2b digest of an array's bytes (C order): a checkpoint row's fingerprint, never 0."""
    digest = hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=8).digest()
    return (int.from_bytes(digest, "little") >> 1) or 1


def open_group(path: str | Path, mode: str = "r") -> zarr.Group:
    """The root group of a Zarr v3 store (``mode`` as for ``zarr.open_group``)."""
    return zarr.open_group(str(path), mode=mode, zarr_format=3)


def store_schema(path: str | Path) -> str | None:
    """The ``schema`` attribute of the store at ``path``, or None when it is not a readable Zarr store."""
    try:
        return zarr.open_group(str(path), mode="r").attrs.get("schema")
    except Exception:  # not a store, unreadable, a file: no schema
        return None


def check_store(path: str | Path, schema: str) -> zarr.Group:
    """Open the store at ``path`` read-only if it has ``schema`` at a version this code reads; else StoreError."""
    if not isinstance(path, (str, Path)):
        raise StoreError(f"expected the path of a {_WHAT[schema]}, got {path!r}")
    p = Path(path)
    what = _WHAT[schema]
    if not p.exists():
        raise StoreError(f"{p}: no such {what} ({_MISSING_HINT[schema].format(p=p)})")
    try:
        g = open_group(p, "r")
    except Exception:  # zarr raises several types for a path that is not a store
        raise StoreError(f"{p}: not a manifold-lens {what} (no Zarr store there)") from None
    found = g.attrs.get("schema")
    if found != schema:
        kind = f"a {found} store" if found else f"a Zarr store without the {schema} schema"
        raise StoreError(f"{p}: not a manifold-lens {what} ({kind}); {_WRONG_HINT[schema]}")
    version = g.attrs.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise StoreError(f"{p}: damaged {what}: schema_version = {version!r} is not a version number")
    if version > VERSIONS[schema]:
        raise StoreError(f"{p}: {what} schema version {version} is newer than this manifold-lens supports "
                         f"({VERSIONS[schema]}); upgrade manifold-lens to read it")
    return g
