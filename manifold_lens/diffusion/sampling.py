"""Reverse-diffusion samplers: ancestral DDPM (all T steps) and DDIM (any number of steps, any eta).

Both work with any model called as ``model(x_t, t, cond)`` (x_t (B, 1, N, N)
float32, t (B,) long timesteps, cond (B, 2) float32 = (x, y) in pixels) whose
output the :class:`~manifold_lens.diffusion.NoiseSchedule` interprets by its
prediction type (eps, v or x0), and step as diffusers' ``DDPMScheduler.step``
and ``DDIMScheduler.step`` do (checked against them in tests/diffusion).

Conventions
-----------
* Timesteps run t = T-1 .. 0 (DDIM: the schedule's spaced subset); the start
  x_{T-1} is standard normal noise.
* The state "at t" (see ``return_states_at``) is x_t, the noisy image the model
  sees at timestep t, before the update from t.
* Every step predicts x0 from the model's output and clips it to
  [-clip_sample_range, clip_sample_range] = [-1, 1] by default (``clip_x0``,
  default the schedule's ``clip_sample``, on for the toolkit's runs). The
  training data live in [-1, 1], so a prediction outside it is an error of the
  model; clipping is the standard DDPM practice (Ho et al. 2020) and stops
  early, badly trained checkpoints from diverging. DDIM then uses the noise
  implied by the clipped x0 (diffusers' ``use_clipped_model_output=True``;
  diffusers' DDIM pipeline uses the unclipped one, which differs only where
  clipping acts).
* DDPM uses the posterior variance beta-tilde ("fixed_small"; beta with the
  schedule's variance_type "fixed_large"); its last step (t = 0) adds no noise.
  DDIM with ``eta = 1`` and ``steps = T`` is the same process, and draws noise
  in the same order, so the two agree sample by sample.
* DDIM steps from each visited t to the next visited one, and from the last to
  abar = 1 (abar_0 with ``set_alpha_to_one`` off). diffusers steps to
  t - T // steps, the same timestep for "leading" spacing (and "trailing"
  where steps divides T); for "linspace" spacing diffusers' DDIM steps to
  timesteps it does not visit, and this sampler keeps to the visited ones.

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
from .schedule import NoiseSchedule, convert

EpsModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _model_device(model) -> torch.device | None:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return None


def _clip(schedule: NoiseSchedule, clip_x0: bool | None) -> float | None:
    """The clipping bound of x0 (None: no clipping): the schedule's clip_sample unless ``clip_x0`` says."""
    on = schedule.clip_sample if clip_x0 is None else bool(clip_x0)
    return schedule.clip_sample_range if on else None


def _x0_eps(schedule: NoiseSchedule, x: torch.Tensor, out: torch.Tensor, a_t: float, clip: float | None):
    """x0 (clipped to [-clip, clip]) and eps from the model's output at x_t with abar_t = ``a_t``."""
    kind = schedule.prediction_type
    sa, s1a = a_t**0.5, (1 - a_t) ** 0.5
    x0 = convert(kind, x, out, sa, s1a, to="x0")
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        return x0, (x - sa * x0) / s1a  # the noise implied by the clipped x0
    return x0, convert(kind, x, out, sa, s1a, to="eps")


def ddpm_step(schedule: NoiseSchedule, x: torch.Tensor, out: torch.Tensor, t: int, clip_x0: bool | None = None):
    """One ancestral step from x_t to x_{t-1}: ``(mean, std)``; x_{t-1} = mean + std z with z ~ N(0, I).

    ``out`` is the model's output at (x_t, t); the mean is that of the
    posterior q(x_{t-1} | x_t, x0) at the predicted (clipped) x0, ``std`` the
    square root of beta-tilde_t ("fixed_small") or beta_t ("fixed_large"), 0 at t = 0.
    """
    a_t = float(schedule.alphas_cumprod[t])
    a_prev = float(schedule.alphas_cumprod[t - 1]) if t > 0 else 1.0
    x0, _ = _x0_eps(schedule, x, out, a_t, _clip(schedule, clip_x0))
    beta_t = float(schedule.betas[t])
    var = 0.0
    if t > 0:
        var = beta_t if schedule.variance_type == "fixed_large" else float(schedule.posterior_variance[t])
    mean = (a_prev**0.5 * beta_t / (1 - a_t)) * x0 + ((1 - beta_t) ** 0.5 * (1 - a_prev) / (1 - a_t)) * x
    return mean, var**0.5


def ddim_step(schedule: NoiseSchedule, x: torch.Tensor, out: torch.Tensor, t: int, t_prev: int, eta: float = 0.0,
              clip_x0: bool | None = None):
    """One DDIM step (Song et al. 2021, eq. 12) from x_t to x_{t_prev}: ``(mean, std)``, as :func:`ddpm_step`.

    ``t_prev = -1`` is the end: abar = the schedule's final_alpha_cumprod
    (1, or abar_0 without set_alpha_to_one). With ``eta = 1`` over all steps
    this is the DDPM step.
    """
    a_t = float(schedule.alphas_cumprod[t])
    a_prev = float(schedule.alphas_cumprod[t_prev]) if t_prev >= 0 else schedule.final_alpha_cumprod
    x0, eps = _x0_eps(schedule, x, out, a_t, _clip(schedule, clip_x0))
    var = eta**2 * (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev) if eta > 0 else 0.0
    return a_prev**0.5 * x0 + max(1 - a_prev - var, 0.0) ** 0.5 * eps, var**0.5


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
    clip_x0: bool | None = None,
    return_states_at: Iterable[int] | None = None,
    progress: bool = True,
):
    """Generate one image per row of ``cond``.

    Args:
        model: ``model(x_t, t, cond) -> output`` (eps, v or x0, as the schedule's prediction_type).
        schedule: the run's noise schedule (T, betas, prediction type, DDIM's spacing).
        cond: (B, 2) conditions (x, y) in pixels (array or tensor).
        image_size: N, images are (1, N, N).
        sampler: "ddim" or "ddpm" (ancestral, all T steps).
        steps: DDIM steps (default 50, at most T); for DDPM only T is accepted.
        eta: DDIM stochasticity, 0 = deterministic, 1 = DDPM-like.
        generator: CPU torch.Generator for all noise; default ``manual_seed(seed)``.
        batch_size: model calls per forward pass (does not change the result).
        device: where the model runs; default the model's device (CPU if none).
        clip_x0: clip predicted x0 to [-r, r] at every step (r the schedule's
            clip_sample_range, 1 by default); None: as the schedule's clip_sample.
        return_states_at: timesteps t whose states x_t to return as well; each
            must be a timestep the sampler visits (all t for DDPM,
            :func:`ddim_timesteps` of the schedule for DDIM).
        progress: show a tqdm bar over the steps.

    Returns:
        Images (B, 1, N, N) float32 on the CPU; with ``return_states_at`` a
        tuple ``(images, {t: x_t})`` with CPU tensors of the same shape.
    """
    plan = plan_sampler(sampler, steps, eta, schedule)
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
                clip_x0: bool | None = None, states_at: Iterable[int] | None = None, progress: bool = False,
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

    x = (torch.randn((B, 1, N, N), generator=gen, dtype=torch.float32) if start is None
         else torch.as_tensor(start, dtype=torch.float32).expand(B, 1, N, N).clone()).to(dev)
    cond_d = cond.to(dev)
    states: dict[int, torch.Tensor] = {}
    # t_prev = -1 means "the end" (clean: abar = 1 unless the schedule says otherwise).
    pairs = list(zip(ts, ts[1:] + [-1]))
    bar = tqdm(pairs, desc=f"{sampler} {len(ts)} steps", disable=not progress, leave=False, unit="step")
    for t, t_prev in bar:
        if t in wanted:
            states[t] = x.detach().to("cpu", copy=True)
        out = torch.empty_like(x)
        t_vec = torch.full((min(batch_size, B),), t, dtype=torch.long, device=dev)
        for lo in range(0, B, batch_size):
            hi = min(lo + batch_size, B)
            out[lo:hi] = model(x[lo:hi], t_vec[: hi - lo], cond_d[lo:hi]).to(torch.float32)
        if sampler == "ddpm":
            x, std = ddpm_step(schedule, x, out, t, clip_x0)
        else:
            x, std = ddim_step(schedule, x, out, t, t_prev, eta_eff, clip_x0)
        if std > 0:
            z = torch.randn((B, 1, N, N), generator=gen, dtype=torch.float32).to(dev)
            x = x + std * z
    bar.close()
    images = x.to("cpu")
    if states_at is not None:
        return images, states
    return images
