"""Interop: checkpoint series from diffusers, safetensors or state dicts in and out of run stores.

:func:`import_checkpoints` reads a series (:mod:`.sources`), builds its run
config (a diffusers model registered as ``diffusers.<class>``,
:mod:`.diffusers_models`, with a declarative conditioning adapter,
:mod:`.adapters`; the scheduler config, :mod:`.schedules`; the data,
:mod:`.data`) and writes a run store like any other run's.
:func:`export_checkpoints` writes a run's checkpoints as ``.safetensors``
files or diffusers ``save_pretrained`` folders. Importing this package
imports no diffusers; the models need the extra ``manifold-lens[diffusers]``.
"""

from .exporter import export_checkpoints
from .importer import import_checkpoints

__all__ = ["export_checkpoints", "import_checkpoints"]
