"""Import: each source form through the library and the CLI, bit for bit; an interrupted import continues."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from manifold_lens.cli import app
from manifold_lens.errors import ConfigError
from manifold_lens.interop import import_checkpoints
from manifold_lens.stores import open_run
from tests.interop.series import STEPS


def saved(series, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(series["safetensors"] / f"step-{step}.safetensors"))


def assert_bit_equal(run, series):
    for step in STEPS:
        stored = run.state_dict(step)
        for key, value in saved(series, step).items():
            assert torch.equal(stored["unet." + key], value), (step, key)


def test_cli_import_of_diffusers_folders_gives_the_saved_weights_bit_for_bit(series, tmp_path):
    out = tmp_path / "run.zarr"
    result = CliRunner().invoke(app, ["import", str(series["diffusers"]), "--out", str(out), "--adapter",
                                      str(series["adapter"]), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 checkpoints up to step 4" in result.output
    run = open_run(out)
    assert run.steps == list(STEPS) and run.status == "complete"
    assert run.model_name == "diffusers.UNet2DModel"
    assert run.config.model.params["adapter"]["kind"] == "coordinates"
    assert run.config.diffusion.timesteps == 100
    assert run.attrs["import"]["form"] == "diffusers"
    assert_bit_equal(run, series)


@pytest.mark.parametrize("form", ["safetensors", pytest.param("state_dict", marks=pytest.mark.slow)])
def test_file_forms_import_bit_for_bit(series, tmp_path, form):
    run = import_checkpoints(series[form], out=tmp_path / "run.zarr", adapter=series["adapter"], progress=False)
    assert run.steps == list(STEPS)
    assert_bit_equal(run, series)


def test_the_imported_model_predicts_as_the_diffusers_model_does(series, imported):
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(series["diffusers"] / "checkpoint-4" / "unet").eval()
    model = open_run(imported).load_model(4)
    x, t = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 50, 99])
    cond = torch.tensor([[0.0, 7.0], [3.0, 3.0], [7.0, 1.0]])
    chans = (cond * (2 / 7) - 1)[:, :, None, None].expand(-1, -1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x, t, cond), unet(torch.cat([x, chans], 1), t).sample, atol=1e-6)


@pytest.mark.slow
def test_steps_given_replace_the_numbers_in_the_names(series, tmp_path):
    run = import_checkpoints(series["safetensors"], out=tmp_path / "run.zarr", adapter=series["adapter"],
                             steps=[10, 20, 30], progress=False)
    assert run.steps == [10, 20, 30]
    assert torch.equal(run.state_dict(30)["unet.conv_in.weight"], saved(series, 4)["conv_in.weight"])


def test_an_interrupted_import_continues_and_checks_what_it_kept(series, tmp_path):
    out = tmp_path / "run.zarr"
    import_checkpoints(series["diffusers"], out=out, adapter=series["adapter"], progress=False)
    meta = out / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"].update(committed=1, status="importing")  # as a kill after the first commit leaves it
    meta.write_text(json.dumps(doc))
    assert open_run(out).steps == [0]
    run = import_checkpoints(series["diffusers"], out=out, adapter=series["adapter"], progress=False)
    assert run.steps == list(STEPS) and run.status == "complete"
    assert_bit_equal(run, series)


@pytest.mark.slow
def test_a_changed_source_is_not_silently_continued(series, tmp_path):
    import shutil

    src = tmp_path / "src"
    shutil.copytree(series["safetensors"], src)
    out = tmp_path / "run.zarr"
    import_checkpoints(src, out=out, adapter=series["adapter"], progress=False)
    from safetensors.torch import save_file

    sd = saved(series, 0)
    sd["conv_in.bias"] = sd["conv_in.bias"] + 1
    save_file(sd, str(src / "step-0.safetensors"))
    with pytest.raises(ConfigError, match=r"step 0 differs from .*step-0.safetensors.*replace=True"):
        import_checkpoints(src, out=out, adapter=series["adapter"], progress=False)
    run = import_checkpoints(src, out=out, adapter=series["adapter"], replace=True, progress=False)
    assert torch.equal(run.state_dict(0)["unet.conv_in.bias"], sd["conv_in.bias"])


def test_an_other_run_store_at_out_is_not_written_over(imported, series):
    before = open_run(imported).attrs["import"]
    with pytest.raises(ConfigError, match=r"a run store is already there \(imported from .*diffusers.*replace=True"):
        import_checkpoints(series["safetensors"], out=imported, adapter=series["adapter"], progress=False)
    assert open_run(imported).attrs["import"] == before
