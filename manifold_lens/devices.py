"""What the machine offers: the compute device, the memory available, and a fair share of the CPU.

A fair share (issue 25): on a machine where other processes keep cores busy,
OpenMP threads that spin at barriers while a busy process holds their core
make training several times slower (4.3x with one busy process on 2 cores).
:func:`spin_policy` (``GOMP_SPINCOUNT=200000``, set before torch's OpenMP
starts: the CLI entry and the study workers do it) bounds how long a waiting
thread spins before it sleeps, and :func:`fair_threads` counts the cores not kept busy by
others, so a run asks only for those (:func:`apply_fair_threads`).

A study's workers watch their runner (:func:`watch_runner`): a worker whose
runner died exits at once (Linux ``PR_SET_PDEATHSIG`` where the runner is its
parent, and a watcher thread polling the runner's pid and start time), so
no worker outlives its runner, takes another run, or holds a lock.

torch is imported inside :func:`resolve_device` only: the CLI imports this
module before torch's OpenMP starts.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

# GOMP_SPINCOUNT for every process that trains or samples (unless the user set it or OMP_WAIT_POLICY): measured with
# benchmarks/train_throughput.py --competing 1 on 2 cores, quick model, img/s idle / beside one busy process:
# OMP_WAIT_POLICY=ACTIVE 481 / 215 (2.2x), PASSIVE 301 / 327, GOMP_SPINCOUNT 200000: 471 / 313 (1.5x).
SPIN_COUNT = "200000"
WATCH_SECONDS = 0.5  # how often a worker checks that its runner lives (s)


def resolve_device(device: "str | torch.device | None" = "auto") -> "torch.device":
    """'auto' (or None) -> CUDA when available, else CPU; 'cpu', 'cuda' and 'cuda:N' as given.

    A CUDA device this machine does not have is a one-line error.
    """
    import torch

    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device = {str(device)!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device = {str(device)!r}: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device = {str(device)!r}: CUDA is not available on this machine; use cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device = {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA "
                                    f"device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return dev


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


# -- a fair share of the CPU ----------------------------------------------------------------------

def spin_policy() -> None:
    """Bound OpenMP's spin-wait (``GOMP_SPINCOUNT``, :data:`SPIN_COUNT`) for this process and the workers it
    starts, unless the user set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``: a waiting thread spins briefly (the
    idle speed of an unbounded spin) and then sleeps (a busy process's core is not held).

    Takes effect only where torch's OpenMP has not started yet: call it before ``import torch``.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)


def _allowed_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def busy_elsewhere() -> int:
    """Runnable threads of other processes right now (``/proc/loadavg``'s running count, less this reader); 0
    where unknown."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - 1)


def fair_threads() -> int:
    """Threads a run should ask for: the cores this process may use (affinity) less those other processes keep
    busy, at least 1; ``OMP_NUM_THREADS``, when set, caps it."""
    n = max(1, _allowed_cores() - busy_elsewhere())
    cap = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(n, int(cap))) if cap.isdigit() and int(cap) > 0 else n


def apply_fair_threads() -> int:
    """Lower torch's intra-op threads to :func:`fair_threads` (never raise them); the threads now used."""
    import torch

    n = min(torch.get_num_threads(), fair_threads())
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


# -- workers that never outlive their runner ------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, /proc/PID/stat field 22); None when it is gone or a
    zombie (killed, not reaped)."""
    try:
        fields = open(f"/proc/{int(pid)}/stat").read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def process_identity(pid: int) -> dict:
    """``{"pid", "host", "start"}`` of a process on this host: what :func:`runner_alive` compares (a reused pid has
    another start time)."""
    return {"pid": int(pid), "host": socket.gethostname(), "start": _start_time(pid)}


def runner_alive(runner: dict | None) -> bool:
    """Whether the runner ``runner`` (:func:`process_identity`) still runs; True when it is not on this host or not
    known."""
    if not runner or runner.get("host") != socket.gethostname():
        return True
    if os.path.isdir("/proc"):
        start = _start_time(runner["pid"])
        return start is not None and (runner.get("start") is None or start == runner["start"])
    try:
        os.kill(int(runner["pid"]), 0)
        return True
    except OSError:
        return False


_watched: set = set()


def watch_runner(runner: dict | None) -> None:
    """Exit this process as soon as ``runner`` dies: ``PR_SET_PDEATHSIG`` (SIGKILL) when the runner is this
    process's parent (Linux), and a daemon thread polling :func:`runner_alive` every :data:`WATCH_SECONDS`.

    Also bounds OpenMP's spin-wait (:func:`spin_policy`; a pool worker's initializer runs before torch is imported).
    Exiting with ``os._exit`` leaves every lock to the kernel, which releases it.
    """
    spin_policy()
    if not runner or runner.get("host") != socket.gethostname() or runner["pid"] in _watched:
        return
    _watched.add(runner["pid"])
    if os.getppid() == runner["pid"]:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while runner_alive(runner):
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    if not runner_alive(runner):  # it died before we started watching
        os._exit(1)
    threading.Thread(target=watch, name="manifold-lens-runner-watch", daemon=True).start()
