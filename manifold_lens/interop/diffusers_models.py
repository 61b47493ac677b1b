"""diffusers models as registered manifold-lens models: ``diffusers.UNet2DModel`` and ``diffusers.UNet2DConditionModel``.

Installed with the extra ``manifold-lens[diffusers]`` and registered through
the ``manifold_lens.models`` entry points. The run config's ``model`` section
holds the model's diffusers ``config.json`` (``config``) and the conditioning
adapter (``adapter``, :mod:`~manifold_lens.interop.adapters`); the factory
builds ``cls.from_config(config)`` wrapped in :class:`DiffusersModel`, which
presents it as ``model(x_t, t, cond)`` so sampling, evaluation, hooks and
extraction work unchanged. Its parameters are the diffusers model's, under
``unet.`` (hook names too: ``unet.mid_block``).
"""

from __future__ import annotations

import diffusers  # noqa: F401  (the extra: a missing one is named when the entry point is loaded)
import torch
from torch import nn

from ..errors import ConfigError
from .adapters import adapter_forward, check_adapter
from .sources import clean_config, model_name


class DiffusersModel(nn.Module):
    """A diffusers UNet called as ``model(x_t, t, cond)`` through its conditioning adapter; returns the
    prediction with the image's channels (a learned-variance half is dropped)."""

    layer_aliases = {"mid": "unet.mid_block"}
    default_layers = ("unet.mid_block",)

    def __init__(self, unet: nn.Module, adapter: dict):
        super().__init__()
        self.unet = unet
        self.adapter = dict(adapter)
        self._forward = adapter_forward(self.adapter)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        out = self._forward(self.unet, x_t, t, cond)
        sample = getattr(out, "sample", out[0] if isinstance(out, tuple) else out)
        return sample[:, : x_t.shape[1]] if sample.shape[1] > x_t.shape[1] else sample


class DiffusersFactory:
    """The model factory of one diffusers class: ``factory(params, image_size)`` and ``factory.validate``."""

    def __init__(self, class_name: str):
        self.class_name = class_name

    def validate(self, params: dict, image_size: int) -> dict:
        """Check ``config`` (the diffusers config.json) and ``adapter``; return them with defaults filled in."""
        unknown = sorted(set(params) - {"config", "adapter"})
        if unknown:
            raise ConfigError(f"model.{unknown[0]}: unknown key for model {model_name(self.class_name)!r}; "
                              "allowed: config (the diffusers config.json), adapter")
        config = params.get("config")
        if not isinstance(config, dict):
            raise ConfigError(f"model.config is missing: model {model_name(self.class_name)!r} needs the "
                              "diffusers config.json of the model")
        found = config.get("_class_name", self.class_name)
        if found != self.class_name:
            raise ConfigError(f"model.config: _class_name = {found!r} but model.name is "
                              f"{model_name(self.class_name)!r}; use model.name = {model_name(found)!r}")
        size = config.get("sample_size")
        if isinstance(size, int) and size != image_size:
            raise ConfigError(f"data.image_size = {image_size}: the model's config.json has sample_size = {size}; "
                              f"give images of {size} x {size} px")
        if "adapter" not in params:
            raise ConfigError(f"model.adapter is missing: say how (x, y) reaches model "
                              f"{model_name(self.class_name)!r} (an adapter TOML, e.g. kind = \"coordinates\")")
        return {"config": clean_config(config), "adapter": check_adapter(params["adapter"])}

    def __call__(self, params: dict, image_size: int) -> DiffusersModel:
        p = self.validate(params, image_size)
        cls = getattr(diffusers, self.class_name)
        return DiffusersModel(cls.from_config(p["config"]), p["adapter"])


build_unet2d = DiffusersFactory("UNet2DModel")
build_unet2d_condition = DiffusersFactory("UNet2DConditionModel")
FACTORIES = {"UNet2DModel": build_unet2d, "UNet2DConditionModel": build_unet2d_condition}
