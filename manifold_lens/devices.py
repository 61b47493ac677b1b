"""What the machine offers: the compute device to run models on, and the memory available."""

from __future__ import annotations

import os

import torch

from .errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) -> CUDA when available, else CPU; 'cpu', 'cuda' and 'cuda:N' as given.

    A CUDA device this machine does not have is a one-line error.
    """
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
