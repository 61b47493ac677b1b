"""Analyse a run: extract representations at every checkpoint and measure them.

For each chosen checkpoint (a progress bar runs over them), timestep and
layer, :func:`analyze_run` extracts the mean activations over the condition
grid (:mod:`manifold_lens.extract`), applies :func:`manifold_lens.measure`
and appends the metrics to ``RESULTS.zarr`` group ``analysis/<name>`` before
loading the next checkpoint, so memory does not grow with the number of
checkpoints. Every metric carries the dims ``checkpoint`` (training step),
``timestep`` and ``layer`` in front of its own, so learning dynamics are one
selection away::

    ds = read_results("results.zarr", "analysis")
    ds.effective_dim.sel(layer="bottleneck", timestep=50).plot()   # vs checkpoint

Defaults: all checkpoints, layer ``bottleneck``, timestep round(0.05 T)
(= 50 for T = 1000, low noise), noised mode, 4 noise draws, PCA embeddings.
The global attrs record the settings, the source run (path, config,
versions) and the versions used for the analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .errors import ManifoldLensError
from .extract import ExtractionSettings, condition_grid, default_timesteps, extract_activations, feature_attrs, \
    render_grid, resolve_layers
from .geometry import EMBED_METHODS
from .measure import measure
from .results import append_results, group_exists, read_results
from .runstore import Run, open_run
from .sampling import resolve_device
from .versions import package_versions

DEFAULT_NAME = "default"


def select_checkpoints(run: Run, checkpoints: str | int | Sequence[int] = "all") -> list[int]:
    """'all' | 'last' | step | [steps] -> committed steps to analyse (one-line error for unknown ones)."""
    if not run.steps:
        raise ManifoldLensError(f"{run.path}: has no committed checkpoint yet; train it further first")
    if isinstance(checkpoints, str):
        key = checkpoints.strip().lower()
        if key == "all":
            return list(run.steps)
        if key == "last":
            return [run.steps[-1]]
        try:
            checkpoints = [int(s) for s in key.split(",") if s.strip()]
        except ValueError:
            raise ManifoldLensError(f"--checkpoints {checkpoints!r}: use all, last or steps like 0,500,1000") from None
    steps = [int(checkpoints)] if isinstance(checkpoints, (int, np.integer)) else [int(s) for s in checkpoints]
    missing = [s for s in steps if s not in run.steps]
    if missing or not steps:
        committed = ", ".join(map(str, run.steps[:12])) + (" ..." if len(run.steps) > 12 else "")
        raise ManifoldLensError(f"--checkpoints {missing or steps}: not committed checkpoints of this run; "
                                f"committed steps: {committed}")
    return sorted(dict.fromkeys(steps))


def _check_embed(embed) -> tuple[str, ...]:
    embed = (embed,) if isinstance(embed, str) else tuple(embed or ())
    bad = [e for e in embed if e not in EMBED_METHODS]
    if bad:
        raise ManifoldLensError(f"--embed {','.join(bad)}: choose among {', '.join(EMBED_METHODS)}")
    return embed


def _metrics_for_checkpoint(acts: dict[str, xr.DataArray], embed, step: int, seed: int,
                            notes: dict[str, None]) -> xr.Dataset:
    """Measure every (timestep, layer) and stack to dims (checkpoint, timestep, layer, ...).

    ``notes`` collects measure's notes (skipped parts) across calls, in order.
    """
    per_t = []
    for t in next(iter(acts.values()))["timestep"].values:
        per_layer = []
        for name, da in acts.items():
            m = measure(da.sel(timestep=t, drop=True), embed=embed, seed=seed)
            notes.update(dict.fromkeys(n for n in m.attrs.get("notes", "").split("; ") if n))
            m["n_units"] = xr.Variable((), da.sizes["unit"], {"long_name": "units of the layer",
                                                               "description": "activations measured per condition",
                                                               "units": "units"})
            per_layer.append(m.expand_dims(layer=[name]))
        per_t.append(xr.concat(per_layer, "layer", coords="minimal", compat="override",
                               combine_attrs="drop_conflicts").expand_dims(timestep=[int(t)]))
    ds = xr.concat(per_t, "timestep", coords="minimal", compat="override", combine_attrs="drop_conflicts")
    # coordinates on other dims (x, y on condition, ...) stay free of the new dims
    for name in list(ds.coords):
        c = ds[name]
        if name not in ds.dims and {"timestep", "layer"} & set(c.dims):
            ds = ds.assign_coords({name: c.isel(timestep=0, layer=0, missing_dims="ignore", drop=True)})
    return ds.expand_dims(checkpoint=[int(step)])


def _activations_vars(acts: dict[str, xr.DataArray], step: int) -> xr.Dataset:
    """Mean activations as variables ``activations_<layer>`` (checkpoint, timestep, condition, unit_<layer>)."""
    out = {}
    for name, da in acts.items():
        unit = f"unit_{name}"
        v = da.drop_vars([c for c in da.coords if c not in ("timestep",)]).rename(unit=unit)
        out[f"activations_{name}"] = v.expand_dims(checkpoint=[int(step)])
    return xr.Dataset(out)


def analyze_run(run_or_path, out: str | Path, *, layers: str | Sequence[str] | None = None,
                timesteps: Sequence[int] | None = None, checkpoints: str | int | Sequence[int] = "all",
                mode: str = "noised", noise_draws: int = 4, embed: str | Sequence[str] = ("pca",),
                device: str = "auto", name: str | None = None, replace: bool = False, progress: bool = True,
                x=None, y=None, seed: int = 0, pool: bool = False, batch_size: int = 256,
                sampling_steps: int = 50, ema: bool | None = None,
                keep_activations: bool = False) -> xr.Dataset:
    """Measure representations of a run's checkpoints; write ``analysis/<name>`` in ``out``.

    Args:
        run_or_path: a :class:`~manifold_lens.runstore.Run` or the path of a run store.
        out: results store (created if missing; other groups are left alone).
        layers: module names, globs or aliases (``layer4`` = ``encoder.2``); default ``bottleneck``.
        timesteps: diffusion timesteps in [0, T); default :func:`default_timesteps`.
        checkpoints: "all", "last", a step or a list of steps.
        mode: "noised" or "trajectory" (see :mod:`manifold_lens.extract`).
        noise_draws: K, noise draws averaged per condition.
        embed: embedding methods passed to ``measure`` (pca, isomap, umap).
        name: results group name (default "default"); ``replace`` overwrites it.
        x, y: condition grid (lists or 'lo:hi[:step]'); default every candidate condition.
        seed, pool, batch_size, sampling_steps: extraction settings.
        ema: use EMA weights (None = when the run has them).
        keep_activations: also store the mean activations (can be large:
            conditions x units x 4 bytes per checkpoint, timestep and layer).

    Returns:
        The written results group, read back as an xr.Dataset.
    """
    run = run_or_path if isinstance(run_or_path, Run) else open_run(run_or_path)
    name = name or DEFAULT_NAME
    embed = _check_embed(embed)
    steps = select_checkpoints(run, checkpoints)
    schedule = run.schedule
    timesteps = default_timesteps(schedule.T, mode, sampling_steps) if timesteps is None else list(timesteps)
    settings = ExtractionSettings(mode, timesteps, int(noise_draws), int(seed), bool(pool), int(sampling_steps),
                                  int(batch_size)).validate(schedule)
    conditions = condition_grid(run.dataset, x, y)
    images = render_grid(run.dataset, conditions) if mode == "noised" else None
    dev = resolve_device(device)
    if group_exists(out, "analysis", name) and not replace:
        raise ManifoldLensError(f"{out}: results 'analysis/{name}' already exist; pass --replace to overwrite them "
                                "or --name to keep both")
    use_ema = run.has_ema if ema is None else bool(ema)
    attrs = {
        "title": "representation geometry, factorization and continuity over training",
        "source_run": str(run.path),
        "source_config": run.config.to_dict(),
        "source_versions": run.versions,
        "versions": package_versions(),
        "layers_requested": list(layers) if isinstance(layers, (list, tuple)) else (layers or "default"),
        "checkpoints": steps,
        "embed": list(embed),
        "ema": int(use_ema),
        "conditions": "every candidate condition" if x is None and y is None else f"grid x={x}, y={y}",
        **{f"extraction_{k}": v for k, v in settings.attrs().items()},
    }
    notes: dict[str, None] = {}
    # names are the same at every checkpoint: check them before the progress bar starts
    layer_names = resolve_layers(run.load_model(steps[0], ema=use_ema), layers)
    attrs["layers"] = layer_names
    bar = tqdm(steps, desc="analyze", unit="checkpoint", disable=not progress)
    for i, step in enumerate(bar):
        model = run.load_model(step, ema=use_ema, device=dev)
        acts = extract_activations(model, conditions, images, schedule, layers=layer_names,
                                   timesteps=settings.timesteps, mode=mode, noise_draws=settings.noise_draws,
                                   seed=settings.seed, pool=settings.pool, batch_size=settings.batch_size,
                                   sampling_steps=settings.sampling_steps, device=dev)
        for da in acts.values():
            da.attrs.update(feature_attrs(run.dataset))
        ds = _metrics_for_checkpoint(acts, embed, step, settings.seed, notes)
        if keep_activations:
            ds = ds.merge(_activations_vars(acts, step))
        ds["checkpoint"].attrs.update({"long_name": "training step of the checkpoint", "units": "step"})
        ds["timestep"].attrs.update({"long_name": "diffusion timestep t", "units": "step"})
        ds["layer"].attrs.update({"long_name": "hooked module (dotted name)"})
        if i == 0:  # measure's settings, then ours; every append rewrites the group attrs, so repeat them
            attrs = {**{f"measure_{k}": v for k, v in ds.attrs.items() if k != "notes"}, **attrs}
        ds.attrs = {**attrs, "measure_notes": "; ".join(notes)}
        append_results(out, "analysis", name, ds, dim="checkpoint", replace=replace, first=(i == 0))
        if "effective_dim" in ds and progress:
            bar.set_postfix(effective_dim=f"{float(ds['effective_dim'].isel(timestep=0, layer=0).squeeze()):.2f}")
        del model, acts, ds
    bar.close()
    return read_results(out, "analysis", name)


def summary_lines(ds: xr.Dataset, variables=("effective_dim", "factorization_score", "continuity_index")) -> list[str]:
    """A short text table of the headline metrics at the first and last checkpoint."""
    present = [v for v in variables if v in ds]
    lines = []
    steps = ds["checkpoint"].values
    for t in ds["timestep"].values:
        for layer in ds["layer"].values:
            sel = ds[present].sel(timestep=t, layer=layer)
            first = sel.isel(checkpoint=0)
            last = sel.isel(checkpoint=-1)
            vals = ", ".join(
                f"{v} {float(first[v]):.3g}" + (f" -> {float(last[v]):.3g}" if len(steps) > 1 else "")
                for v in present)
            lines.append(f"  {layer} @ t={int(t)}: {vals}")
    return lines
