import numpy as np
import pytest
import torch

from manifold_lens.errors import ManifoldLensError
from manifold_lens.diffusion import NoiseSchedule


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
