"""``export_checkpoints``: a run's checkpoints as ``.safetensors`` files or diffusers ``save_pretrained`` folders.

``format="safetensors"``: ``OUT/checkpoint-<step>.safetensors``, each with
the full run config (JSON) in its metadata (key ``manifold_lens.run_config``)
and in ``OUT/manifold_lens.json``, so ``import_checkpoints(OUT)`` with no other
argument gives the run back; a diffusers model's files hold its own state dict
(diffusers keys), with its ``config.json`` and ``scheduler_config.json``
beside them. ``format="diffusers"`` (imported diffusers models):
``OUT/checkpoint-<step>/unet/`` (``save_pretrained``, loadable by
``UNet2DModel.from_pretrained``) and ``OUT/checkpoint-<step>/scheduler/``
(``DDPMScheduler.from_pretrained``). The weights are those the run evaluates
with: EMA where the run has them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import ConfigError
from ..stores import Run, open_run
from .schedules import scheduler_config
from .sources import PREFIX, RUN_CONFIG_FILE, RUN_CONFIG_KEY, is_diffusers

FORMATS = ("safetensors", "diffusers")


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def export_checkpoints(run, *, format: str, out, checkpoints=None, replace: bool = False,
                       progress: bool = True) -> list[Path]:
    """Write the checkpoints of ``run`` (a Run or path; ``checkpoints``: all, last, steps; default all) to the
    folder ``out`` in ``format`` (safetensors or diffusers); returns the files or folders written, one per step."""
    from safetensors.torch import save_file  # the extra manifold-lens[diffusers]

    run = run if isinstance(run, Run) else open_run(run)
    if format not in FORMATS:
        raise ConfigError(f"format = {format!r}: must be one of {', '.join(FORMATS)}")
    diffusers_model = is_diffusers(run.model_name)
    if format == "diffusers" and not diffusers_model:
        raise ConfigError(f"format = 'diffusers': model {run.model_name!r} of {run.path} has no diffusers "
                          "equivalent (only imported diffusers models export as save_pretrained folders); use "
                          "format = 'safetensors'")
    steps = run.select_checkpoints("all" if checkpoints is None else checkpoints)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out = {str(out)!r} is a file; give a folder")
    if out.exists() and any(out.iterdir()) and not replace:
        raise ConfigError(f"out = {str(out)!r} holds files; give a new or empty folder, or replace=True (files of "
                          "the same names are replaced, others left alone)")
    config = run.config.to_dict()
    text = json.dumps(config, sort_keys=True)
    weights = "ema" if run.has_ema else "params"
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / RUN_CONFIG_FILE, config)
    if diffusers_model and format == "safetensors":
        _write_json(out / "config.json", dict(config["model"]["config"]))
        _write_json(out / "scheduler_config.json", scheduler_config(run.config.diffusion))
    written = []
    for step in tqdm(steps, desc="export", unit="checkpoint", disable=not progress):
        if format == "safetensors":
            sd = run.state_dict(step)
            if diffusers_model:
                sd = {k[len(PREFIX):]: v for k, v in sd.items()}
            path = out / f"checkpoint-{step}.safetensors"
            save_file({k: v.contiguous() for k, v in sd.items()}, str(path),
                      metadata={RUN_CONFIG_KEY: text, "step": str(step), "weights": weights})
        else:
            path = out / f"checkpoint-{step}"
            run.load_model(step).unet.save_pretrained(path / "unet")
            _write_json(path / "scheduler" / "scheduler_config.json", scheduler_config(run.config.diffusion))
        written.append(path)
    return written
