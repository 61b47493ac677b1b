"""A store whose model's plugin or extra is missing names it, and is never called damaged."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from manifold_lens import models
from manifold_lens.cli import app
from manifold_lens.errors import ManifoldLensError
from manifold_lens.models import MissingPluginError, get_factory
from manifold_lens.stores import open_run


def _renamed(imported, tmp_path, name):
    out = tmp_path / "run.zarr"
    shutil.copytree(imported, out)
    meta = out / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["config"]["model"]["name"] = name
    meta.write_text(json.dumps(doc))
    return out


def test_an_unregistered_model_names_the_missing_plugin_not_damage(imported, tmp_path):
    out = _renamed(imported, tmp_path, "acme.Net")
    run = open_run(out)  # opens: steps, config and data are readable without the model
    assert run.steps == [0, 2, 4]
    with pytest.raises(MissingPluginError) as info:
        run.load_model()
    text = str(info.value)
    assert "a plugin registering 'acme.Net' is not installed" in text and "damaged" not in text
    result = CliRunner().invoke(app, ["layers", str(out)])
    assert result.exit_code == 2
    assert "plugin registering 'acme.Net' is not installed" in result.output and "damaged" not in result.output


def test_a_missing_extra_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setitem(models.EXTRAS[models.MODELS], "diffusers.UNet2DModel",
                        ("diffusers", "manifold_lens_no_such_module.models:build"))
    monkeypatch.setattr(models, "entry_points", lambda group: [])  # as in an environment without the extra
    with pytest.raises(MissingPluginError, match=r"model 'diffusers.UNet2DModel' is provided by the extra "
                       r"manifold-lens\[diffusers\].*pip install 'manifold-lens\[diffusers\]'"):
        get_factory("diffusers.UNet2DModel")


def test_the_diffusers_models_are_found_by_name():
    assert {"diffusers.UNet2DModel", "diffusers.UNet2DConditionModel"} <= set(models.available_models())
    assert get_factory("diffusers.UNet2DModel").class_name == "UNet2DModel"


@pytest.mark.slow
def test_a_registered_adapter_drives_the_model(series, tmp_path):
    from manifold_lens.interop import import_checkpoints
    from manifold_lens.models import register_adapter

    def make(options):
        def forward(model, x_t, t, cond):
            import torch

            chans = (cond * options["scale"] - 1)[:, :, None, None].expand(-1, -1, *x_t.shape[2:])
            return model(torch.cat([x_t, chans], 1), t)
        return forward

    register_adapter("test.coords", make)
    run = import_checkpoints(series["safetensors"], out=tmp_path / "run.zarr", progress=False,
                             adapter={"kind": "registered", "name": "test.coords", "options": {"scale": 2 / 7}})
    assert run.config.model.params["adapter"] == {"kind": "registered", "name": "test.coords",
                                                  "options": {"scale": 2 / 7}}
    assert isinstance(run.load_model(), object)
    with pytest.raises(ManifoldLensError, match="adapter 'nope' is not registered"):
        import_checkpoints(series["safetensors"], out=tmp_path / "x.zarr", progress=False,
                           adapter={"kind": "registered", "name": "nope"})
    assert not (tmp_path / "x.zarr").exists()
