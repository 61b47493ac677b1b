"""Samplers against models whose exact noise prediction is known.

For data concentrated on a few images m_i, the optimal epsilon-predictor is
known in closed form: E[x0 | x_t] is a softmax-weighted mean of the m_i, and
eps = (x_t - sqrt(abar_t) E[x0 | x_t]) / sqrt(1 - abar_t). A correct sampler
driven by it must reproduce the data distribution: one image exactly, or each
of two images about half of the time.
"""

import numpy as np
import pytest
import torch

from manifold_lens.datasets import render
from manifold_lens.errors import ManifoldLensError
from manifold_lens.diffusion import ddim_timesteps, sample
from manifold_lens.diffusion import NoiseSchedule

N = 8
SCHEDULE = NoiseSchedule(1000)


class ExactEps:
    """Optimal epsilon for data = the images ``means`` with equal weights (ignores cond)."""

    def __init__(self, means, schedule=SCHEDULE):
        self.means = np.asarray(means, dtype=np.float64).reshape(len(means), -1)  # (M, N*N)
        self.abar = schedule.alphas_cumprod.numpy()

    def __call__(self, x_t, t, cond):
        # NumPy, not torch: small single-threaded ops keep the test fast on a busy machine
        a = self.abar[t.numpy()][:, None]
        x = x_t.numpy().reshape(len(x_t), -1).astype(np.float64)
        d = ((x[:, None, :] - np.sqrt(a)[:, :, None] * self.means[None]) ** 2).sum(-1)  # (B, M)
        logits = -d / (2 * (1 - a))
        w = np.exp(logits - logits.max(1, keepdims=True))
        x0 = (w / w.sum(1, keepdims=True)) @ self.means
        return torch.from_numpy(((x - np.sqrt(a) * x0) / np.sqrt(1 - a)).astype(np.float32)).reshape(x_t.shape)


class RenderEps(ExactEps):
    """Optimal epsilon when every condition (x, y) has exactly one image: its rendering."""

    def __init__(self, family="bump", shift=0.0, schedule=SCHEDULE):
        self.family, self.shift, self.abar = family, shift, schedule.alphas_cumprod

    def __call__(self, x_t, t, cond):
        c = cond.cpu().numpy().astype(np.float64)
        x0 = torch.from_numpy(render(self.family, c[:, 0] + self.shift, c[:, 1], x_t.shape[-1], 1.0, 1.0))[:, None]
        a = self.abar[t.cpu()].reshape(-1, 1, 1, 1).float()
        return (x_t.cpu() - a.sqrt() * x0) / (1 - a).sqrt()


IMG_A = render("bump", [2.0], [2.0], N, 1.0, 1.0)[0]
IMG_B = render("bump", [5.5], [5.0], N, 1.0, 1.0)[0]


@pytest.mark.parametrize("sampler,steps", [("ddim", 50), ("ddim", 10), ("ddpm", None)])
def test_single_image_is_recovered(sampler, steps):
    cond = np.zeros((16, 2), np.float32)
    out = sample(ExactEps([IMG_A]), SCHEDULE, cond, image_size=N, sampler=sampler, steps=steps, progress=False)
    assert out.shape == (16, 1, N, N) and out.dtype == torch.float32
    assert (out[:, 0] - torch.from_numpy(IMG_A)).abs().max() < 1e-3


@pytest.mark.parametrize("sampler,eta", [("ddpm", 1.0), ("ddim", 0.0)])
def test_two_image_mixture_is_sampled_half_and_half(sampler, eta):
    n = 400
    cond = np.zeros((n, 2), np.float32)
    out = sample(ExactEps([IMG_A, IMG_B]), SCHEDULE, cond, image_size=N, sampler=sampler, eta=eta, seed=3,
                 batch_size=400, progress=False)[:, 0]
    da = (out - torch.from_numpy(IMG_A)).abs().flatten(1).max(1).values
    db = (out - torch.from_numpy(IMG_B)).abs().flatten(1).max(1).values
    assert torch.minimum(da, db).max() < 1e-3  # every sample is one of the two images
    frac_a = (da < db).double().mean().item()
    assert 0.4 < frac_a < 0.6  # binomial std 0.025 at n = 400: a 4-sigma band around 1/2


def test_ddim_with_all_steps_and_eta_one_is_ddpm():
    # Two different update formulas (posterior mean vs DDIM eq. 12) that must agree step by step.
    model = ExactEps([IMG_A, IMG_B])
    cond = np.zeros((64, 2), np.float32)
    sched = NoiseSchedule(200)
    model.abar = sched.alphas_cumprod.numpy()
    kw = dict(image_size=N, seed=9, progress=False)
    ddpm, s1 = sample(model, sched, cond, sampler="ddpm", return_states_at=[150, 20], **kw)
    ddim, s2 = sample(model, sched, cond, sampler="ddim", steps=200, eta=1.0, return_states_at=[150, 20], **kw)
    assert torch.allclose(s1[150], s2[150], atol=1e-4) and torch.allclose(s1[20], s2[20], atol=1e-4)
    assert torch.allclose(ddpm, ddim, atol=1e-4)


def test_same_generator_same_samples_and_batch_size_does_not_matter():
    model = RenderEps()
    cond = np.stack([np.linspace(0, 7, 20), np.linspace(7, 0, 20)], 1).astype(np.float32)
    kw = dict(image_size=N, sampler="ddim", steps=20, eta=0.5, progress=False)
    a = sample(model, SCHEDULE, cond, generator=torch.Generator().manual_seed(5), batch_size=20, **kw)
    b = sample(model, SCHEDULE, cond, generator=torch.Generator().manual_seed(5), batch_size=3, **kw)
    c = sample(model, SCHEDULE, cond, generator=torch.Generator().manual_seed(6), **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_runs_a_torch_module_and_calls_it_in_batches():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
            self.batches = []

        def forward(self, x, t, cond):
            assert x.dtype == torch.float32 and t.dtype == torch.long and cond.shape == (x.shape[0], 2)
            self.batches.append(x.shape[0])
            return self.conv(x)

    net = Net().eval()
    out = sample(net, SCHEDULE, np.zeros((10, 2)), image_size=N, steps=5, batch_size=4, progress=False)
    assert out.shape == (10, 1, N, N) and torch.isfinite(out).all()
    assert out.abs().max() <= 1.0 + 1e-5  # the final step returns the clipped x0 prediction
    assert net.batches == [4, 4, 2] * 5


def test_states_along_the_trajectory():
    cond = np.zeros((6, 2), np.float32)
    ts = ddim_timesteps(1000, 25)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 25 and ts == sorted(ts, reverse=True)
    out, states = sample(ExactEps([IMG_A]), SCHEDULE, cond, image_size=N, steps=25, seed=1,
                         return_states_at=[999, ts[12]], progress=False)
    assert sorted(states) == sorted([999, ts[12]])
    start = torch.randn((6, 1, N, N), generator=torch.Generator().manual_seed(1))
    assert torch.equal(states[999], start)  # the state at T-1 is the initial noise
    # deterministic DDIM on a point mass keeps the noise implied at the start:
    # x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps0 all along
    x0 = torch.from_numpy(IMG_A).double()
    a0 = SCHEDULE.alphas_cumprod[999]
    eps0 = (start.double() - a0.sqrt() * x0) / (1 - a0).sqrt()
    a = SCHEDULE.alphas_cumprod[ts[12]]
    expected = (a.sqrt() * x0 + (1 - a).sqrt() * eps0).float()
    assert torch.allclose(states[ts[12]], expected, atol=1e-4)


def test_bad_settings_are_one_line_errors():
    cond = np.zeros((2, 2))
    model = ExactEps([IMG_A])
    for kwargs, match in [
        (dict(steps=1001), "between 1 and T = 1000"),
        (dict(steps=0), "between 1 and T"),
        (dict(sampler="ddpm", steps=50), "all T = 1000 steps"),
        (dict(sampler="euler"), "sampler = 'euler': must be one of ddim, ddpm"),
        (dict(steps=10, return_states_at=[500]), "not visited"),
        (dict(eta=-1.0), "eta = -1.0: must be"),
    ]:
        with pytest.raises(ManifoldLensError, match=match) as err:
            sample(model, SCHEDULE, cond, image_size=N, progress=False, **kwargs)
        assert "\n" not in str(err.value)
