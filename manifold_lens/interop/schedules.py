"""A diffusers scheduler config <-> the run config's ``diffusion`` section.

Reads and writes through ``DiffusionConfig.from_diffusers`` / ``.to_diffusers``
(schedules and predictions as diffusers has them, docs/science.md section 2);
``where`` names the file in the one-line error a bad config gets.
"""

from __future__ import annotations

from ..config import DiffusionConfig
from ..errors import ConfigError


def diffusion_from_scheduler(scheduler_config: dict, where: str) -> dict:
    """The ``diffusion`` section (a dict) a diffusers ``scheduler_config.json`` describes; ``where`` names the file."""
    try:
        return DiffusionConfig.from_diffusers(dict(scheduler_config)).model_dump()
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def scheduler_config(diffusion: DiffusionConfig) -> dict:
    """A diffusers ``DDPMScheduler`` config for the run's forward process (``DiffusionConfig.to_diffusers``)."""
    return {"_class_name": "DDPMScheduler", **diffusion.to_diffusers()}
