"""A UNet2DConditionModel imported with an encoder_hidden_states adapter; a misfit found by the probe."""

from __future__ import annotations

import pytest
import torch

from manifold_lens.errors import ConfigError
from manifold_lens.interop import import_checkpoints


@pytest.mark.slow
def test_a_cross_attention_unet_takes_the_condition_as_one_token(tmp_path):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from safetensors.torch import save_file

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), norm_num_groups=4,
                                cross_attention_dim=8, attention_head_dim=2)
    src = tmp_path / "src"
    src.mkdir()
    unet.save_config(src)
    DDPMScheduler(num_train_timesteps=50).save_config(src)
    for step in (0, 5):
        save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(src / f"s{step}.safetensors"))
    adapter = {"kind": "encoder_hidden_states", "encoding": "sinusoidal", "dim": 4, "max_period": 100.0}
    run = import_checkpoints(src, out=tmp_path / "run.zarr", adapter=adapter, progress=False)
    assert run.model_name == "diffusers.UNet2DConditionModel" and run.steps == [0, 5]
    model = run.load_model()
    x, t, cond = torch.randn(2, 1, 8, 8), torch.tensor([3, 40]), torch.tensor([[1.0, 2.0], [6.0, 0.0]])
    from manifold_lens.interop.adapters import features

    with torch.no_grad():
        expected = unet.eval()(x, t, encoder_hidden_states=features(adapter, cond)[:, None]).sample
        assert torch.allclose(model(x, t, cond), expected, atol=1e-6)
    with pytest.raises(ConfigError, match=r"adapter: does not fit model 'diffusers.UNet2DConditionModel'"):
        import_checkpoints(src, out=tmp_path / "bad.zarr", adapter={**adapter, "dim": 6}, progress=False)
    assert not (tmp_path / "bad.zarr").exists()
