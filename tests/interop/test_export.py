"""Export: safetensors and diffusers folders, and back through import with no other argument."""

from __future__ import annotations

import pytest
import torch

from manifold_lens.errors import ConfigError
from manifold_lens.interop import export_checkpoints, import_checkpoints
from manifold_lens.stores import open_run


def assert_same_weights(a, b, steps):
    for step in steps:
        sa, sb = a.state_dict(step), b.state_dict(step)
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), step


def test_an_imported_diffusers_run_exports_to_safetensors_and_back_equal(imported, tmp_path):
    paths = export_checkpoints(imported, format="safetensors", out=tmp_path / "st", progress=False)
    assert [p.name for p in paths] == ["checkpoint-0.safetensors", "checkpoint-2.safetensors",
                                       "checkpoint-4.safetensors"]
    back = import_checkpoints(tmp_path / "st", out=tmp_path / "back.zarr", progress=False)
    a = open_run(imported)
    assert back.config.model == a.config.model and back.config.diffusion == a.config.diffusion
    assert_same_weights(a, back, a.steps)


def test_an_imported_diffusers_run_exports_to_folders_diffusers_loads(imported, tmp_path, series):
    from diffusers import DDPMScheduler, UNet2DModel

    paths = export_checkpoints(imported, format="diffusers", out=tmp_path / "d", checkpoints="last", progress=False)
    assert [p.name for p in paths] == ["checkpoint-4"]
    unet = UNet2DModel.from_pretrained(paths[0] / "unet")
    original = UNet2DModel.from_pretrained(series["diffusers"] / "checkpoint-4" / "unet")
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in unet.state_dict().items())
    assert DDPMScheduler.from_pretrained(paths[0] / "scheduler").config.num_train_timesteps == 100


@pytest.mark.slow
def test_the_bundled_unet_exports_to_safetensors_and_imports_with_no_other_flag(tiny_run, tmp_path):
    from safetensors import safe_open

    paths = export_checkpoints(tiny_run, format="safetensors", out=tmp_path / "st", progress=False)
    with safe_open(str(paths[-1]), "pt") as f:
        assert '"name": "unet"' in f.metadata()["manifold_lens.run_config"]
    back = import_checkpoints(tmp_path / "st", out=tmp_path / "back.zarr", progress=False)
    a = open_run(tiny_run)
    assert back.steps == a.steps and back.config.model == a.config.model and back.config.data == a.config.data
    for step in a.steps:
        sa, sb = a.state_dict(step), back.state_dict(step)  # the weights it evaluates with (EMA)
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_export_refuses_what_it_cannot_write(tiny_run, imported, tmp_path):
    with pytest.raises(ConfigError, match=r"format = 'diffusers': model 'unet' .* use format = 'safetensors'"):
        export_checkpoints(tiny_run, format="diffusers", out=tmp_path / "x")
    with pytest.raises(ConfigError, match=r"format = 'onnx': must be one of safetensors, diffusers"):
        export_checkpoints(imported, format="onnx", out=tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "a.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"holds files; .* replace=True"):
        export_checkpoints(imported, format="safetensors", out=tmp_path / "full")
    assert not (tmp_path / "x").exists() and sorted(p.name for p in (tmp_path / "full").iterdir()) == ["a.txt"]
