"""Schedules, predictions and sampler steps against diffusers' own DDPMScheduler and DDIMScheduler.

Our schedule is float64 and diffusers' float32, so the tables agree to float32
rounding: betas and abar to 1e-6 absolute (they lie in [0, 1]). One step is
compared in float64, with diffusers' tables replaced by ours (:func:`in_float64`),
so that the formulas are checked, not float32 rounding: to 1e-10 (diffusers'
own float32 step loses up to ~5e-5 at t = 1, where 1 - abar_0 = 1e-4 cancels).
A whole float32 loop is compared at the tolerance its test states.
"""

import numpy as np
import pytest
import torch

from manifold_lens.config import DiffusionConfig
from manifold_lens.diffusion import NoiseSchedule, ddim_step, ddim_timesteps, ddpm_step, run_sampler, sample
from manifold_lens.diffusion.plan import plan_sampler

diffusers = pytest.importorskip("diffusers")

SCHEDULES = ["linear", "scaled_linear", "squaredcos_cap_v2"]
PREDICTIONS = ["epsilon", "v_prediction", "sample"]
STEP_TOL = dict(rtol=1e-10, atol=1e-10)  # float64 on both sides


def schedulers(**diffusion):
    """Our schedule and diffusers' DDPM and DDIM schedulers, all from one DiffusionConfig."""
    config = DiffusionConfig(**diffusion)
    d = config.to_diffusers()
    return (NoiseSchedule.from_config(config), diffusers.DDPMScheduler.from_config(d),
            diffusers.DDIMScheduler.from_config(d))


def in_float64(ours, *theirs):
    """diffusers' schedulers with our float64 tables, so that their step runs in float64 on float64 inputs."""
    for sched in theirs:
        sched.betas, sched.alphas, sched.alphas_cumprod = ours.betas, ours.alphas, ours.alphas_cumprod
        sched.one = torch.tensor(1.0, dtype=torch.float64)
        if hasattr(sched, "final_alpha_cumprod"):
            sched.final_alpha_cumprod = torch.tensor(ours.final_alpha_cumprod, dtype=torch.float64)
    return theirs


def inputs(seed=0, shape=(4, 1, 8, 8), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [f * torch.randn(shape, generator=g, dtype=dtype) for f in (1.0, 0.8, 1.0)]


@pytest.mark.parametrize("beta_schedule,beta_start,beta_end",
                         [("linear", 1e-4, 0.02), ("scaled_linear", 0.00085, 0.012), ("squaredcos_cap_v2", 1e-4, 0.02)])
def test_betas_and_alphas_cumprod_are_diffusers(beta_schedule, beta_start, beta_end):
    ours, ddpm, ddim = schedulers(beta_schedule=beta_schedule, beta_start=beta_start, beta_end=beta_end)
    for theirs in (ddpm, ddim):
        np.testing.assert_allclose(ours.betas.numpy(), theirs.betas.double().numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(ours.alphas_cumprod.numpy(), theirs.alphas_cumprod.double().numpy(),
                                   rtol=0, atol=1e-6)
    if beta_schedule == "squaredcos_cap_v2":
        assert ours.betas[-1].item() == pytest.approx(0.999)  # the cap


@pytest.mark.parametrize("prediction_type", PREDICTIONS)
def test_conversions_and_training_target(prediction_type):
    s = NoiseSchedule(1000, beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type)
    x0, eps, _ = inputs(1, dtype=torch.float32)
    t = torch.tensor([0, 10, 400, 900])
    x_t = s.q_sample(x0, t, eps)
    out = s.target(x0, eps, t)  # what a perfect model outputs
    torch.testing.assert_close(s.model_x0(x_t, t, out), x0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(s.model_eps(x_t, t, out), eps, rtol=1e-4, atol=1e-4)
    if prediction_type == "v_prediction":
        a = s.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        torch.testing.assert_close(out, a.sqrt() * eps - (1 - a).sqrt() * x0)
        ddpm = diffusers.DDPMScheduler.from_config(s.config.to_diffusers())
        torch.testing.assert_close(out, ddpm.get_velocity(x0, eps, t), rtol=1e-5, atol=1e-5)  # float32


@pytest.mark.parametrize("beta_schedule", SCHEDULES)
@pytest.mark.parametrize("prediction_type", PREDICTIONS)
@pytest.mark.parametrize("clip_sample", [True, False])
def test_one_ddpm_step_is_diffusers(beta_schedule, prediction_type, clip_sample):
    ours, ddpm, _ = schedulers(beta_schedule=beta_schedule, prediction_type=prediction_type, clip_sample=clip_sample)
    ddpm, = in_float64(ours, ddpm)
    x, out, _ = inputs(2)
    for t in (0, 1, 300, 700, 999):
        mean, std = ddpm_step(ours, x, out, t)
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        theirs = ddpm.step(out, t, x, generator=torch.Generator().manual_seed(t)).prev_sample  # draws the same z
        torch.testing.assert_close(mean + std * z, theirs, **STEP_TOL)
        assert (std == 0) == (t == 0)


def test_one_ddpm_step_with_fixed_large_variance_is_diffusers():
    ours, ddpm, _ = schedulers(beta_schedule="scaled_linear", prediction_type="v_prediction",
                               variance_type="fixed_large")
    ddpm, = in_float64(ours, ddpm)
    x, out, _ = inputs(4)
    for t in (0, 5, 500):
        mean, std = ddpm_step(ours, x, out, t)
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
        theirs = ddpm.step(out, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        torch.testing.assert_close(mean + std * z, theirs, **STEP_TOL)


@pytest.mark.parametrize("prediction_type", PREDICTIONS)
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("set_alpha_to_one", [True, False])
def test_one_ddim_step_is_diffusers(prediction_type, eta, set_alpha_to_one):
    """Leading spacing with an offset: diffusers' t - T // steps is then our next visited timestep."""
    ours, _, ddim = schedulers(beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type,
                               timestep_spacing="leading", steps_offset=1, set_alpha_to_one=set_alpha_to_one)
    ddim, = in_float64(ours, ddim)
    ddim.set_timesteps(20)
    ts = ddim_timesteps(ours, 20)
    assert ts == ddim.timesteps.tolist()
    x, out, noise = inputs(3)
    for t, t_prev in [(ts[0], ts[1]), (ts[10], ts[11]), (ts[-1], -1)]:
        mean, std = ddim_step(ours, x, out, t, t_prev, eta)
        theirs = ddim.step(out, t, x, eta=eta, use_clipped_model_output=True, variance_noise=noise).prev_sample
        torch.testing.assert_close(mean + std * noise, theirs, **STEP_TOL)


@pytest.mark.parametrize("spacing,steps", [("linspace", 1000), ("linspace", 37), ("leading", 20), ("leading", 37),
                                           ("trailing", 20), ("trailing", 7), ("trailing", 61)])
def test_ddim_timesteps_are_diffusers(spacing, steps):
    _, _, ddim = schedulers(timestep_spacing=spacing)
    ddim.set_timesteps(steps)
    ours = ddim_timesteps(DiffusionConfig(timestep_spacing=spacing), steps)
    # diffusers' trailing arange overshoots for some steps (61 of 1000: a 62nd timestep, -1); ours stops at steps
    assert ours == ddim.timesteps.tolist()[:steps] and len(ours) == steps and min(ours) >= 0


class TinyV(torch.nn.Module):
    """A small conditional network (its output read as v): conv layers, a timestep and a condition embedding."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.out = torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.Conv2d(8, 1, 3, padding=1)
        self.embed = torch.nn.Linear(3, 8)

    def forward(self, x, t, cond):
        e = self.embed(torch.cat([torch.sin(t.float()[:, None] / 100), cond / 8], 1))[:, :, None, None]
        return self.out(torch.tanh(self.inp(x) + e))


@pytest.mark.parametrize("clip_sample", [True, False])
def test_ddim_loop_of_a_v_prediction_cosine_model_is_diffusers(clip_sample):
    """A whole DDIM sampling (20 steps, eta 0) of a v-prediction model on the cosine schedule, on the same noise.

    Both in float32 (diffusers' tables, ours): tolerance 1e-5 (observed 1.2e-6 over the 20 steps).
    """
    ours, _, ddim = schedulers(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction",
                               timestep_spacing="leading", clip_sample=clip_sample)
    model = TinyV().eval()
    cond = torch.tensor([[1.0, 2.0], [4.0, 4.0], [6.5, 0.5]])
    images = sample(model, ours, cond, image_size=8, sampler="ddim", steps=20, seed=7, progress=False)
    x = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(7))  # the start noise sample() draws
    ddim.set_timesteps(20)
    with torch.no_grad():
        for t in ddim.timesteps:
            v = model(x, torch.full((3,), int(t), dtype=torch.long), cond)
            x = ddim.step(v, t, x, eta=0.0, use_clipped_model_output=True).prev_sample
    torch.testing.assert_close(images, x, rtol=1e-5, atol=1e-5)
    assert images.std() > 0.1  # a real trajectory, not a constant


def test_run_sampler_follows_the_schedule_spacing_and_start():
    ours = NoiseSchedule(100, timestep_spacing="trailing", prediction_type="sample", clip_sample=False)
    plan = plan_sampler("ddim", 10, 0.0, ours)
    assert plan.timesteps == list(range(99, 0, -10))
    target = torch.full((1, 1, 4, 4), 0.3)
    out = run_sampler(lambda x, t, c: target.expand_as(x), ours, np.zeros((2, 2)), plan, image_size=4,
                      generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, target.expand(2, 1, 4, 4))  # an x0 model lands on its prediction
