"""Analyse a run: extract representations at every checkpoint and measure them.

For each chosen checkpoint (a progress bar runs over them), timestep and
layer, :func:`analyze_run` extracts the mean activations over the condition
grid (:mod:`manifold_lens.analysis.extract`), applies :func:`manifold_lens.measure`
and appends the metrics to ``RESULTS.zarr`` group ``analysis/<name>`` (data,
then the commit mark) before loading the next checkpoint, so memory does not
grow with the number of checkpoints and a killed analysis keeps what it
committed: the same command run again continues from there. Every metric
carries the dims ``checkpoint`` (training step), ``timestep`` and ``layer`` in
front of its own, and the summary metrics a ``reference`` dim (the learned
code first, then the pixels, the untrained network, a label-shuffled null
and the ideal codes; :mod:`~manifold_lens.analysis.references`), so learning
dynamics and baselines are one selection away::

    ds = read_results("results.zarr", "analysis")
    ds.effective_dim.sel(layer="bottleneck", timestep=50, reference="learned").plot()   # vs checkpoint

Defaults: all checkpoints, layer ``bottleneck``, timestep round(0.05 T)
(= 50 for T = 1000, low noise), noised mode, 4 noise draws, PCA embeddings.
The global attrs record the settings, the source run (path, config,
versions) and the versions used for the analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..stores import (
    Run,
    append_results,
    check_result_name,
    open_run,
    open_stream,
    read_results,
    store_lock,
)
from ..versions import package_versions
from .extract import ExtractionSettings, extract_checked, feature_attrs, resolve_layers
from .geometry import check_embed_methods
from .grid import condition_grid, render_grid
from .measure import measure
from .references import (REFERENCES, SHUFFLE_SEED_OFFSET, ideal_codes, learned, pixel_code, shuffled_code,
                         stack_references)

DEFAULT_NAME = "default"


def _metrics_for_checkpoint(acts: dict[str, xr.DataArray], embed, step: int, seed: int,
                            notes: dict[str, None], fixed: dict | None = None, homology=None) -> xr.Dataset:
    """Measure every (timestep, layer) and stack to dims (checkpoint, timestep, layer, ...).

    ``notes`` collects measure's notes (skipped parts) across calls, in order.
    ``fixed`` maps (timestep, layer) to the measured references that do not
    change with the checkpoint (pixels, init, ideal codes); with it, the
    summary metrics gain the ``reference`` dim, the shuffled null measured
    here from this checkpoint's code (:mod:`manifold_lens.analysis.references`).
    """
    per_t = []
    for t in next(iter(acts.values()))["timestep"].values:
        per_layer = []
        for name, da in acts.items():
            code = da.sel(timestep=t, drop=True)
            m = measure(code, embed=embed, seed=seed, homology=homology)
            notes.update(dict.fromkeys(n for n in m.attrs.get("notes", "").split("; ") if n))
            if fixed is not None:
                # the same points under other labels: homology would repeat the learned code's, so it is off
                shuffled = measure(shuffled_code(code, seed + SHUFFLE_SEED_OFFSET), embed=(), seed=seed,
                                   homology=False)
                m = stack_references(m, {**fixed[(int(t), name)], "shuffled": shuffled})
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


def fixed_references(acts: dict[str, xr.DataArray], acts0: dict[str, xr.DataArray] | None, images, seed: int,
                     notes: dict[str, None], homology=None) -> dict:
    """The references that do not change with the checkpoint, measured once: {(timestep, layer): {name: ds}}.

    ``acts``: any checkpoint's activations (their conditions, coordinates and
    attrs are copied); ``acts0``: the step-0 checkpoint's (None when the run
    has none: ``init`` is NaN, with a note); ``images``: the ground-truth
    images of the conditions (``pixels``). The ideal codes come from
    :func:`~manifold_lens.analysis.references.ideal_codes`.
    """
    template = next(iter(acts.values())).isel(timestep=0, drop=True)
    kw = {"embed": (), "seed": seed, "homology": homology}
    once = {"pixels": measure(pixel_code(images, template), **kw),
            **{k: measure(v, **kw) for k, v in ideal_codes(template).items()}}
    if acts0 is None:
        notes["init reference is NaN: the run has no step-0 checkpoint"] = None
    out = {}
    for layer, da in acts.items():
        for t in da["timestep"].values:
            init = None if acts0 is None else measure(acts0[layer].sel(timestep=t, drop=True), **kw)
            out[(int(t), layer)] = {**once, "init": init}
    return out


def _activations_vars(acts: dict[str, xr.DataArray], step: int) -> xr.Dataset:
    """Mean activations as variables ``activations_<layer>`` (checkpoint, timestep, condition, unit_<layer>)."""
    out = {}
    for name, da in acts.items():
        da = da.mean("draw", keep_attrs=True) if "draw" in da.dims else da  # measure got the draws themselves
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
                keep_activations: bool = False, references: bool = True, homology: bool | None = None,
                log=None) -> xr.Dataset:
    """Measure representations of a run's checkpoints; write ``analysis/<name>`` in ``out``.

    Args:
        run_or_path: a :class:`~manifold_lens.stores.Run` or the path of a run store.
        out: results store (created if missing; other groups are left alone).
        layers: module names, globs or aliases (``layer4`` = ``encoder.2``); default ``bottleneck``.
        timesteps: diffusion timesteps in [0, T); default :func:`default_timesteps`.
        checkpoints: "all", "last", a step or a list of steps.
        mode: "noised" or "trajectory" (see :mod:`manifold_lens.analysis.extract`).
        noise_draws: K, noise draws per condition; measure estimates inner products across draws.
        embed: embedding methods passed to ``measure`` (pca, isomap, umap).
        name: results group name (default "default"); ``replace`` overwrites it.
        x, y: condition grid (lists or 'lo:hi[:step]'); default every candidate condition.
        seed, pool, batch_size, sampling_steps: extraction settings.
        ema: use EMA weights (None = when the run has them).
        keep_activations: also store the mean activations (can be large:
            conditions x units x 4 bytes per checkpoint, timestep and layer).
        references: also measure the references (pixels, init, shuffled and
            the ideal torus3d, clifford, plane; :mod:`~manifold_lens.analysis.references`)
            on the same grid, layer and timestep: summary metrics gain the dim
            ``reference`` (learned first). Costs one more extraction (step 0)
            and a second ``measure`` per checkpoint (the shuffled null).
        homology: persistent homology (H0/H1 diagrams, Betti-1) of every code;
            None: on for periodic data (a torus is expected), off otherwise.
        log: called with the line saying an unfinished group is continued (default: printed to stderr).

    The results store's lock is held for the whole call (a second writer is
    refused in one line). An existing complete group is refused unless
    ``replace``; an unfinished one written with the same settings is
    continued from its last committed checkpoint (other settings: refused).

    Returns:
        The written results group, read back as an xr.Dataset.
    """
    run = run_or_path if isinstance(run_or_path, Run) else open_run(run_or_path)
    name = check_result_name(name or DEFAULT_NAME)
    embed = check_embed_methods(embed)
    steps = run.select_checkpoints(checkpoints)
    schedule = run.schedule
    settings = ExtractionSettings(mode, timesteps, int(noise_draws), int(seed), bool(pool), int(sampling_steps),
                                  int(batch_size)).validate(schedule)
    dev = resolve_device(device)
    with store_lock(out):  # one writer per results store, for the whole command
        conditions = condition_grid(run.dataset, x, y)
        truth = render_grid(run.dataset, conditions) if mode == "noised" or references else None
        images = truth if mode == "noised" else None
        use_ema = run.has_ema if ema is None else bool(ema)
        # names are the same at every checkpoint: check them before the progress bar starts
        layer_names = resolve_layers(run.load_model(steps[0], ema=use_ema), layers)
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
            "layers": layer_names,
            "references": list(REFERENCES) if references else ["learned"],
            "shuffle_seed": int(settings.seed + SHUFFLE_SEED_OFFSET),
            "homology": "default (periodic data)" if homology is None else int(bool(homology)),
        }
        # what determines the values: a rerun continues an unfinished group only when these are the same
        same = {**{k: attrs[k] for k in ("source_run", "checkpoints", "embed", "ema", "conditions", "layers")},
                **{k: v for k, v in attrs.items() if k.startswith("extraction_")},
                "keep_activations": bool(keep_activations), "references": attrs["references"],
                "homology": attrs["homology"]}
        stream = open_stream(out, "analysis", name, same, planned=len(steps), replace=replace, log=log)
        notes = dict.fromkeys(n for n in str(stream.attrs.get("measure_notes", "")).split("; ") if n)
        bar = tqdm(steps, desc="analyze", unit="checkpoint", disable=not progress, initial=stream.committed)
        fixed = None

        def activations(step):
            model = run.load_model(step, ema=use_ema, device=dev)
            acts = extract_checked(model, conditions, images, schedule, settings, layer_names, device=dev)
            for da in acts.values():
                da.attrs.update(feature_attrs(run.dataset))
            return acts

        for step in steps[stream.committed:]:
            acts = activations(step)
            if references and fixed is None:  # once: pixels, ideal codes and the untrained network (step 0)
                acts0 = None if 0 not in run.steps else acts if step == 0 else activations(0)
                fixed = fixed_references(acts, acts0, truth, settings.seed, notes, homology)
                del acts0
            ds = _metrics_for_checkpoint(acts, embed, step, settings.seed, notes, fixed, homology)
            if keep_activations:
                ds = ds.merge(_activations_vars(acts, step))
            ds["checkpoint"].attrs.update({"long_name": "training step of the checkpoint", "units": "step"})
            ds["timestep"].attrs.update({"long_name": "diffusion timestep t", "units": "step"})
            ds["layer"].attrs.update({"long_name": "hooked module (dotted name)"})
            # measure's settings (the same at every checkpoint), then ours; every append rewrites the group attrs
            ds.attrs = {**{f"measure_{k}": v for k, v in ds.attrs.items() if k != "notes"}, **attrs,
                        "measure_notes": "; ".join(notes)}
            append_results(stream, ds)
            bar.update(1)
            if "effective_dim" in ds and progress:
                value = learned(ds["effective_dim"]).isel(timestep=0, layer=0).squeeze()
                bar.set_postfix(effective_dim=f"{float(value):.2f}")
            del acts, ds
        bar.close()
    return read_results(out, "analysis", name)
