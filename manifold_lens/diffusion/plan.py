"""Sampler plans: which sampler, the timesteps it visits and DDIM's eta, checked once (no torch).

Kept apart from the sampling loops (:mod:`~manifold_lens.diffusion.sampling`)
so that settings objects and the CLI can check sampler options without
importing torch.
"""

from __future__ import annotations

import math
from typing import Iterable, NamedTuple

import numpy as np

from ..errors import ConfigError

SAMPLERS = ("ddim", "ddpm")
DDIM_STEPS = 50  # DDIM's steps when none are given


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """The decreasing timesteps DDIM visits: ``steps`` values evenly spread over [0, T-1], ending at 0."""
    check_steps(steps, timesteps)
    return sorted({int(t) for t in np.linspace(0, timesteps - 1, steps).round()}, reverse=True)


def check_steps(steps: int, timesteps: int) -> int:
    """Validate a number of sampler steps against the schedule's T (one-line ConfigError naming ``steps``)."""
    try:
        whole = not isinstance(steps, bool) and int(steps) == steps
    except (TypeError, ValueError):
        whole = False
    if not whole or not 1 <= int(steps) <= timesteps:
        raise ConfigError(
            f"steps = {steps}: must be an integer between 1 and T = {timesteps} (the run's diffusion.timesteps)"
        )
    return int(steps)


def sampler_timesteps(sampler: str, steps: int | None, timesteps: int) -> list[int]:
    """Check a sampler and its number of steps against T; return the decreasing timesteps it visits.

    ``ddpm`` always takes all T steps (``steps`` must be None or T); ``ddim``
    takes ``steps`` (default DDIM_STEPS = 50) spread over [0, T-1].
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler = {sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if sampler == "ddpm":
        if steps is not None and int(steps) != timesteps:
            raise ConfigError(f"steps = {steps}: the ddpm sampler always takes all T = {timesteps} steps; "
                              "use sampler='ddim' for fewer")
        return list(range(timesteps - 1, -1, -1))
    return ddim_timesteps(timesteps, DDIM_STEPS if steps is None else steps)


def check_eta(eta: float) -> float:
    """DDIM's eta must be a finite number >= 0 (one-line ConfigError naming ``eta``)."""
    try:
        ok = not isinstance(eta, bool) and float(eta) >= 0 and math.isfinite(float(eta))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"eta = {eta}: must be a finite number >= 0 (0 deterministic, 1 DDPM-like)")
    return float(eta)


class SamplerPlan(NamedTuple):
    """A checked sampler: its name, the decreasing timesteps it visits and DDIM's eta."""

    sampler: str
    timesteps: list[int]
    eta: float


def plan_sampler(sampler: str, steps: int | None, eta: float, timesteps: int) -> SamplerPlan:
    """Check sampler settings once (see :func:`sampler_timesteps`), for repeated :func:`run_sampler` calls."""
    ts = sampler_timesteps(sampler, steps, timesteps)
    return SamplerPlan(sampler, ts, 1.0 if sampler == "ddpm" else check_eta(eta))  # ddpm ignores eta


def check_visited(plan: SamplerPlan, timesteps: Iterable[int], option: str = "timesteps") -> list[int]:
    """The timesteps, each one the planned sampler visits; a one-line error naming the nearest ones otherwise.

    ``option`` names the parameter in the message ("timesteps = [...]"; a
    name given as a ``--flag`` keeps the former "--timesteps [...]" form).
    """
    wanted = [int(t) for t in timesteps]
    visited = set(plan.timesteps)
    off = [t for t in wanted if t not in visited]
    if off:
        near = sorted(sorted(visited, key=lambda v: abs(v - off[0]))[:2])
        sep = " " if option.startswith("--") else " = "
        raise ConfigError(
            f"{option}{sep}{off}: not visited by {plan.sampler} with {len(plan.timesteps)} steps (nearest: "
            f"{', '.join(map(str, near))}; see manifold_lens.diffusion.ddim_timesteps)")
    return wanted
