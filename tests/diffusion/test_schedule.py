import json

import numpy as np
import pytest
import torch

from manifold_lens.config import DiffusionConfig, RunConfig
from manifold_lens.diffusion import NoiseSchedule, ddim_timesteps
from manifold_lens.errors import ConfigError, ManifoldLensError


def test_linear_betas_and_cumprod():
    s = NoiseSchedule(1000, 1e-4, 0.02)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    expected = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    np.testing.assert_allclose(s.alphas_cumprod.numpy(), expected, rtol=1e-12)
    # the forward process ends close to pure noise
    assert s.alphas_cumprod[-1].item() < 1e-4


def test_q_sample_and_predict_x0_invert():
    s = NoiseSchedule(100)
    x0 = torch.randn(4, 1, 8, 8)
    eps = torch.randn_like(x0)
    t = torch.tensor([0, 10, 50, 99])
    xt = s.q_sample(x0, t, eps)
    a = s.alphas_cumprod[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(xt, a.sqrt() * x0 + (1 - a).sqrt() * eps)
    torch.testing.assert_close(s.predict_x0(xt, t, eps), x0, atol=1e-4, rtol=1e-4)


def test_posterior_variance_first_step_zero():
    s = NoiseSchedule(10)
    assert s.posterior_variance[0].item() == 0.0
    assert torch.all(s.posterior_variance[1:] < s.betas[1:])


def test_check_timesteps():
    s = NoiseSchedule(50)
    assert s.check_timesteps([0, 49]) == [0, 49]
    with pytest.raises(ManifoldLensError, match=r"timesteps = \[50\]: outside \[0, 50\)"):
        s.check_timesteps([10, 50])


# -- schedules and predictions from the config (diffusers' names) ------------------------------------------------


def test_defaults_are_the_former_schedule_exactly():
    old = NoiseSchedule(1000, 1e-4, 0.02)
    assert (old.beta_schedule, old.prediction_type, old.clip_sample, old.timestep_spacing) == (
        "linear", "epsilon", True, "linspace")
    assert torch.equal(old.betas, torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    assert old.final_alpha_cumprod == 1.0
    assert ddim_timesteps(old, 50) == ddim_timesteps(1000, 50)
    x0, eps = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    assert old.target(x0, eps, torch.tensor([1, 2, 3])) is eps  # epsilon training regresses on the noise itself


def test_former_store_keys_read_as_linear_epsilon():
    """Stores written before diffusers' names hold diffusion.schedule / prediction."""
    d = RunConfig().to_dict()
    for key in ("beta_schedule", "prediction_type", "clip_sample", "clip_sample_range", "timestep_spacing",
                "steps_offset", "set_alpha_to_one", "variance_type"):
        del d["diffusion"][key]
    d["diffusion"].update(schedule="linear", prediction="epsilon")
    c = RunConfig.from_dict(d)
    assert c.diffusion == DiffusionConfig() and c.to_dict() == RunConfig().to_dict()
    with pytest.raises(ConfigError, match="former name of prediction_type"):
        RunConfig.from_dict({"diffusion": {"prediction": "epsilon", "prediction_type": "v_prediction"}})


def test_from_diffusers_and_back():
    cfg = DiffusionConfig(timesteps=500, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          prediction_type="v_prediction", clip_sample=False, clip_sample_range=2.0,
                          timestep_spacing="trailing", steps_offset=1, set_alpha_to_one=False,
                          variance_type="fixed_large")
    d = cfg.to_diffusers()
    assert d["num_train_timesteps"] == 500 and d["_class_name"] == "DDPMScheduler" and d["trained_betas"] is None
    assert DiffusionConfig.from_diffusers(d) == cfg
    assert DiffusionConfig.from_diffusers(DiffusionConfig().to_diffusers()) == DiffusionConfig()


def test_from_diffusers_reads_a_real_file_with_diffusers_defaults():
    # a scheduler_config.json as diffusers writes it (missing keys take DDPMScheduler's defaults)
    text = ('{"_class_name": "DDIMScheduler", "_diffusers_version": "0.30.0", "beta_end": 0.02, '
            '"beta_schedule": "squaredcos_cap_v2", "beta_start": 0.0001, "clip_sample": true, '
            '"num_train_timesteps": 1000, "prediction_type": "v_prediction", "trained_betas": null, '
            '"skip_prk_steps": true, "dynamic_thresholding_ratio": 0.995, "thresholding": false}')
    cfg = DiffusionConfig.from_diffusers(json.loads(text))
    assert (cfg.beta_schedule, cfg.prediction_type, cfg.timestep_spacing, cfg.variance_type) == (
        "squaredcos_cap_v2", "v_prediction", "leading", "fixed_small")  # leading: diffusers' default
    assert DiffusionConfig.from_diffusers({"variance_type": "fixed_small_log"}).variance_type == "fixed_small"


@pytest.mark.parametrize("bad,match", [
    ({"trained_betas": [0.1, 0.2]}, r"^scheduler config: trained_betas = \[\.\.\.\]: explicit betas"),
    ({"beta_schedule": "sigmoid"}, r"^scheduler config: beta_schedule = 'sigmoid': must be one of linear, "),
    ({"prediction_type": "flow_prediction"}, r"^scheduler config: prediction_type = 'flow_prediction'"),
    ({"variance_type": "learned_range"}, r"^scheduler config: variance_type = 'learned_range'"),
    ({"thresholding": True}, r"^scheduler config: thresholding = True"),
    ({"rescale_betas_zero_snr": True}, r"^scheduler config: rescale_betas_zero_snr = True"),
    ({"num_train_timesteps": 1}, r"^scheduler config: num_train_timesteps = 1: must be >= 2"),
    ({"beta_start": 0.03}, r"^scheduler config: beta_start and beta_end must satisfy"),
    ([1, 2], r"^scheduler config: expected a JSON object"),
])
def test_a_bad_scheduler_config_is_one_line(bad, match):
    with pytest.raises(ConfigError, match=match) as err:
        DiffusionConfig.from_diffusers(bad)
    assert "\n" not in str(err.value)


def test_bad_schedule_values_name_the_key():
    with pytest.raises(ConfigError, match=r"^beta_schedule = 'cosine': must be one of linear, scaled_linear"):
        NoiseSchedule(100, beta_schedule="cosine")
    with pytest.raises(ConfigError, match=r"^diffusion.prediction_type = 'v': must be one of epsilon"):
        RunConfig.from_dict({"diffusion": {"prediction_type": "v"}})
    with pytest.raises(ConfigError, match=r"steps = 100: with timestep_spacing 'leading' and steps_offset 1"):
        ddim_timesteps(NoiseSchedule(100, timestep_spacing="leading", steps_offset=1), 100)


def test_cosine_schedule_ignores_the_beta_range_and_describes_itself():
    cos = DiffusionConfig(beta_schedule="squaredcos_cap_v2", beta_start=0.02, beta_end=0.01)  # range unused
    assert cos.describe() == "T = 1000, squaredcos_cap_v2 betas, epsilon prediction"
    assert DiffusionConfig().describe() == "T = 1000, linear betas 0.0001..0.02, epsilon prediction"
    s = NoiseSchedule.from_config(cos)
    assert s.alphas_cumprod[0].item() > 0.9999 and s.alphas_cumprod[-1].item() < 1e-8
