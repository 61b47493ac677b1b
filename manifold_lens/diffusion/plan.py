"""Sampler plans: which sampler, the timesteps it visits and DDIM's eta, checked once (no torch).

DDIM's timesteps are spaced as diffusers' schedulers space them
(``timestep_spacing``: linspace, leading or trailing); ancestral DDPM visits
every t from T-1 down to 0.

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


SPACINGS = ("linspace", "leading", "trailing")


def timestep_grid(timesteps) -> tuple[int, str, int]:
    """(T, timestep_spacing, steps_offset) of an int T (spacing "linspace") or of a schedule or diffusion config.

    The sampler functions take either: an int is the toolkit's own spacing;
    a :class:`~manifold_lens.diffusion.NoiseSchedule` or
    :class:`~manifold_lens.config.DiffusionConfig` carries its own.
    """
    if hasattr(timesteps, "timesteps"):
        return (int(timesteps.timesteps), getattr(timesteps, "timestep_spacing", "linspace"),
                int(getattr(timesteps, "steps_offset", 0)))
    return int(timesteps), "linspace", 0


def ddim_timesteps(timesteps, steps: int, spacing: str | None = None, offset: int | None = None) -> list[int]:
    """The decreasing timesteps DDIM visits in [0, T-1], as diffusers' ``set_timesteps`` spaces them.

    ``timesteps``: T, or a schedule / diffusion config (its timestep_spacing
    and steps_offset are the defaults of ``spacing`` and ``offset``).
    ``linspace`` (the toolkit's own): round(linspace(0, T-1, steps)), from T-1
    down to 0; ``leading``: k * (T // steps) + offset; ``trailing``:
    round(T - k * T / steps) - 1, from T-1 down.
    """
    T, grid_spacing, grid_offset = timestep_grid(timesteps)
    spacing = grid_spacing if spacing is None else spacing
    offset = grid_offset if offset is None else int(offset)
    check_steps(steps, T)
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, steps).round()
    elif spacing == "leading":
        ts = np.arange(steps) * (T // steps) + offset
    elif spacing == "trailing":
        # diffusers' own arithmetic; its float arange can overshoot by one element (t = -1), dropped here
        ts = np.round(np.arange(T, 0, -T / steps))[:steps] - 1
    else:
        raise ConfigError(f"timestep_spacing = {spacing!r}: must be one of {', '.join(SPACINGS)}")
    if ts.max() > T - 1:
        raise ConfigError(f"steps = {steps}: with timestep_spacing 'leading' and steps_offset {offset} DDIM would "
                          f"start at t = {int(ts.max())}, outside [0, T = {T}); take fewer steps")
    return sorted({int(t) for t in ts}, reverse=True)


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


def sampler_timesteps(sampler: str, steps: int | None, timesteps) -> list[int]:
    """Check a sampler and its number of steps against T; return the decreasing timesteps it visits.

    ``timesteps``: T or a schedule / diffusion config (see :func:`timestep_grid`).
    ``ddpm`` always takes all T steps (``steps`` must be None or T); ``ddim``
    takes ``steps`` (default DDIM_STEPS = 50) spaced as :func:`ddim_timesteps` says.
    """
    T = timestep_grid(timesteps)[0]
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler = {sampler!r}: must be one of {', '.join(SAMPLERS)}")
    if sampler == "ddpm":
        if steps is not None and int(steps) != T:
            raise ConfigError(f"steps = {steps}: the ddpm sampler always takes all T = {T} steps; "
                              "use sampler='ddim' for fewer")
        return list(range(T - 1, -1, -1))
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


def plan_sampler(sampler: str, steps: int | None, eta: float, timesteps) -> SamplerPlan:
    """Check sampler settings once (see :func:`sampler_timesteps`), for repeated :func:`run_sampler` calls.

    ``timesteps``: T (DDIM's "linspace" spacing) or the run's schedule or
    diffusion config, whose timestep_spacing and steps_offset DDIM then follows.
    """
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
