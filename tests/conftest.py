"""Shared fixtures: tiny configs and a tiny trained run (8x8 images, width-8 UNet)."""

from __future__ import annotations

import pytest

from manifold_lens.config import load_config

TINY = [
    "data.image_size=8",
    "model.base_channels=8",
    "model.embed_dim=32",
    "model.freq_dim=8",
    "train.steps=12",
    "train.batch_size=8",
    "train.checkpoint_every=6",
    "train.early_checkpoints=2",
    "train.warmup_steps=2",
]


@pytest.fixture
def tiny_config():
    """A validated, resolved config that trains in about a second."""
    return load_config("quick", overrides=TINY)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny run store trained once per test session (read-only for tests)."""
    from trainers.train import train

    path = tmp_path_factory.mktemp("runs") / "tiny.zarr"
    train(load_config("quick", overrides=TINY), path, progress=False, log=lambda *a: None)
    return path
