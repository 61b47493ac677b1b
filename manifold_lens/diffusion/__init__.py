"""Diffusion: the forward noise schedule and the reverse samplers (DDPM, DDIM)."""

from .sampling import (DDIM_STEPS, SAMPLERS, SamplerPlan, check_eta, check_steps, check_visited, ddim_timesteps,
                       plan_sampler, run_sampler, sample, sampler_timesteps)
from .schedule import NoiseSchedule

__all__ = ["DDIM_STEPS", "SAMPLERS", "SamplerPlan", "check_eta", "check_steps", "check_visited", "ddim_timesteps",
           "plan_sampler", "run_sampler", "sample", "sampler_timesteps", "NoiseSchedule"]
