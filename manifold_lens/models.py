"""Model registry: stores name their model, factories come from entry points.

A run store records ``model.name`` (e.g. ``"unet"``), never an import path.
Factories are found in the ``manifold_lens.models`` entry-point group, so a
user registers their own model in their package's ``pyproject.toml``::

    [project.entry-points."manifold_lens.models"]
    mynet = "mypkg.models:build_mynet"

or at run time with :func:`register_model`. A factory is called as
``factory(model_config: dict, image_size: int) -> torch.nn.Module`` and the
module as ``model(x_t, t, cond)``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Callable

from .errors import StoreError

GROUP = "manifold_lens.models"
_registry: dict[str, Callable] = {}


def register_model(name: str, factory: Callable) -> None:
    """Register a model factory under ``name`` for this process."""
    _registry[name] = factory


def available_models() -> list[str]:
    return sorted(set(_registry) | {ep.name for ep in entry_points(group=GROUP)})


def get_factory(name: str) -> Callable:
    if name in _registry:
        return _registry[name]
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    raise StoreError(
        f"model {name!r} is not registered; available: {', '.join(available_models()) or 'none'} "
        f"(install the package that provides it, or call manifold_lens.models.register_model)"
    )


def build_model(name: str, model_config: dict, image_size: int):
    """Build an untrained model by registered name."""
    return get_factory(name)(model_config, image_size)
