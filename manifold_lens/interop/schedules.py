"""A diffusers scheduler config <-> the run config's ``diffusion`` section.

``DiffusionConfig.from_diffusers`` / ``.to_diffusers`` (schedules and
predictions as diffusers has them) are used when this manifold-lens has them.
Until then a local shim reads only ``num_train_timesteps``, ``beta_start`` and
``beta_end`` and refuses any other schedule or prediction with one line.
"""

from __future__ import annotations

from ..config import DiffusionConfig
from ..errors import ConfigError

DDPM_DEFAULTS = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear",
                 "prediction_type": "epsilon"}


def diffusion_from_scheduler(scheduler_config: dict, where: str) -> dict:
    """The ``diffusion`` section (a dict) a diffusers ``scheduler_config.json`` describes; ``where`` names the file."""
    from_diffusers = getattr(DiffusionConfig, "from_diffusers", None)
    if from_diffusers is not None:
        try:
            return from_diffusers(dict(scheduler_config)).model_dump()
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    # SHIM (issue 24, item 4): remove once DiffusionConfig.from_diffusers is merged.
    c = {**DDPM_DEFAULTS, **scheduler_config}
    for key, allowed in (("beta_schedule", "linear"), ("prediction_type", "epsilon")):
        if c[key] != allowed:
            raise ConfigError(f"{where}: {key} = {c[key]!r} is not supported by this manifold-lens (only "
                              f"{allowed!r}); upgrade manifold-lens for diffusers' schedules and predictions")
    if c.get("trained_betas") is not None:
        raise ConfigError(f"{where}: trained_betas are not supported; give beta_start, beta_end and beta_schedule")
    return {"timesteps": int(c["num_train_timesteps"]), "beta_start": float(c["beta_start"]),
            "beta_end": float(c["beta_end"])}


def scheduler_config(diffusion: DiffusionConfig) -> dict:
    """A diffusers ``DDPMScheduler`` config for the run's forward process (``DiffusionConfig.to_diffusers``)."""
    to_diffusers = getattr(diffusion, "to_diffusers", None)
    if to_diffusers is not None:
        return {"_class_name": "DDPMScheduler", **to_diffusers()}
    # SHIM (issue 24, item 4): remove once DiffusionConfig.to_diffusers is merged.
    return {"_class_name": "DDPMScheduler", "num_train_timesteps": diffusion.timesteps,
            "beta_start": diffusion.beta_start, "beta_end": diffusion.beta_end, "beta_schedule": "linear",
            "prediction_type": "epsilon"}
