"""One writer per store: an exclusive lock held while a process writes a run or results store.

The lock is the file ``<store>.lock`` beside the store (``run.zarr.lock``),
so creating, replacing (``replace=True``) and deleting the store never touches
it. It is taken with ``flock`` on that file: the kernel releases it when the
holder exits, even on SIGKILL, so a lock left behind by a dead process is
detected as stale and taken over, never honoured. The file records the
holder's pid, host and command, which a refused second writer names in its
one-line error. A file system without ``flock`` (some network mounts) is a
one-line error asking for a local disk: a store is never written unlocked.

Readers never lock: they see only committed data (see the store modules).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError

import fcntl


def lock_path(store: str | Path) -> Path:
    """The lock file of ``store``: ``<store>.lock`` beside it."""
    p = Path(store)
    return p.with_name(p.name + ".lock")


def _holder_text() -> str:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]})


def _read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(store: Path, holder: dict, role: str = "writer", label: str | None = None) -> str:
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if holder.get("since"):
        who += f" since {holder['since']}"
    if holder.get("command"):
        who += f" ({holder['command']})"
    return (f"{label or store}: another {role} holds it: {who}; wait for it to finish, or stop it "
            f"(lock file {lock_path(store)})")



class StoreLock:
    """The exclusive writer lock of one store; use as a context manager or call acquire/release."""

    def __init__(self, store: str | Path, *, role: str = "writer", label: str | None = None):
        self.store, self.role, self.label = Path(store), role, label
        self.path = lock_path(self.store)
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> "StoreLock":
        """Take the lock, or raise a one-line StoreError naming the holder. Re-entrant within a process."""
        if self._fd is not None:
            self._depth += 1
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not self._flock(fd):
                os.close(fd)
                raise StoreError(_describe(self.store, _read_holder(self.path), self.role, self.label))
            try:  # the file may have been removed by its previous holder after we opened it: lock the one there
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, _holder_text().encode())
        os.fsync(fd)
        self._fd, self._depth = fd, 1
        return self

    def _flock(self, fd: int) -> bool:
        """Lock ``fd`` exclusively without waiting; False when another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            os.close(fd)
            raise StoreError(f"{self.store}: cannot lock {self.path} ({os.strerror(e.errno)}); this file system "
                             "does not support locks: put the store on a local disk") from None

    def release(self) -> None:
        """Give the lock back (the outermost release removes the lock file)."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_held: dict[Path, StoreLock] = {}


@contextmanager
def store_lock(store: str | Path, *, role: str = "writer", label: str | None = None):
    """Hold the writer lock of ``store`` for the ``with`` block (re-entrant: nested writers in one process share it).

    A second process asking for it gets a one-line StoreError naming the holder
    (``label`` or the store, and ``role``: "another writer holds it").
    """
    key = Path(store).resolve()
    lock = _held.get(key)
    if lock is None:
        lock = _held[key] = StoreLock(store, role=role, label=label)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()
        if not lock.held:
            _held.pop(key, None)
