"""Bad input: one line naming the file and the fix, exit status 2 from the CLI, nothing written."""

from __future__ import annotations

import shutil

import pytest
import torch
from typer.testing import CliRunner

from manifold_lens.cli import app
from manifold_lens.errors import ConfigError
from manifold_lens.interop import import_checkpoints
from manifold_lens.interop.adapters import check_adapter, features


def refused(tmp_path, source, pattern, **kw):
    out = tmp_path / "out.zarr"
    with pytest.raises(ConfigError, match=pattern) as info:
        import_checkpoints(source, out=out, progress=False, **kw)
    assert "\n" not in str(info.value)
    assert not out.exists() and not list(tmp_path.glob(".out.zarr*"))
    return str(info.value)


def test_a_folder_with_no_checkpoints(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    refused(tmp_path, tmp_path / "empty", r"empty: no checkpoints found .* give the folder that holds them")


def test_mixed_architectures_across_steps(series, tmp_path):
    from tests.interop.series import tiny_unet

    src = tmp_path / "mixed"
    shutil.copytree(series["diffusers"], src)
    other = tiny_unet()
    other.register_to_config(layers_per_block=2)
    from diffusers import UNet2DModel

    UNet2DModel.from_config({**other.config, "layers_per_block": 2}).save_pretrained(src / "checkpoint-4" / "unet")
    refused(tmp_path, src, r"checkpoint-4/unet/config.json: a different architecture from .*checkpoint-0/unet/"
            r"config.json \(layers_per_block = 2, not 1\); import one model's series at a time",
            adapter=series["adapter"])


def test_a_missing_scheduler_config(series, tmp_path):
    src = tmp_path / "nosched"
    shutil.copytree(series["safetensors"], src)
    (src / "scheduler_config.json").unlink()
    refused(tmp_path, src, r"step-0.safetensors: no scheduler config \(looked for scheduler/scheduler_config.json "
            r"and scheduler_config.json .*save_pretrained", adapter=series["adapter"])


def test_a_pickle_that_weights_only_refuses(series, tmp_path):
    src = tmp_path / "pickles"
    src.mkdir()
    for name in ("config.json", "scheduler_config.json"):
        shutil.copy(series["state_dict"] / name, src / name)
    torch.save({"model": torch.nn.Linear(2, 2), "step": 3}, src / "ckpt_3.pt")
    refused(tmp_path, src, r"ckpt_3.pt: torch.load\(weights_only=True\) refuses it .*torch.save\(model.state_dict",
            adapter=series["adapter"])


def test_an_adapter_that_does_not_fit_the_model(series, tmp_path):
    bad = tmp_path / "labels.toml"
    bad.write_text('kind = "class_labels"\nencoding = "lattice_index"\ncolumns = 8\n')
    refused(tmp_path, series["safetensors"], r"adapter = '.*labels.toml': does not fit model 'diffusers.UNet2DModel'"
            r" of .*step-0.safetensors \(.*class_embedding.*\); make the adapter's kind", adapter=bad)
    refused(tmp_path, series["safetensors"], r"adapter is missing: say how \(x, y\) reaches the UNet2DModel")


def test_images_whose_shape_disagrees_with_the_model(series, tmp_path):
    data = tmp_path / "data.toml"
    data.write_text('[data]\nfamily = "bump"\nimage_size = 16\n')
    refused(tmp_path, series["safetensors"], r"data = '.*data.toml': image_size = 16 but the model takes 8 x 8 px "
            r"images .*give data.image_size = 8", adapter=series["adapter"], data=data)


def test_the_cli_prints_one_line_in_its_flags_and_exits_2(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["import", str(tmp_path / "empty"), "--out", str(tmp_path / "o.zarr"),
                                      "--steps", "1,x"])
    assert result.exit_code == 2 and "--steps" in result.output
    result = CliRunner().invoke(app, ["import", str(tmp_path / "empty"), "--out", str(tmp_path / "o.zarr")])
    assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.parametrize("adapter, pattern", [
    ({"kind": "channels"}, r"kind = 'channels': must be one of coordinates, class_labels"),
    ({"kind": "coordinates"}, r"scale is missing: kind = 'coordinates' needs it"),
    ({"kind": "coordinates", "scale": 1, "colour": 2}, r"unknown key 'colour' for kind = 'coordinates'"),
    ({"kind": "class_labels", "encoding": "onehot"}, r"encoding = 'onehot': class_labels takes one of lattice_index"),
    ({"kind": "class_labels", "encoding": "sinusoidal", "dim": 3}, r"dim = 3: must be an even integer"),
])
def test_adapter_tables_are_checked(adapter, pattern):
    with pytest.raises(ConfigError, match=pattern):
        check_adapter(adapter)


def test_adapter_features():
    cond = torch.tensor([[0.0, 0.0], [3.0, 2.0], [7.0, 7.0]])
    lattice = check_adapter({"kind": "class_labels", "encoding": "lattice_index", "columns": 8})
    assert features(lattice, cond).tolist() == [0, 19, 63]
    sin = check_adapter({"kind": "encoder_hidden_states", "encoding": "sinusoidal", "dim": 4, "max_period": 100.0})
    f = features(sin, cond)
    a = torch.tensor([3.0, 0.3])  # x = 3 px at frequencies 1 and 100^(-1/2) per px: cos, cos, sin, sin
    assert f.shape == (3, 8) and torch.allclose(f[1, :4], torch.cat([a.cos(), a.sin()]))
