"""Diffusion: the forward noise schedule (``schedule``), sampler plans (``plan``, no torch) and the samplers.

Names are imported on first use (:mod:`manifold_lens.lazy`).
"""

from ..lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "plan": ["DDIM_STEPS", "SAMPLERS", "SamplerPlan", "check_eta", "check_steps", "check_visited",
             "ddim_timesteps", "plan_sampler", "sampler_timesteps"],
    "sampling": ["run_sampler", "sample"],
    "schedule": ["NoiseSchedule"],
})
