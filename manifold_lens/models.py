"""Registries: models and trainers are found by name, through entry points.

A run store records ``model.name`` (e.g. ``"unet"``) and ``train.trainer``
(e.g. ``"ddpm"``), never an import path. The library finds the bundled UNet
and training loop exactly as it finds a user's, in two entry-point groups::

    [project.entry-points."manifold_lens.models"]
    mynet = "mypkg.models:build_mynet"

    [project.entry-points."manifold_lens.trainers"]
    mytrainer = "mypkg.training:train"

or at run time with :func:`register_model` / :func:`register_trainer`.
Conditioning adapters for imported models (:mod:`manifold_lens.interop`) are
a third group, ``manifold_lens.adapters`` (:func:`register_adapter`). A name
whose provider is not installed raises :class:`MissingPluginError` naming the
extra or plugin; a store that names it is missing a plugin, not damaged.

A **model factory** is called as ``factory(params: dict, image_size: int) ->
torch.nn.Module`` with the model section's parameters (everything but
``name``); the module is called as ``model(x_t, t, cond)``. A factory may
carry ``validate(params, image_size) -> dict``, which checks the parameters
(raising :class:`~manifold_lens.errors.ConfigError` naming the key) and
returns them with defaults filled in; :meth:`RunConfig.checked` calls it.
The built module may declare ``layer_aliases`` (e.g. ``{"layer4":
"encoder.2"}``) and ``default_layers``, which analysis uses.

A **trainer** is called as ``trainer(config: RunConfig, out, *, resume,
replace, device, progress, log) -> Path`` and writes a run store with
:class:`~manifold_lens.stores.RunWriter`.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Callable

from .errors import ConfigError, StoreError

MODELS = "manifold_lens.models"
TRAINERS = "manifold_lens.trainers"
ADAPTERS = "manifold_lens.adapters"
_registry: dict[str, dict[str, Callable]] = {MODELS: {}, TRAINERS: {}, ADAPTERS: {}}

# Names this package provides through an optional extra: the entry points pyproject declares for them, mirrored
# here so that a source checkout finds them too and a missing extra is named (never reported as a damaged store).
EXTRAS = {MODELS: {
    "diffusers.UNet2DModel": ("diffusers", "manifold_lens.interop.diffusers_models:build_unet2d"),
    "diffusers.UNet2DConditionModel": ("diffusers", "manifold_lens.interop.diffusers_models:build_unet2d_condition"),
}}


class MissingPluginError(StoreError):
    """A registered name (a model, trainer or adapter) whose provider is not installed in this environment.

    Not damage: the store that names it opens wherever the extra or plugin is installed.
    """


class MissingPluginConfigError(MissingPluginError, ConfigError):
    """:class:`MissingPluginError` of a config key (``model.name``, ``train.trainer``, an adapter's name)."""


def _register(group: str, name: str, obj: Callable) -> None:
    _registry[group][name] = obj


def _available(group: str) -> list[str]:
    return sorted(set(_registry[group]) | {ep.name for ep in entry_points(group=group)} | set(EXTRAS.get(group, {})))


def _get(group: str, name: str, what: str, hint: str, error=MissingPluginError) -> Callable:
    if name in _registry[group]:
        return _registry[group][name]
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found and name in EXTRAS.get(group, {}):
        found = [EntryPoint(name, EXTRAS[group][name][1], group)]
    for ep in found:
        try:
            return ep.load()
        except ImportError as e:  # the provider is declared but its dependencies are not installed
            extra = EXTRAS.get(group, {}).get(name, (None,))[0]
            if extra:
                raise error(f"{what} {name!r} is provided by the extra manifold-lens[{extra}], which "
                                         f"is not installed ({e}): pip install 'manifold-lens[{extra}]'") from None
            raise error(f"{what} {name!r}: its plugin ({ep.value}) cannot be imported ({e}); "
                                     "reinstall the package that provides it") from None
    raise error(f"{what} {name!r} is not registered: a plugin registering {name!r} is not installed "
                             f"(available: {', '.join(_available(group)) or 'none'}); install the package that "
                             f"provides it, or call manifold_lens.models.{hint}")


def register_model(name: str, factory: Callable) -> None:
    """Register a model factory under ``name`` for this process."""
    _register(MODELS, name, factory)


def register_trainer(name: str, trainer: Callable) -> None:
    """Register a training loop under ``name`` for this process."""
    _register(TRAINERS, name, trainer)


def register_adapter(name: str, adapter: Callable) -> None:
    """Register a conditioning adapter under ``name`` for this process (see :mod:`manifold_lens.interop.adapters`)."""
    _register(ADAPTERS, name, adapter)


def get_adapter(name: str) -> Callable:
    """The conditioning adapter registered as ``name`` (entry-point group ``manifold_lens.adapters``)."""
    return _get(ADAPTERS, name, "adapter", "register_adapter", MissingPluginConfigError)


def available_models() -> list[str]:
    return _available(MODELS)


def available_trainers() -> list[str]:
    return _available(TRAINERS)


def get_factory(name: str) -> Callable:
    """The model factory registered as ``name`` (StoreError listing the available ones if none)."""
    return _get(MODELS, name, "model", "register_model")


def get_trainer(name: str) -> Callable:
    """The training loop registered as ``name`` (ConfigError listing the available ones if none)."""
    return _get(TRAINERS, name, "train.trainer", "register_trainer", MissingPluginConfigError)


def validate_model_params(name: str, params: dict, image_size: int) -> dict:
    """The model's parameters checked by its factory's ``validate`` (unchanged when it has none)."""
    try:
        factory = get_factory(name)
    except MissingPluginError as e:
        raise MissingPluginConfigError(f"model.name: {e}") from None
    check = getattr(factory, "validate", None)
    return dict(check(dict(params), image_size)) if check is not None else dict(params)


def build_model(name: str, params: dict, image_size: int):
    """Build an untrained model by registered name from its parameters."""
    return get_factory(name)(dict(params), image_size)
