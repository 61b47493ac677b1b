"""The ``diffusion`` section and a diffusers ``scheduler_config.json``: key translation both ways (plain dicts).

:meth:`~manifold_lens.config.DiffusionConfig.from_diffusers` and
:meth:`~manifold_lens.config.DiffusionConfig.to_diffusers` call these; they
are kept apart from the schema so that it stays one concern and this module
imports nothing of the package but its errors.

Reading follows diffusers: a key that is missing takes ``DDPMScheduler``'s
default (so ``timestep_spacing`` is ``"leading"`` there, while a run config
without it keeps this toolkit's ``"linspace"``). Keys that only tune a
sampler diffusers has and this toolkit does not (Euler's sigmas, PNDM's
``skip_prk_steps``, ...) are ignored: sampling here is DDPM or DDIM. A value
that would change the forward process or the meaning of the model's output
in a way this toolkit cannot follow is refused with one line naming the key.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError

# diffusers key -> diffusion section key (the others have the same name)
RENAMED = {"num_train_timesteps": "timesteps"}
# diffusion section keys read from a scheduler config, with DDPMScheduler's / DDIMScheduler's defaults
DIFFUSERS_DEFAULTS: dict[str, Any] = {
    "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
    "prediction_type": "epsilon", "variance_type": "fixed_small", "clip_sample": True, "clip_sample_range": 1.0,
    "timestep_spacing": "leading", "steps_offset": 0, "set_alpha_to_one": True,
}
# keys accepted only at a value that leaves sampling as this toolkit does it: key -> (accepted values, why not)
REFUSED = {
    "trained_betas": ((None,), "explicit betas are not supported; give beta_schedule linear, scaled_linear or "
                               "squaredcos_cap_v2 with beta_start / beta_end"),
    "thresholding": ((False, None), "dynamic thresholding is not supported; set it to false (clip_sample clips "
                                    "the predicted x0 instead)"),
    "rescale_betas_zero_snr": ((False, None), "zero-terminal-SNR betas are not supported; set it to false"),
}
VARIANCE_TYPES = {"fixed_small": "fixed_small", "fixed_small_log": "fixed_small",  # the same variance in diffusers
                  "fixed_large": "fixed_large"}
# ignored on reading: diffusers' own bookkeeping, and values that act only when a refused key is on
IGNORED = ("_class_name", "_diffusers_version", "dynamic_thresholding_ratio", "sample_max_value")


def fields_from_diffusers(scheduler_config: Any) -> dict[str, Any]:
    """The ``diffusion`` section's values read from a diffusers scheduler config dict (not yet checked).

    A refused key raises a one-line ConfigError naming it and the fix.
    """
    if not isinstance(scheduler_config, Mapping):
        raise ConfigError(f"scheduler config: expected a JSON object of keys (a scheduler_config.json), "
                          f"got {type(scheduler_config).__name__}")
    given = dict(scheduler_config)
    for key, (allowed, fix) in REFUSED.items():
        if key in given and given[key] not in allowed:
            shown = "[...]" if isinstance(given[key], (list, tuple)) else repr(given[key])
            raise ConfigError(f"scheduler config: {key} = {shown}: {fix}")
    variance = given.get("variance_type", DIFFUSERS_DEFAULTS["variance_type"])
    if variance not in VARIANCE_TYPES:
        raise ConfigError(f"scheduler config: variance_type = {variance!r}: not supported (a learned variance "
                          f"needs the model's second output); use one of {', '.join(VARIANCE_TYPES)}")
    out = {}
    for key, default in DIFFUSERS_DEFAULTS.items():
        value = given.get(key, default)
        out[RENAMED.get(key, key)] = default if value is None else value
    out["variance_type"] = VARIANCE_TYPES[variance]
    return out


def diffusers_key(field: str) -> str:
    """The diffusers name of a ``diffusion`` section key (``timesteps`` -> ``num_train_timesteps``)."""
    return {v: k for k, v in RENAMED.items()}.get(field, field)


def fields_to_diffusers(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A ``scheduler_config.json`` for diffusers' ``DDPMScheduler`` from the ``diffusion`` section's values.

    ``set_alpha_to_one`` is DDIMScheduler's key; it is written too, so that
    ``DDIMScheduler.from_config`` of the file samples as this toolkit's DDIM.
    """
    out: dict[str, Any] = {"_class_name": "DDPMScheduler"}
    for key in DIFFUSERS_DEFAULTS:
        out[key] = fields[RENAMED.get(key, key)]
    out.update({"trained_betas": None, "thresholding": False, "dynamic_thresholding_ratio": 0.995,
                "sample_max_value": 1.0, "rescale_betas_zero_snr": False})
    return out
