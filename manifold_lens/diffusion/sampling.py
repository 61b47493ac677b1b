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

from typing import Callable, Iterable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..errors import ConfigError
from .plan import (DDIM_STEPS, SAMPLERS, SamplerPlan, check_eta, check_steps, check_visited,  # noqa: F401
                   ddim_timesteps, plan_sampler, sampler_timesteps)
from .schedule import NoiseSchedule

EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


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
