"""Experiment configuration: pydantic section schemas, TOML presets, ``--set`` overrides.

A run is fully described by a :class:`RunConfig` with four sections, ``data``,
``model``, ``diffusion`` and ``train`` (:mod:`~manifold_lens.config.schema`).
Presets are TOML files shipped in ``manifold_lens.data.presets``
(:mod:`~manifold_lens.config.files`); ``--set key=value`` overrides are dotted
keys whose values are parsed as TOML (``train.steps=500`` is an integer, bare
words are strings; :mod:`~manifold_lens.config.overrides`). Building a section
checks every value; a bad one raises :class:`~manifold_lens.errors.ConfigError`
with one line naming the key and what is allowed
(:mod:`~manifold_lens.config.messages`).

The ``model`` section is the model's registered ``name`` plus its parameters;
the parameters are checked by the model's own factory
(:func:`manifold_lens.models.validate_model_params`) in
:meth:`RunConfig.checked`, because only the model knows them.
"""

from .files import (list_presets, load_config, load_config_file, load_preset, preset_description, presets_dir,
                    valid_keys)
from .messages import section_fields, validate_section
from .overrides import set_dotted, split_override
from .schema import (DEVICE_PATTERN, FAMILIES, HOLDOUT_KINDS, PX, SEED_MAX, DataConfig, DiffusionConfig, Family,
                     HoldoutConfig, HoldoutKind, ModelConfig, RenderedFamily, RunConfig, Section, TrainConfig)

__all__ = ["DEVICE_PATTERN", "FAMILIES", "HOLDOUT_KINDS", "PX", "SEED_MAX", "DataConfig", "DiffusionConfig", "Family",
           "HoldoutConfig", "HoldoutKind", "ModelConfig", "RenderedFamily", "RunConfig", "Section", "TrainConfig",
           "list_presets", "load_config", "load_config_file", "load_preset", "preset_description", "presets_dir",
           "valid_keys", "section_fields", "validate_section", "set_dotted", "split_override"]
