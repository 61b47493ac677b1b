"""The model and trainer registries: entry points from pyproject.toml, lookups by name, run-time registration."""

import pytest
import torch
from torch import nn

from manifold_lens import models
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.models import (available_models, available_trainers, build_model, get_factory, get_trainer,
                                  register_model, validate_model_params)


class OneConv(nn.Module):
    """The smallest model the library can call: ``model(x_t, t, cond)`` -> a tensor shaped like ``x_t``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.channels = channels

    def forward(self, x_t, t, cond):
        return self.conv(x_t)


def one_conv(params: dict, image_size: int) -> nn.Module:
    return OneConv(params.get("channels", 1))


@pytest.fixture
def registry(monkeypatch):
    """Run-time registrations made by a test are forgotten after it."""
    for group in (models.MODELS, models.TRAINERS):
        monkeypatch.setitem(models._registry, group, dict(models._registry[group]))
    return models._registry


def test_bundled_model_and_trainer_come_from_entry_points(registry):
    assert "unet" not in registry[models.MODELS] and "ddpm" not in registry[models.TRAINERS]
    assert "unet" in available_models()
    assert "ddpm" in available_trainers()


def test_get_trainer_returns_the_bundled_training_loop():
    from manifold_lens.trainers.train import train

    assert get_trainer("ddpm") is train


def test_unknown_trainer_is_a_config_error_listing_the_available_ones():
    with pytest.raises(ConfigError, match="train.trainer 'nope' is not registered") as info:
        get_trainer("nope")
    assert "ddpm" in str(info.value) and "register_trainer" in str(info.value)


def test_unknown_model_is_a_store_error_listing_the_available_ones():
    with pytest.raises(StoreError, match="model 'nope' is not registered") as info:
        get_factory("nope")
    assert "unet" in str(info.value) and "register_model" in str(info.value)
    assert not isinstance(info.value, ConfigError)
    with pytest.raises(ConfigError, match=r"^model.name: model 'nope' is not registered.*unet"):
        validate_model_params("nope", {}, 8)


def test_registered_model_is_built_by_name(registry):
    assert "one-conv" not in available_models()
    register_model("one-conv", one_conv)
    assert "one-conv" in available_models() and "unet" in available_models()
    assert get_factory("one-conv") is one_conv
    model = build_model("one-conv", {"channels": 3}, 8)
    assert isinstance(model, OneConv) and model.channels == 3
    x = torch.randn(2, 1, 8, 8)
    out = model(x, torch.tensor([10, 500]), torch.zeros(2, 2))
    assert out.shape == x.shape


def test_factory_without_validate_leaves_params_unchanged(registry):
    register_model("one-conv", one_conv)
    params = {"channels": 3, "anything": [1, 2]}
    got = validate_model_params("one-conv", params, 8)
    assert got == {"channels": 3, "anything": [1, 2]}
    assert got is not params and params == {"channels": 3, "anything": [1, 2]}  # a copy; the input is untouched
