"""Finding and reading a checkpoint series on disk: diffusers folders, ``.safetensors`` files or state dicts.

A source is a folder holding one of three forms (one form per folder):

- diffusers ``save_pretrained`` checkpoints: ``checkpoint-<step>/`` (or any
  folder per step) holding the model folder (``unet/``, or the model files
  directly: ``config.json`` and ``diffusion_pytorch_model.safetensors`` or
  ``.bin``) and its scheduler config (``scheduler/scheduler_config.json`` or
  ``scheduler_config.json``, in the step folder or the source folder); the
  source may also be one such step folder;
- ``.safetensors`` files, one per step (the model's ``config.json`` and the
  scheduler config beside them, or a run config in the files' metadata, as
  :func:`manifold_lens.export_checkpoints` writes);
- state-dict files (``.pt``, ``.pth``, ``.bin``), read with
  ``torch.load(..., weights_only=True)`` only (never a pickle of objects).

A checkpoint's step is the last number in its name (``checkpoint-200`` ->
200), unless ``steps`` gives them in name order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError

MODEL_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin", "model.safetensors")
STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin")
SCHEDULER_FILES = ("scheduler/scheduler_config.json", "scheduler_config.json")
RUN_CONFIG_KEY = "manifold_lens.run_config"  # safetensors metadata: the full run config (JSON) of an export
RUN_CONFIG_FILE = "manifold_lens.json"  # beside exported checkpoints: the run config (JSON)
PREFIX = "unet."  # a wrapped diffusers model's parameters in a run store: unet.<diffusers state_dict key>
CLASSES = ("UNet2DModel", "UNet2DConditionModel")  # the diffusers classes registered as diffusers.<class>


def model_name(class_name: str) -> str:
    """The registered name of a diffusers model class (``diffusers.UNet2DModel``)."""
    return f"diffusers.{class_name}"


def is_diffusers(name: str) -> bool:
    """Whether a registered model name is a wrapped diffusers model (its parameters carry :data:`PREFIX`)."""
    return name.startswith("diffusers.")


def clean_config(config: dict) -> dict:
    """A diffusers config.json without its private keys (``_diffusers_version``, ``_use_default_values``, ...),
    lists for tuples; ``_class_name`` kept."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()
            if not k.startswith("_") or k == "_class_name"}


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a series: its step, its weights file and the configs that describe it."""

    step: int
    name: Path  # the file or folder whose name gives the step
    weights: Path  # the weights file
    form: str  # "diffusers", "safetensors" or "state_dict"
    model_config: Path | None  # diffusers config.json of the model
    scheduler_config: Path | None
    run_config: Path | None  # manifold_lens.json beside an export


def _model_dir(folder: Path) -> Path | None:
    """The diffusers model folder inside a step folder (``unet/`` or the folder itself), or None."""
    for d in (folder / "unet", folder):
        if (d / "config.json").is_file() and any((d / f).is_file() for f in MODEL_FILES):
            return d
    return None


def _first(paths) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _step_numbers(names: list[Path], steps, source: Path) -> list[int]:
    if steps is not None:
        steps = [int(s) for s in steps]
        if len(steps) != len(names):
            raise ConfigError(f"steps: {len(steps)} given for {len(names)} checkpoints in {source} "
                              f"({', '.join(p.name for p in names[:4])}...); give one step per checkpoint")
        return steps
    out = []
    for p in names:
        numbers = re.findall(r"\d+", p.name if p.is_dir() else p.stem)
        if not numbers:
            raise ConfigError(f"{p}: its name holds no step number; rename it (e.g. checkpoint-200) or give "
                              "steps = [..] in name order")
        out.append(int(numbers[-1]))
    return out


def find_checkpoints(source: str | Path, steps=None) -> list[Checkpoint]:
    """The checkpoints in ``source``, sorted by step (ConfigError naming the folder when there are none)."""
    src = Path(source)
    if not src.exists():
        raise ConfigError(f"source = {str(src)!r}: no such folder; give a folder of checkpoints")
    if not src.is_dir():
        raise ConfigError(f"source = {str(src)!r} is a file; give the folder that holds the checkpoint files")
    shared_sched = _first(src / f for f in SCHEDULER_FILES)
    run_config = _first([src / RUN_CONFIG_FILE])
    if _model_dir(src) is not None:  # the source is one step folder
        folders = [src]
    else:
        folders = sorted((d for d in src.iterdir() if d.is_dir() and _model_dir(d) is not None), key=_natural)
    files = sorted((f for f in src.iterdir() if f.is_file()), key=_natural)
    st = [f for f in files if f.suffix == ".safetensors"]
    sd = [f for f in files if f.suffix in STATE_DICT_SUFFIXES]
    forms = [name for name, found in (("diffusers folders", folders), (".safetensors files", st),
                                      ("state-dict files", sd)) if found]
    if not forms:
        raise ConfigError(f"{src}: no checkpoints found (looked for checkpoint-<step>/ folders with unet/ or "
                          "config.json + diffusion_pytorch_model.*, .safetensors files, .pt/.pth/.bin state dicts); "
                          "give the folder that holds them")
    if len(forms) > 1:
        raise ConfigError(f"{src}: holds {' and '.join(forms)}; keep one form of checkpoint per folder")
    names = folders or st or sd
    numbers = _step_numbers(names, steps, src)
    dupes = sorted({s for s in numbers if numbers.count(s) > 1})
    if dupes:
        which = [p.name for p, s in zip(names, numbers) if s == dupes[0]]
        raise ConfigError(f"{src}: {', '.join(which)} all read as step {dupes[0]}; rename them or give steps = [..]")
    if any(s < 0 for s in numbers):
        raise ConfigError(f"steps: {min(numbers)} is negative; steps count optimiser steps from 0")
    out = []
    for p, step in zip(names, numbers):
        if folders:
            mdir = _model_dir(p)
            weights = _first(mdir / f for f in MODEL_FILES)
            sched = _first([*(p / f for f in SCHEDULER_FILES), *((shared_sched,) if shared_sched else ())])
            out.append(Checkpoint(step, p, weights, "diffusers", mdir / "config.json", sched,
                                  _first([p / RUN_CONFIG_FILE]) or run_config))
        else:
            out.append(Checkpoint(step, p, p, "safetensors" if st else "state_dict",
                                  _first([src / "config.json"]), shared_sched, run_config))
    return sorted(out, key=lambda c: c.step)


def _natural(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def read_json(path: Path) -> dict:
    """A JSON file as a dict (ConfigError naming the file when it is not one)."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a readable JSON file ({type(e).__name__}: {str(e)[:80]}); fix or remove "
                          "it") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: holds a JSON {type(value).__name__}, not an object; fix or remove it")
    return value


def safetensors_metadata(path: Path) -> dict:
    """The string metadata of a ``.safetensors`` file (empty when it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return dict(f.metadata() or {})


def _torch_load(path: Path) -> dict:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # UnpicklingError for a pickle of objects; RuntimeError for a damaged file
        if "weights_only" in str(e) or "Unpickl" in type(e).__name__:
            raise ConfigError(f"{path}: torch.load(weights_only=True) refuses it (it pickles Python objects, not "
                              "just tensors); re-save the weights alone: torch.save(model.state_dict(), PATH) or "
                              "as .safetensors") from None
        raise ConfigError(f"{path}: cannot be read as a state dict ({type(e).__name__}: {str(e)[:80]})") from None
    for key in ("state_dict", "model", "module"):  # a state dict wrapped in one dict (e.g. {"state_dict": ...})
        if isinstance(obj, dict) and set(obj) == {key} and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{path}: holds no state dict (a dict of parameter name -> tensor); save "
                          "model.state_dict() there")
    return obj


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (``.safetensors`` or a state dict read with ``weights_only=True``)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors raises its own error for a damaged header
            raise ConfigError(f"{path}: not a readable .safetensors file ({str(e)[:80]})") from None
    return _torch_load(path)


def as_arrays(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Tensors as numpy arrays, bit for bit (bfloat16, which numpy lacks, widens exactly to float32)."""
    return {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().cpu().contiguous().numpy()
            for k, v in tensors.items()}


def signature(tensors: dict[str, torch.Tensor]) -> dict[str, tuple]:
    """Each parameter's shape: what must agree across a series' checkpoints."""
    return {k: tuple(v.shape) for k, v in tensors.items()}
