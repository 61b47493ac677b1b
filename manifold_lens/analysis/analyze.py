"""Analyse a run: extract representations at every checkpoint and measure them.

For each chosen checkpoint (a progress bar runs over them), timestep and
layer, :func:`analyze_run` extracts the activations over the condition grid,
one per noise draw (dim ``draw``; :mod:`manifold_lens.analysis.extract`),
applies :func:`manifold_lens.measure` to them (its cross-draw estimates use
the draws) and appends the metrics to ``RESULTS.zarr`` group
``analysis/<name>`` (data, then the commit mark) before loading the next
checkpoint, so memory does not grow with the number of checkpoints and a
killed analysis keeps what it committed: the same call run again continues
from there. Every metric carries the dims ``checkpoint`` (optimiser steps),
``timestep`` and ``layer`` in front of its own, and the summary metrics a
``reference`` dim (the learned code first, then the pixels, the untrained
network, a label-shuffled null and the ideal codes;
:mod:`~manifold_lens.analysis.compare`), so learning dynamics and baselines
are one selection away::

    ds = read_results("results.zarr", "analysis")
    ds.effective_dim.sel(layer="bottleneck", timestep=50, reference="learned").plot()   # vs checkpoint

Defaults (:class:`~manifold_lens.analysis.settings.ExtractionSettings` and
:class:`~manifold_lens.analysis.settings.MeasureSettings`): all checkpoints,
layer ``bottleneck``, timestep round(0.05 T) (= 50 for T = 1000, low noise),
noised mode, 4 noise draws, PCA embeddings. The global attrs record the
settings, the source run (path, config, versions) and the versions used for
the analysis.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from tqdm.auto import tqdm

from ..coords import label
from ..devices import resolve_device
from ..stores import Run, append_results, check_result_name, open_run, open_stream, read_results, store_lock
from ..versions import package_versions
from .compare import checkpoint_metrics, fixed_references
from .extract import extract_checked, feature_attrs, resolve_layers
from .grid import condition_grid, render_grid
from .references import SHUFFLE_SEED_OFFSET, learned
from .settings import ExtractionSettings, MeasureSettings

DEFAULT_NAME = "default"
_E, _M = ExtractionSettings.default, MeasureSettings.default
_metrics_for_checkpoint = checkpoint_metrics  # the former private name (tests, notebooks)

__all__ = ["DEFAULT_NAME", "analyze_run", "checkpoint_metrics", "fixed_references"]


def _activations_vars(acts: dict[str, xr.DataArray], step: int) -> xr.Dataset:
    """Activations averaged over noise draws, as ``activations_<layer>``
    (checkpoint, timestep, condition, unit_<layer>)."""
    out = {}
    for name, da in acts.items():
        da = da.mean("draw", keep_attrs=True) if "draw" in da.dims else da  # measure got the draws themselves
        unit = f"unit_{name}"
        v = da.drop_vars([c for c in da.coords if c not in ("timestep",)]).rename(unit=unit)
        out[f"activations_{name}"] = v.expand_dims(checkpoint=[int(step)])
    return xr.Dataset(out)


def _legacy_arguments(run, positional: tuple, out, run_or_path):
    """``run`` and ``out`` from the former spellings (``run_or_path=``, a positional ``out``), with a warning."""
    if run_or_path is not None:
        warnings.warn("analyze_run(run_or_path=...) is deprecated: pass the run first (run=...)",
                      DeprecationWarning, stacklevel=3)
        if run is not None:
            raise TypeError("analyze_run() got both run and run_or_path; pass run only")
        run = run_or_path
    if positional:
        if len(positional) > 1 or out is not None:
            raise TypeError("analyze_run() takes the run as its only positional argument; pass out=... by keyword")
        warnings.warn("analyze_run(run, out) with out positional is deprecated: pass out=... by keyword",
                      DeprecationWarning, stacklevel=3)
        out = positional[0]
    if run is None:
        raise TypeError("analyze_run() missing the run (a Run or the path of a run store)")
    if out is None:
        raise TypeError("analyze_run() missing out=, the results store to write")
    return run, out


def analyze_run(run: Run | str | Path | None = None, *positional, out: str | Path | None = None,
                name: str | None = None, replace: bool = False,
                layers: str | Sequence[str] | None = _M("layers"), timesteps: Sequence[int] | None = _E("timesteps"),
                checkpoints: str | int | Sequence[int] = _M("checkpoints"), mode: str = _E("mode"),
                noise_draws: int = _E("noise_draws"), embed: str | Sequence[str] = _M("embed"),
                device: str = _M("device"), progress: bool = True, x=_M("x"), y=_M("y"), seed: int = _E("seed"),
                pool: bool = _E("pool"), batch_size: int = _E("batch_size"),
                sampling_steps: int = _E("sampling_steps"), ema: bool | None = _M("ema"),
                keep_activations: bool = _M("keep_activations"), references: bool = _M("references"),
                homology: bool | None = _M("homology"), homology_neighbors: int = _M("homology_neighbors"),
                homology_null_draws: int = _M("homology_null_draws"), betti_min_ratio: float = _M("betti_min_ratio"),
                log=None, run_or_path=None) -> xr.Dataset:
    """Measure representations of a run's checkpoints; write ``analysis/<name>`` in results store ``out``.

    Args:
        run: a :class:`~manifold_lens.stores.Run` or the path of a run store
            (``run_or_path=`` is its deprecated name).
        out: results store (created if missing; other groups are left alone). Keyword-only
            (a positional ``out`` still works, with a DeprecationWarning).
        name: results group name (default "default").
        replace: write over an existing complete group of that name.
        layers: module names, globs or aliases (``layer4`` = ``encoder.2``); default ``bottleneck``.
        timesteps: diffusion timesteps in [0, T); default round(0.05 T).
        checkpoints: "all", "last", a step or a list of steps.
        mode: "noised" or "trajectory" (see :mod:`manifold_lens.analysis.extract`).
        noise_draws: K, noise draws per condition; measure estimates inner products across draws.
        embed: embedding methods passed to ``measure`` (pca, isomap, umap).
        device: auto, cpu, cuda or cuda:N.
        progress: a progress bar over the checkpoints.
        x, y: condition grid (lists or 'lo:hi[:step]', px); default every candidate condition.
        seed, pool, batch_size, sampling_steps: extraction settings.
        ema: use EMA weights (None = when the run has them).
        keep_activations: also store the activations averaged over noise draws (can be large:
            conditions x units x 4 bytes per checkpoint, timestep and layer).
        references: also measure the references (pixels, init, shuffled and
            the ideal torus3d, clifford, plane; :mod:`~manifold_lens.analysis.references`)
            on the same grid, layer and timestep: summary metrics gain the dim
            ``reference`` (learned first). Costs one more extraction (step 0)
            and a second ``measure`` per checkpoint (the shuffled null).
        homology: persistent homology (H0/H1 diagrams, Betti-1) of every code;
            None: on for periodic data (a torus is expected), off otherwise.
        homology_neighbors, homology_null_draws, betti_min_ratio: the loop count's rule
            (:mod:`~manifold_lens.analysis.topology`).
        log: called with the line saying an unfinished group is continued (default: printed to stderr).

    Every setting is checked before any work (:class:`ExtractionSettings`,
    :class:`MeasureSettings`; a bad value is a ConfigError naming it). The
    results store's lock is held for the whole call (a second writer is
    refused in one line). An existing complete group is refused unless
    ``replace``; an unfinished one written with the same settings is
    continued from its last committed checkpoint (other settings: refused,
    naming the first that differs).

    Returns:
        The written results group, read back as an xr.Dataset.
    """
    run, out = _legacy_arguments(run, positional, out, run_or_path)
    run = run if isinstance(run, Run) else open_run(run)
    name = check_result_name(name or DEFAULT_NAME)
    chosen = MeasureSettings(layers, checkpoints, x, y, ema, embed, references, homology, keep_activations,
                             device, homology_neighbors, homology_null_draws, betti_min_ratio).check()
    steps = run.select_checkpoints(chosen.checkpoints)
    schedule = run.schedule
    settings = ExtractionSettings(mode, timesteps, noise_draws, seed, pool, sampling_steps,
                                  batch_size).check(schedule=schedule)
    dev = resolve_device(chosen.device)
    with store_lock(out):  # one writer per results store, for the whole call
        conditions = condition_grid(run.dataset, chosen.x, chosen.y)
        truth = render_grid(run.dataset, conditions) if settings.mode == "noised" or chosen.references else None
        images = truth if settings.mode == "noised" else None
        use_ema = run.has_ema if chosen.ema is None else chosen.ema
        # names are the same at every checkpoint: check them before the progress bar starts
        layer_names = resolve_layers(run.load_model(steps[0], ema=use_ema), chosen.layers)
        measured = chosen.attrs()
        attrs = {
            "title": "representation geometry, factorization and continuity over training",
            "source_run": str(run.path),
            "source_config": run.config.to_dict(),
            "source_versions": run.versions,
            "versions": package_versions(),
            "layers_requested": measured["layers_requested"],
            "checkpoints": steps,
            "embed": measured["embed"],
            "ema": int(use_ema),
            "conditions": measured["conditions"],
            **{f"extraction_{k}": v for k, v in settings.attrs().items()},
            "layers": layer_names,
            "references": measured["references"],
            "shuffle_seed": int(settings.seed + SHUFFLE_SEED_OFFSET),
            "homology": measured["homology"],
        }
        # what determines the values: a rerun continues an unfinished group only when these are the same
        same = chosen.resume_key(settings, source_run=str(run.path), checkpoints=steps, layers=layer_names,
                                 ema=use_ema)
        stream = open_stream(same, out=out, kind="analysis", name=name, planned=len(steps), replace=replace,
                             log=log)
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
            if chosen.references and fixed is None:  # once: pixels, ideal codes and the untrained network (step 0)
                acts0 = None if 0 not in run.steps else acts if step == 0 else activations(0)
                fixed = fixed_references(acts, acts0, truth, settings.seed, notes, chosen.homology,
                                         loop_rule=chosen.loop_rule())
                del acts0
            ds = checkpoint_metrics(acts, chosen.embed, step, settings.seed, notes, fixed, chosen.homology,
                                    loop_rule=chosen.loop_rule())
            if chosen.keep_activations:
                ds = ds.merge(_activations_vars(acts, step))
            label(ds)  # checkpoint, timestep, x, y: the shared long names and units (manifold_lens.coords)
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
