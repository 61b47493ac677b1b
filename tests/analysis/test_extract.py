"""Extraction: activations over conditions, timesteps and noise draws, checked against manual forwards."""

import numpy as np
import pytest
import torch

from manifold_lens.config import DataConfig
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ManifoldLensError
from manifold_lens.analysis.extract import (condition_grid, default_timesteps, extract_activations, extract_run,
                                   feature_attrs, render_grid, resolve_layers)
from manifold_lens.analysis.hooks import run_with_cache
from manifold_lens.analysis.measure import measure
from manifold_lens.stores import open_run
from manifold_lens.diffusion import ddim_timesteps
from manifold_lens.diffusion import NoiseSchedule
from manifold_lens.trainers.unet import build_unet

SCHEDULE = NoiseSchedule(1000)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_unet({"base_channels": 8, "embed_dim": 32, "freq_dim": 8}, 8).eval()


@pytest.fixture(scope="module")
def dataset():
    return SyntheticDataset(DataConfig(image_size=8))


@pytest.fixture(scope="module")
def small_grid(dataset):
    conds = condition_grid(dataset, x="0:7:3", y=[1, 4])  # 3 x 2 = 6 conditions
    return conds, render_grid(dataset, conds)


def hooks_left(m):
    return sum(len(mod._forward_hooks) for mod in m.modules())


def manual_mean(model, conds, images, layer, t, draws, seed=0):
    """The documented recipe, written out: shared eps_k per draw, q_sample, one forward, mean over draws."""
    x0 = torch.as_tensor(images)
    cond = torch.tensor(np.stack([conds.x.values, conds.y.values], 1), dtype=torch.float32)
    tt = torch.full((len(x0),), t, dtype=torch.long)
    acc = 0
    for k in range(draws):
        eps = torch.randn((1, *x0.shape[1:]), generator=torch.Generator().manual_seed(seed + k))
        x_t = SCHEDULE.q_sample(x0, tt, eps.expand_as(x0))
        _, cache = run_with_cache(model, x_t, tt, cond, names=layer)
        acc = acc + cache[layer].reshape(len(x0), -1)
    return (acc / draws).numpy()


def test_noised_mode_matches_manual_recipe(model, small_grid):
    conds, images = small_grid
    acts = extract_activations(model, conds, images, SCHEDULE, layers="bottleneck", timesteps=[0, 300],
                               noise_draws=3, device="cpu")
    da = acts["bottleneck"]
    assert da.dims == ("timestep", "condition", "draw", "unit") and list(da.timestep.values) == [0, 300]
    for t in (0, 300):
        np.testing.assert_allclose(da.sel(timestep=t).mean("draw").values,
                                   manual_mean(model, conds, images, "bottleneck", t, 3), rtol=1e-5, atol=1e-5)
    assert list(da.x.values) == [0, 3, 6, 0, 3, 6] and list(da.y.values) == [1, 1, 1, 4, 4, 4]
    assert da.attrs["noise_draws"] == 3 and da.attrs["mode"] == "noised"
    assert hooks_left(model) == 0


def test_batching_and_pooling_do_not_change_values(model, small_grid):
    conds, images = small_grid
    kw = dict(layers=["encoder.1"], timesteps=[100], noise_draws=2, device="cpu")
    big = extract_activations(model, conds, images, SCHEDULE, batch_size=256, **kw)["encoder.1"]
    small = extract_activations(model, conds, images, SCHEDULE, batch_size=4, **kw)["encoder.1"]
    np.testing.assert_allclose(big.values, small.values, rtol=1e-5, atol=1e-6)
    pooled = extract_activations(model, conds, images, SCHEDULE, pool=True, **kw)["encoder.1"]
    # unit coords say where each unpooled unit sits: averaging per channel must give the pooled value
    by_channel = big.groupby("channel").mean("unit")
    np.testing.assert_allclose(pooled.values, by_channel.transpose("timestep", "condition", "draw", "channel").values,
                               rtol=1e-5, atol=1e-6)
    assert big.sizes["unit"] == 16 * 4 * 4 and pooled.sizes["unit"] == 16


def test_layer_alias_and_default(model):
    assert resolve_layers(model) == ["bottleneck"]
    assert resolve_layers(model, ["layer4", "bottleneck", "encoder.2"]) == ["encoder.2", "bottleneck"]
    assert resolve_layers(model, "decoder.?") == ["decoder.0", "decoder.1", "decoder.2"]


def test_trajectory_first_state_is_the_start_noise(model, small_grid):
    """At t = T-1 the DDIM state is the seeded start noise, one field per draw shared by every condition."""
    conds, _ = small_grid
    t_first = ddim_timesteps(1000, 10)[0]
    assert t_first == 999
    acts = extract_activations(model, conds, None, SCHEDULE, layers="bottleneck", timesteps=[999, 0],
                               mode="trajectory", sampling_steps=10, noise_draws=2, device="cpu")
    cond = torch.tensor(np.stack([conds.x.values, conds.y.values], 1), dtype=torch.float32)
    acc = 0
    for k in range(2):
        noise = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(k)).expand(6, 1, 8, 8)
        _, cache = run_with_cache(model, noise, torch.full((6,), 999), cond, names="bottleneck")
        acc = acc + cache["bottleneck"].reshape(6, -1)
    np.testing.assert_allclose(acts["bottleneck"].sel(timestep=999).mean("draw").values, (acc / 2).numpy(),
                               rtol=1e-5, atol=1e-5)
    # the state at t = 0 has been denoised by the model: different from the start
    assert not np.allclose(acts["bottleneck"].sel(timestep=0).values, acts["bottleneck"].sel(timestep=999).values)
    assert default_timesteps(1000, "trajectory") == [41] and 41 in ddim_timesteps(1000, 50)
    assert hooks_left(model) == 0


def test_condition_grid_default_and_custom(dataset):
    full = condition_grid(dataset)
    assert full.sizes["condition"] == 64 and set(full.coords) >= {"x", "y", "region", "in_train"}
    g = condition_grid(dataset, x=[1, 2.5], y="0:2")
    assert list(g.region.values) == ["train", "off_lattice"] * 3
    assert list(g.condition_index.values) == [1, -1, 9, -1, 17, -1]
    imgs = render_grid(dataset, g)
    np.testing.assert_array_equal(imgs[1, 0], dataset.render([2.5], [0.0])[0])
    np.testing.assert_array_equal(imgs[2, 0], dataset.render_conditions([9])[0])


def test_feature_attrs_periodic():
    assert feature_attrs(SyntheticDataset(DataConfig(image_size=8))) == {"periodic": 0}
    per = feature_attrs(SyntheticDataset(DataConfig(image_size=8, family="periodic")))
    assert per == {"periodic": 1, "period": [8.0, 8.0]}


@pytest.mark.parametrize("kwargs, message", [
    (dict(layers="nope"), r"unknown layer 'nope' in ConditionalUNet: available layers are embed, "),
    (dict(timesteps=[1000]), r"timesteps = \[1000\]: outside \[0, 1000\)"),
    (dict(timesteps=[-1, 5]), r"timesteps = \[-1\]: outside \[0, 1000\)"),
    (dict(mode="reverse"), r"mode = 'reverse': choose one of noised, trajectory"),
    (dict(noise_draws=0), r"noise_draws = 0: must be an integer >= 1"),
    (dict(mode="trajectory", timesteps=[50]),
     r"timesteps = \[50\]: not visited by ddim with 50 steps \(nearest: 41, 61"),
])
def test_bad_input_one_line(model, small_grid, kwargs, message):
    conds, images = small_grid
    with pytest.raises(ManifoldLensError, match=message) as e:
        extract_activations(model, conds, images, SCHEDULE, device="cpu", **kwargs)
    assert "\n" not in str(e.value)


def test_conditions_outside_canvas(dataset):
    with pytest.raises(ManifoldLensError, match=r"x = \[40.0\] outside the canvas \[0, 7\] px"):
        condition_grid(dataset, x=[3, 40])
    with pytest.raises(ManifoldLensError, match=r"y = \[-2.0, -1.0\] outside the canvas"):
        condition_grid(dataset, y="-2:3")
    with pytest.raises(ManifoldLensError, match="a range is lo:hi"):
        condition_grid(dataset, x="5:1")


def test_extract_run_on_tiny_trained_run(tiny_run):
    run = open_run(tiny_run)
    acts = extract_run(run, layers=["bottleneck", "layer4"], noise_draws=2, device="cpu")
    assert set(acts) == {"bottleneck", "encoder.2"}
    da = acts["bottleneck"]
    assert list(da.timestep.values) == [50]  # default for T = 1000
    assert da.sizes["condition"] == run.dataset.n_conditions
    np.testing.assert_array_equal(da.region.values, run.conditions.region.values)
    np.testing.assert_array_equal(da.in_train.values, run.conditions.in_train.values)
    assert da.attrs["checkpoint"] == run.steps[-1] and da.attrs["periodic"] == 0
    # an earlier checkpoint gives different activations (the weights changed during training)
    early = extract_run(run, step=run.steps[0], layers="bottleneck", noise_draws=2, device="cpu")["bottleneck"]
    assert early.attrs["checkpoint"] == run.steps[0]
    assert not np.allclose(early.values, da.values)
    # ready for measure as is
    m = measure(da.sel(timestep=50), embed=())
    assert 1.0 <= float(m.effective_dim) <= da.sizes["unit"]
    assert 0.0 <= float(m.factorization_score) <= 1.0


class UserNet(torch.nn.Module):
    """A user's model with its own call signature: features(img), then a head taking a dict."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh())
        self.head = torch.nn.Linear(4 * 8 * 8 + 3, 8)

    def forward(self, img, info):
        h = self.features(img).flatten(1)
        return self.head(torch.cat([h, info["t"][:, None], info["xy"]], 1))


def test_user_model_through_a_forward_callable(small_grid):
    torch.manual_seed(1)
    net = UserNet().eval()
    conds, images = small_grid
    acts = extract_activations(net, conds, images, SCHEDULE, layers=["features", "head"], timesteps=[20],
                               noise_draws=2, device="cpu",
                               forward=lambda x, t, c: net(x, {"t": t.float() / 1000, "xy": c}))
    x0 = torch.as_tensor(images)
    tt = torch.full((6,), 20)
    cond = torch.tensor(np.stack([conds.x.values, conds.y.values], 1), dtype=torch.float32)
    expect = 0
    for k in range(2):
        eps = torch.randn((1, 1, 8, 8), generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            expect = expect + net(SCHEDULE.q_sample(x0, tt, eps.expand_as(x0)), {"t": tt.float() / 1000, "xy": cond})
    np.testing.assert_allclose(acts["head"].sel(timestep=20).mean("draw").values, (expect / 2).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert acts["features"].sizes["unit"] == 4 * 8 * 8 and "row" in acts["features"].coords
    assert hooks_left(net) == 0


def test_diffusers_unet_if_installed(small_grid):
    diffusers = pytest.importorskip("diffusers")
    torch.manual_seed(0)
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4).eval()
    conds, images = small_grid
    acts = extract_activations(unet, conds, images, SCHEDULE, layers=["mid_block", "down_blocks.0"],
                               timesteps=[10], noise_draws=1, device="cpu",
                               forward=lambda x, t, c: unet(x, t).sample)
    # down blocks return (hidden_states, res_samples): the hidden states (B, 8, 4, 4) are captured
    assert acts["down_blocks.0"].sizes["unit"] == 8 * 4 * 4
    assert acts["mid_block"].sizes["unit"] == 16 * 4 * 4
    assert hooks_left(unet) == 0


def test_repeated_extractions_do_not_grow_memory(model, small_grid):
    """After warm-up, more extractions leave no NumPy/Python allocations or tensors behind."""
    import gc
    import tracemalloc
    import warnings

    conds, images = small_grid
    kw = dict(layers=["encoder.0", "bottleneck"], timesteps=[0, 10], noise_draws=2, device="cpu")

    def live_tensors():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    for _ in range(2):
        extract_activations(model, conds, images, SCHEDULE, **kw)
    gc.collect()
    tracemalloc.start()
    before, tensors_before = tracemalloc.get_traced_memory()[0], live_tensors()
    for _ in range(5):
        acts = extract_activations(model, conds, images, SCHEDULE, **kw)
        del acts
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    one = 2 * 6 * 2 * (8 * 8 * 8) * 4  # encoder.0's float32 (timestep, condition, draw, unit) array (bytes)
    assert peak - before > one  # the tracing sees the extraction's arrays ...
    assert after - before < one / 2  # ... and they are gone afterwards
    assert live_tensors() <= tensors_before
