"""Reverse-diffusion samplers: ancestral DDPM (all T steps) and DDIM (any number of steps, any eta).

Both work with any epsilon-prediction model called as ``model(x_t, t, cond)``
(x_t (B, 1, N, N) float32, t (B,) long timesteps, cond (B, 2) float32 =
(x, y) in pixels) and with a :class:`~manifold_lens.diffusion.NoiseSchedule`.

Conventions
-----------
* Timesteps run t = T-1 .. 0; the start x_{T-1} is standard normal noise.
* The state "at t" (see ``return_states_at``) is x_t, the noisy image the model
  sees at timestep t, before the update from t.
* Every step predicts x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and clips
  it to the pixel range [-1, 1] (``clip_x0``, on by default). The training data
  live in [-1, 1], so a prediction outside it is an error of the model; clipping
  is the standard DDPM practice (Ho et al. 2020) and stops early, badly trained
  checkpoints from diverging. DDIM then uses the noise implied by the clipped x0.
* DDPM uses the posterior variance beta-tilde ("fixed small"); its last step
  (t = 0) adds no noise. DDIM with ``eta = 1`` and ``steps = T`` is the same
  process, and draws noise in the same order, so the two agree sample by sample.

Randomness: all noise is drawn on the CPU from one ``torch.Generator`` (seeded
by ``seed`` when none is given) and then moved to the device, so results are
reproducible across devices up to floating point, and independent of
``batch_size``: the loop runs over timesteps outside and batches inside, and the
noise of a whole step is drawn at once.
"""

from __future__ import annotations

import math

from typing import Callable, Iterable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..errors import ConfigError
from .schedule import NoiseSchedule

SAMPLERS = ("ddim", "ddpm")
DDIM_STEPS = 50  # DDIM's steps when none are given

EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


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


def _model_device(model) -> torch.device | None:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return None


@torch.no_grad()
def sample(
    model: EpsModel,
    schedule: NoiseSchedule,
    cond,
    *,
    image_size: int,
    sampler: str = "ddim",
    steps: int | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    clip_x0: bool = True,
    return_states_at: Iterable[int] | None = None,
    progress: bool = True,
):
    """Generate one image per row of ``cond``.

    Args:
        model: epsilon-prediction model, ``model(x_t, t, cond) -> eps``.
        schedule: the run's noise schedule (T, betas).
        cond: (B, 2) conditions (x, y) in pixels (array or tensor).
        image_size: N, images are (1, N, N).
        sampler: "ddim" or "ddpm" (ancestral, all T steps).
        steps: DDIM steps (default 50, at most T); for DDPM only T is accepted.
        eta: DDIM stochasticity, 0 = deterministic, 1 = DDPM-like.
        generator: CPU torch.Generator for all noise; default ``manual_seed(seed)``.
        batch_size: model calls per forward pass (does not change the result).
        device: where the model runs; default the model's device (CPU if none).
        clip_x0: clip predicted x0 to [-1, 1] at every step.
        return_states_at: timesteps t whose states x_t to return as well; each
            must be a timestep the sampler visits (all t for DDPM,
            :func:`ddim_timesteps` for DDIM).
        progress: show a tqdm bar over the steps.

    Returns:
        Images (B, 1, N, N) float32 on the CPU; with ``return_states_at`` a
        tuple ``(images, {t: x_t})`` with CPU tensors of the same shape.
    """
    plan = plan_sampler(sampler, steps, eta, schedule.timesteps)
    if return_states_at is not None:
        check_visited(plan, return_states_at, "return_states_at")
    if batch_size < 1:
        raise ConfigError(f"batch_size = {batch_size}: must be >= 1")
    return run_sampler(model, schedule, cond, plan, image_size=image_size,
                       generator=generator if generator is not None else torch.Generator().manual_seed(int(seed)),
                       batch_size=batch_size, device=resolve_device(device) if device is not None else None,
                       clip_x0=clip_x0, states_at=return_states_at, progress=progress)


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


@torch.no_grad()
def run_sampler(model, schedule: NoiseSchedule, cond, plan: SamplerPlan, *, image_size: int,
                generator: torch.Generator, batch_size: int = 256, device: torch.device | None = None,
                clip_x0: bool = True, states_at: Iterable[int] | None = None, progress: bool = False,
                start: torch.Tensor | None = None):
    """The sampling loop of :func:`sample` on a checked :class:`SamplerPlan` (no input checks).

    ``start``: the initial noise x_T, any shape that broadcasts to (B, 1, N, N)
    (e.g. one (1, 1, N, N) field shared by every sample); default drawn from ``generator``.
    """
    sampler, ts, eta_eff = plan
    wanted = set(int(t) for t in (states_at or []))
    dev = device if device is not None else (_model_device(model) or torch.device("cpu"))
    cond = torch.as_tensor(np.asarray(cond, dtype=np.float32) if not torch.is_tensor(cond) else cond)
    cond = cond.to(torch.float32).reshape(-1, 2)
    B, N = cond.shape[0], int(image_size)
    gen = generator

    abar = schedule.alphas_cumprod  # float64, CPU
    x = (torch.randn((B, 1, N, N), generator=gen, dtype=torch.float32) if start is None
         else torch.as_tensor(start, dtype=torch.float32).expand(B, 1, N, N).clone()).to(dev)
    cond_d = cond.to(dev)
    states: dict[int, torch.Tensor] = {}
    # t_prev = -1 means "clean": abar_prev = 1.
    pairs = list(zip(ts, ts[1:] + [-1]))
    bar = tqdm(pairs, desc=f"{sampler} {len(ts)} steps", disable=not progress, leave=False, unit="step")
    for t, t_prev in bar:
        if t in wanted:
            states[t] = x.detach().to("cpu", copy=True)
        a_t = float(abar[t])
        a_prev = float(abar[t_prev]) if t_prev >= 0 else 1.0
        eps = torch.empty_like(x)
        t_vec = torch.full((min(batch_size, B),), t, dtype=torch.long, device=dev)
        for lo in range(0, B, batch_size):
            hi = min(lo + batch_size, B)
            out = model(x[lo:hi], t_vec[: hi - lo], cond_d[lo:hi])
            eps[lo:hi] = out.to(torch.float32)
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        if clip_x0:
            x0 = x0.clamp(-1.0, 1.0)
            eps = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
        if sampler == "ddpm":
            # Ancestral step: mean of the posterior q(x_{t-1} | x_t, x0), variance beta-tilde.
            beta_t = float(schedule.betas[t])
            var = float(schedule.posterior_variance[t])
            x = (a_prev**0.5 * beta_t / (1 - a_t)) * x0 + ((1 - beta_t) ** 0.5 * (1 - a_prev) / (1 - a_t)) * x
        else:
            # DDIM (Song et al. 2021, eq. 12); with eta = 1 over all steps this is the DDPM step.
            var = 0.0
            if t_prev >= 0 and eta_eff > 0:
                var = eta_eff**2 * (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)
            x = a_prev**0.5 * x0 + max(1 - a_prev - var, 0.0) ** 0.5 * eps
        if var > 0:
            z = torch.randn((B, 1, N, N), generator=gen, dtype=torch.float32).to(dev)
            x = x + var**0.5 * z
    bar.close()
    images = x.to("cpu")
    if states_at is not None:
        return images, states
    return images
