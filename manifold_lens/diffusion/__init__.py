"""Diffusion: the forward noise schedule and prediction types (``schedule``), sampler plans (``plan``, no torch)
and the samplers.

Names are imported on first use (:mod:`manifold_lens.lazy`).
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "plan": ["DDIM_STEPS", "SAMPLERS", "SPACINGS", "SamplerPlan", "check_eta", "check_steps", "check_visited",
             "ddim_timesteps", "plan_sampler", "sampler_timesteps", "timestep_grid"],
    "sampling": ["ddim_step", "ddpm_step", "run_sampler", "sample"],
    "schedule": ["NoiseSchedule", "make_betas"],
})
