"""``import_checkpoints``: a checkpoint series from disk into a run store, checked before anything is written.

Everything that can be wrong with the input (no checkpoints, mixed
architectures, a missing scheduler config, a pickle that ``weights_only=True``
refuses, an adapter that does not fit the model, images of another size) is
found first, by reading every checkpoint's tensors and one forward pass of a
batch of two; only then is the store created. Each checkpoint is committed
with :class:`~manifold_lens.stores.RunWriter` (checksummed rows), so a killed
import continues where it stopped: run it again and the steps already
committed are skipped, after their stored checksums are compared with the
source's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..config import RunConfig
from ..datasets import SyntheticDataset
from ..errors import ConfigError
from ..models import build_model
from ..stores import RUN, Run, RunWriter, open_run, store_lock, store_schema
from ..stores.schema import checksum, open_group
from .adapters import EXAMPLE, check_adapter, read_adapter
from .data import data_section
from .schedules import diffusion_from_scheduler
from .sources import (CLASSES, PREFIX, RUN_CONFIG_KEY, SCHEDULER_FILES, Checkpoint, as_arrays, clean_config,
                      find_checkpoints, is_diffusers, load_tensors, model_name, read_json, safetensors_metadata,
                      signature)


def _stored_run_config(first: Checkpoint) -> tuple[dict | None, str]:
    """The run config an export left (safetensors metadata or manifold_lens.json), or None; and where."""
    if first.weights.suffix == ".safetensors":
        text = safetensors_metadata(first.weights).get(RUN_CONFIG_KEY)
        if text:
            try:
                return json.loads(text), str(first.weights)
            except ValueError:
                raise ConfigError(f"{first.weights}: its {RUN_CONFIG_KEY} metadata is not JSON; re-export it") from None
    if first.run_config is not None:
        return read_json(first.run_config), str(first.run_config)
    return None, ""


def _adapter(adapter, class_name: str, where: str) -> tuple[dict, str]:
    if adapter is None:
        raise ConfigError(f"adapter is missing: say how (x, y) reaches the {class_name} of {where} with an adapter "
                          f"TOML (e.g. {EXAMPLE})")
    if isinstance(adapter, dict):
        return check_adapter(adapter, "adapter"), "adapter"
    return read_adapter(adapter), f"adapter = {str(adapter)!r}"


def series_config(found: list[Checkpoint], adapter=None, data=None) -> tuple[RunConfig, str]:
    """The run config of an imported series (checked by the model's factory) and what the adapter is called in
    messages."""
    first, src = found[0], found[0].name.parent
    stored, where = _stored_run_config(first)
    adapter_where = "model.adapter"
    if stored is not None:  # an export: the full run config, with adapter or data replaced when given
        d = dict(stored)
        if adapter is not None and is_diffusers(d.get("model", {}).get("name", "")):
            d["model"] = {**d["model"], "adapter": _adapter(adapter, d["model"]["name"], where)[0]}
            adapter_where = f"adapter = {str(adapter)!r}" if not isinstance(adapter, dict) else "adapter"
        if data is not None:
            d["data"] = data_section(data, d.get("data", {}).get("image_size"), where)
    else:
        if first.model_config is None:
            raise ConfigError(f"{src}: no config.json of the model beside the checkpoints (and no run config in "
                              "their metadata); put the model's diffusers config.json (model.save_config(DIR)) there")
        mc = read_json(first.model_config)
        cls = mc.get("_class_name")
        if cls not in CLASSES:
            raise ConfigError(f"{first.model_config}: _class_name = {cls!r}: the diffusers models built in are "
                              f"{', '.join(CLASSES)}; register a model factory for another (manifold_lens.models)")
        a, adapter_where = _adapter(adapter, cls, str(first.model_config))
        if first.scheduler_config is None:
            raise ConfigError(f"{first.name}: no scheduler config (looked for {' and '.join(SCHEDULER_FILES)} there "
                              f"and in {src}); save the training scheduler's config there, e.g. "
                              "DDPMScheduler(num_train_timesteps=1000).save_pretrained(DIR/scheduler)")
        d = {"data": data_section(data, mc.get("sample_size"), str(first.model_config)),
             "model": {"name": model_name(cls), "config": clean_config(mc), "adapter": a},
             "diffusion": diffusion_from_scheduler(read_json(first.scheduler_config), str(first.scheduler_config)),
             "train": {"steps": max(1, found[-1].step), "ema_decay": 0.0, "trainer": "imported",
                       "checkpoint_every": 1, "early_checkpoints": 0}}
        where = str(first.model_config)
    try:
        return RunConfig.from_dict(d).checked().resolved(), adapter_where
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _store_keys(config: RunConfig, tensors: dict) -> dict:
    prefix = PREFIX if is_diffusers(config.model.name) else ""
    return {prefix + k: v for k, v in tensors.items()}


def check_series(found: list[Checkpoint], config: RunConfig) -> list[str]:
    """Read every checkpoint once: one architecture across the series, matching the model the config builds.
    Returns the parameter names in the model's order."""
    first = found[0]
    first_sig, first_cfg = None, None
    for ck in found:
        sig = signature(load_tensors(ck.weights))
        cfg = clean_config(read_json(ck.model_config)) if ck.form == "diffusers" else None
        if first_sig is None:
            first_sig, first_cfg = sig, cfg
            continue
        if cfg != first_cfg:
            key = next(k for k in sorted(set(cfg) | set(first_cfg)) if cfg.get(k) != first_cfg.get(k))
            raise ConfigError(f"{ck.model_config}: a different architecture from {first.model_config} ({key} = "
                              f"{cfg.get(key)!r}, not {first_cfg.get(key)!r}); import one model's series at a time")
        if sig != first_sig:
            key = next(k for k in sorted(set(sig) | set(first_sig)) if sig.get(k) != first_sig.get(k))
            raise ConfigError(f"{ck.weights}: a different architecture from {first.weights} (parameter {key}: "
                              f"{sig.get(key, 'absent')} vs {first_sig.get(key, 'absent')}); import one model's "
                              "series at a time")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(config.model.name, config.model.params,
                                                              config.data.image_size).state_dict().items()}
    got = _store_keys(config, first_sig)
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        shape = next((k for k in expected if k in got and got[k] != expected[k]), None)
        detail = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra else
                  f"{shape}: {got[shape]} vs {expected[shape]}")
        raise ConfigError(f"{first.weights}: its parameters do not match model {config.model.name!r} built from its "
                          f"config ({detail}); give the config.json the checkpoints were saved with")
    return list(expected)


def probe(config: RunConfig, first: Checkpoint, adapter_where: str) -> None:
    """One forward pass of a batch of two through the model with the first checkpoint's weights: the adapter
    fits the model's inputs and the model predicts images of the data's shape."""
    n, T = config.data.image_size, config.diffusion.timesteps
    model = build_model(config.model.name, config.model.params, n)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in _store_keys(config, load_tensors(first.weights)).items()})
    x = torch.zeros(2, 1, n, n)
    cond = torch.tensor([[0.0, 0.0], [n - 1.0, n - 1.0]])
    try:
        with torch.no_grad():
            out = model.float().eval()(x, torch.tensor([0, T - 1]), cond)
    except Exception as e:  # whatever the model raises on inputs it does not take
        text = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise ConfigError(f"{adapter_where}: does not fit model {config.model.name!r} of {first.name} ({text}); "
                          "make the adapter's kind and keys match the model's inputs (see manifold_lens.interop."
                          "adapters)") from None
    if tuple(out.shape) != (2, 1, n, n):
        raise ConfigError(f"{first.name}: model {config.model.name!r} returns {tuple(out.shape)} for images of "
                          f"(2, 1, {n}, {n}); data.image_size must be the model's sample_size and it must predict "
                          "one channel")


def _writer(out: Path, config: RunConfig, names: list[str], origin: dict, replace: bool) -> tuple[RunWriter, list]:
    """A new store, or the store of an interrupted (or finished) import of the same source to continue."""
    if not replace and store_schema(out) == RUN:
        attrs = open_group(out, "r").attrs.asdict()
        same = attrs.get("import", {}).get("source") == origin["source"]
        stored = RunConfig.from_dict(attrs["config"])  # a series that has grown since continues: steps may rise
        if same and stored.model_copy(update={"train": config.train}).to_json() == config.to_json():
            return RunWriter.open_for_resume(out), open_run(out).steps
        what = f"imported from {attrs['import']['source']}" if attrs.get("import") else "a trained run"
        raise ConfigError(f"out = {str(out)!r}: a run store is already there ({what}"
                          f"{', with another config' if same else ''}); replace=True writes over it")
    writer = RunWriter.create(out, config, SyntheticDataset.from_config(config), names, replace=replace)
    writer.set_status("importing", **{"import": origin})
    return writer, []


def _verify(run: Run, ck: Checkpoint, index: int, arrays: dict[str, np.ndarray], names: list[str]) -> None:
    stored = np.asarray(run._root["checkpoints/checksum/params"][index])
    source = np.asarray([checksum(arrays[n]) for n in names], np.int64)
    if stored.shape != source.shape or (stored != source).any():
        raise ConfigError(f"{run.path}: its checkpoint at step {ck.step} differs from {ck.weights} (the source "
                          "changed since the import began); replace=True imports afresh")
    run.state_dict(ck.step)  # the stored rows against their own checksums


def import_checkpoints(source, *, out, adapter=None, data=None, steps=None, replace: bool = False,
                       progress: bool = True) -> Run:
    """Import a checkpoint series (see :mod:`manifold_lens.interop.sources`) into the run store ``out``.

    adapter: a conditioning adapter (TOML path or dict; needed for a diffusers
    model, :mod:`~manifold_lens.interop.adapters`); data: a data section
    (TOML/JSON path or dict; default: bumps on the model's frame); steps: the
    checkpoints' steps in name order (default: read from the names). Resumes
    an interrupted import of the same source into ``out``. Returns the run.
    """
    found = find_checkpoints(source, steps)
    config, adapter_where = series_config(found, adapter, data)
    names = check_series(found, config)
    probe(config, found[0], adapter_where)
    out = Path(out)
    origin = {"source": str(Path(source).resolve()), "form": found[0].form,
              "files": [str(ck.weights.relative_to(Path(source))) if ck.weights.is_relative_to(Path(source))
                        else str(ck.weights) for ck in found]}
    with store_lock(out):
        writer, done = _writer(out, config, names, origin, replace)
        if done != [ck.step for ck in found[:len(done)]]:
            raise ConfigError(f"out = {str(out)!r}: holds steps {done}, not the first steps of {source}; "
                              "replace=True imports afresh")
        run = open_run(out) if done else None
        for i, ck in enumerate(tqdm(found, desc="import", unit="checkpoint", disable=not progress)):
            arrays = as_arrays(_store_keys(config, load_tensors(ck.weights)))
            if i < len(done):
                _verify(run, ck, i, arrays, names)
                continue
            writer.commit_checkpoint(ck.step, float("nan"), {n: arrays[n] for n in names}, None, {},
                                     {"imported_from": str(ck.weights)}, [])
        writer.update_config(config)
        writer.set_status("complete")
    return open_run(out)
