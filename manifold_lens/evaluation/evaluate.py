"""Generation accuracy of a run (SCIENCE.md section 3): sample at conditions, locate, score.

For every checkpoint of a run (one model in memory at a time), generate
``samples_per_condition`` images at each selected condition (x, y), locate the
bump or stripes (:mod:`~manifold_lens.evaluation.localize`) and score each
sample (:mod:`~manifold_lens.evaluation.scoring`: correct, learning phase
A/B/C, and the accuracy aggregates per checkpoint).

The initial noise is the same at every checkpoint (one seed), so differences
between checkpoints are not sampling noise of the generator. Settings are
checked once, before any sampling (:func:`check_settings`). With a results
store, each checkpoint is committed to it as soon as it is scored, so a
killed evaluation keeps what it committed and the same command run again
continues from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..diffusion import SamplerPlan, plan_sampler, run_sampler
from ..errors import ManifoldLensError
from ..stores import (
    Run,
    append_results,
    as_strings,
    check_result_name,
    open_run,
    open_stream,
    read_group,
    store_lock,
)
from ..versions import package_versions
from .scoring import PHASE_MEANINGS, aggregate, locate_samples, score, scored_axes

CONDITION_SETS = ("all", "train", "heldout")


class EvaluationSettings(NamedTuple):
    """Checked evaluation settings: the sampler plan and how samples are drawn and scored."""

    plan: SamplerPlan
    sampler_steps: int
    samples_per_condition: int
    tolerance: float
    seed: int
    batch_size: int
    threshold: float
    min_peak: float
    second_bump_threshold: float = 0.25
    max_width_ratio: float = 1.5


def evaluation_settings(sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0, timesteps: int = 1000,
                        samples_per_condition: int = 4, tolerance: float = 1.0, seed: int = 0, batch_size: int = 512,
                        threshold: float = 0.5, min_peak: float = 0.25, second_bump_threshold: float = 0.25,
                        max_width_ratio: float = 1.5) -> EvaluationSettings:
    """Checked settings for a schedule of ``timesteps`` steps (one-line error naming the bad option)."""
    plan = plan_sampler(sampler, steps, eta, timesteps)
    if not float(tolerance) > 0:
        raise ManifoldLensError(f"--tolerance {tolerance}: must be > 0 px")
    if not 0 < float(second_bump_threshold) <= 1:
        raise ManifoldLensError(f"--second-bump-threshold {second_bump_threshold}: must be in (0, 1], a fraction "
                                "of the rendered bump height")
    if not (np.isfinite(float(max_width_ratio)) and float(max_width_ratio) > 1):
        raise ManifoldLensError(f"--max-width-ratio {max_width_ratio}: must be a finite number > 1 (the factor by "
                                "which a bump's width may differ from the data's sigma)")
    if not 0 < float(threshold) < 1:
        raise ManifoldLensError(f"threshold = {threshold}: must be in (0, 1), a fraction of the image's peak")
    if not (np.isfinite(float(min_peak)) and float(min_peak) > 0):
        raise ManifoldLensError(f"min_peak = {min_peak}: must be a finite number > 0, a fraction of the rendered "
                                "height")
    if int(samples_per_condition) < 1:
        raise ManifoldLensError(f"--samples-per-condition {samples_per_condition}: must be >= 1")
    if int(batch_size) < 1:
        raise ManifoldLensError(f"--batch-size {batch_size}: must be >= 1")
    n_steps = timesteps if sampler == "ddpm" else int(50 if steps is None else steps)
    return EvaluationSettings(plan, n_steps, int(samples_per_condition), float(tolerance), int(seed),
                              int(batch_size), float(threshold), float(min_peak), float(second_bump_threshold),
                              float(max_width_ratio))


def check_settings(run, checkpoints="last", sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
                   tolerance: float = 1.0, samples_per_condition: int = 4, seed: int = 0, batch_size: int = 512,
                   threshold: float = 0.5, min_peak: float = 0.25, second_bump_threshold: float = 0.25,
                   max_width_ratio: float = 1.5) -> tuple[EvaluationSettings, list[int]]:
    """Check evaluation settings against a run before any work: (settings, checkpoint steps)."""
    settings = evaluation_settings(sampler, steps, eta, run.config.diffusion.timesteps, samples_per_condition,
                                   tolerance, seed, batch_size, threshold, min_peak, second_bump_threshold,
                                   max_width_ratio)
    return settings, run.select_checkpoints(checkpoints)


def select_conditions(conditions: xr.Dataset, which: str = "all") -> xr.Dataset:
    """The candidate conditions to evaluate: all, train (in the training set) or heldout (the others).

    Adds an integer ``condition`` coordinate: the index into the run's candidate lattice.
    """
    if which not in CONDITION_SETS:
        raise ManifoldLensError(f"--conditions {which!r}: must be one of {', '.join(CONDITION_SETS)}")
    cond = conditions.copy()
    if "condition" not in cond.coords:
        cond = cond.assign_coords(condition=("condition", np.arange(cond.sizes["condition"])))
    for name in ("family", "region"):
        cond = cond.assign_coords({name: ("condition", as_strings(cond[name].values), cond[name].attrs)})
    in_train = cond["in_train"].values.astype(bool)
    if which == "train":
        cond = cond.isel(condition=np.flatnonzero(in_train))
    elif which == "heldout":
        cond = cond.isel(condition=np.flatnonzero(~in_train))
    if cond.sizes["condition"] == 0:
        raise ManifoldLensError(f"--conditions {which}: this run has no such conditions; use --conditions all")
    return cond


def evaluate_model(model, schedule, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0),
                   sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0, samples_per_condition: int = 4,
                   tolerance: float = 1.0, seed: int = 0, batch_size: int = 512, device=None,
                   keep_images: bool = False, threshold: float = 0.5, min_peak: float = 0.25,
                   second_bump_threshold: float = 0.25, max_width_ratio: float = 1.5,
                   progress: bool = True) -> xr.Dataset:
    """Sample, locate and score one model at ``conditions`` (dim ``condition`` with x, y, family).

    Returns per-sample variables over (condition, sample): x_hat, y_hat,
    width_x_hat, width_y_hat, width_ok, n_bumps, correct, phase (and image
    with ``keep_images``), without aggregates (see
    :func:`~manifold_lens.evaluation.scoring.aggregate`).
    """
    settings = evaluation_settings(sampler, steps, eta, schedule.timesteps, samples_per_condition, tolerance, seed,
                                   batch_size, threshold, min_peak, second_bump_threshold, max_width_ratio)
    return score_model(model, schedule, conditions, settings, image_size=image_size, sigma=sigma,
                       device=resolve_device(device) if device is not None else None, keep_images=keep_images,
                       progress=progress)


def score_model(model, schedule, conditions: xr.Dataset, settings: EvaluationSettings, *, image_size: int,
                sigma=(1.0, 1.0), device=None, keep_images: bool = False, progress: bool = True) -> xr.Dataset:
    """:func:`evaluate_model` on checked settings."""
    C = conditions.sizes["condition"]
    K = settings.samples_per_condition
    tolerance, threshold, min_peak = settings.tolerance, settings.threshold, settings.min_peak
    xy = np.stack([conditions["x"].values, conditions["y"].values], axis=1).astype(np.float32)
    cond = np.repeat(xy, K, axis=0)  # condition-major: c0 s0, c0 s1, ...
    images = run_sampler(model, schedule, cond, settings.plan, image_size=image_size,
                         generator=torch.Generator().manual_seed(settings.seed), batch_size=settings.batch_size,
                         device=device, progress=progress)
    imgs = images.numpy().reshape(C, K, image_size, image_size)
    loc = locate_samples(imgs, conditions, image_size=image_size, sigma=sigma, threshold=threshold,
                         min_peak=min_peak, second_bump_threshold=settings.second_bump_threshold,
                         max_width_ratio=settings.max_width_ratio)
    family = as_strings(conditions["family"].values)
    axes = scored_axes(conditions["x"].values, conditions["y"].values, family, image_size)
    correct, phase = score(loc["x_hat"], loc["y_hat"], loc["n_bumps"], xy[:, :1], xy[:, 1:], axes=axes[:, None],
                           tolerance=tolerance, periodic=(family == "periodic")[:, None], image_size=image_size,
                           width_ok=loc["width_ok"])
    cs = ("condition", "sample")
    ds = xr.Dataset(
        {
            "x_hat": (cs, loc["x_hat"], {"long_name": "estimated centre x (column) of the generated image",
                                         "units": "px"}),
            "y_hat": (cs, loc["y_hat"], {"long_name": "estimated centre y (row) of the generated image",
                                         "units": "px"}),
            "width_x_hat": (cs, loc["width_x_hat"], {"long_name": "fitted width along x of the located bump "
                                                     "(SOS: of the vertical stripe)", "units": "px"}),
            "width_y_hat": (cs, loc["width_y_hat"], {"long_name": "fitted width along y of the located bump "
                                                     "(SOS: of the horizontal stripe)", "units": "px"}),
            "width_ok": (cs, loc["width_ok"], {
                "long_name": "fitted width within max_width_ratio of the data's sigma on every scored axis",
                "description": "widths and sigma taken at least 0.5 px; false without a bump",
                "max_width_ratio": float(settings.max_width_ratio)}),
            "n_bumps": (cs, loc["n_bumps"].astype(np.int32),
                        {"long_name": "number of bumps in the generated image",
                         "description": "SOS: stripe crossings; 1D stripe conditions: stripes along the carried axis",
                         "second_bump_threshold": float(settings.second_bump_threshold)}),
            "correct": (cs, correct, {"long_name": "exactly one bump of the data's width and scored coordinates "
                                                   "within tolerance",
                                      "tolerance_px": float(tolerance),
                                      "max_width_ratio": float(settings.max_width_ratio)}),
            "phase": (cs, phase, {"long_name": "learning phase of the sample",
                                  "flag_meanings": "; ".join(f"{k}: {v}" for k, v in PHASE_MEANINGS.items())}),
        },
        coords={**{k: v for k, v in conditions.coords.items()},
                "scored_axes": ("condition", axes, {"long_name": "coordinates scored for this condition"}),
                "sample": ("sample", np.arange(K))},
    )
    if keep_images:
        ds["image"] = (("condition", "sample", "row", "col"), imgs.astype(np.float32),
                       {"long_name": "generated image", "units": "pixel value in [-1, 1]"})
    return ds


def evaluation_name(sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
                    samples_per_condition: int = 4, conditions: str = "all", tolerance: float = 1.0,
                    seed: int = 0, timesteps: int = 1000, second_bump_threshold: float = 0.25,
                    max_width_ratio: float = 1.5) -> str:
    """Default results name from the settings, e.g. "ddim50", "ddpm1000_k16_heldout", "ddim20_eta1_width2"."""
    n = timesteps if sampler == "ddpm" else (50 if steps is None else int(steps))
    name = f"{sampler}{n}"
    if sampler == "ddim" and eta:
        name += f"_eta{eta:g}"
    if samples_per_condition != 4:
        name += f"_k{samples_per_condition}"
    if conditions != "all":
        name += f"_{conditions}"
    if tolerance != 1.0:
        name += f"_tol{tolerance:g}"
    if second_bump_threshold != 0.25:
        name += f"_bump{second_bump_threshold:g}"
    if max_width_ratio != 1.5:
        name += f"_width{max_width_ratio:g}".replace("+", "")  # 1e+06 -> 1e06: no '+' in results names
    if seed != 0:
        name += f"_seed{seed}"
    return name


def _checkpoint_results(run, step: int, cond: xr.Dataset, settings: EvaluationSettings, attrs: dict, *,
                        device, keep_images: bool, progress: bool) -> xr.Dataset:
    """Sample, locate, score and aggregate one checkpoint: the results of ``step`` along dim ``checkpoint``."""
    cfg = run.config.resolved()
    sigma = (float(cfg.data.sigma_x), float(cfg.data.sigma_y))
    model = run.load_model(step, device=device)
    part = score_model(model, run.schedule, cond, settings, image_size=cfg.data.image_size, sigma=sigma,
                       device=device, keep_images=keep_images, progress=progress)
    del model  # freed by reference counting: one model in memory at a time
    if device.type == "cuda":
        torch.cuda.empty_cache()
    ds = part.expand_dims(checkpoint=[int(step)])
    for var in ("x_hat", "y_hat", "width_x_hat", "width_y_hat", "width_ok", "n_bumps", "correct", "phase"):
        ds[var] = ds[var].transpose("checkpoint", "condition", "sample")
    ds["checkpoint"].attrs.update({"long_name": "training step of the checkpoint", "units": "optimiser steps"})
    ds.attrs.update(attrs)
    ds = aggregate(ds)
    recorded = {k: attrs[k] for k in RECORDED}
    for var in ("accuracy", "accuracy_id", "accuracy_ood", "accuracy_region", "accuracy_condition"):
        ds[var].attrs.update(recorded)
    return ds


RECORDED = ("sampler", "sampler_steps", "eta", "tolerance_px", "max_width_ratio", "second_bump_threshold", "seed",
            "samples_per_condition", "ema")


def evaluate_run(run, checkpoints="last", *, sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
                 samples_per_condition: int = 4, conditions: str = "all", tolerance: float = 1.0, seed: int = 0,
                 keep_images: bool = False, device="auto", batch_size: int = 512, threshold: float = 0.5,
                 min_peak: float = 0.25, second_bump_threshold: float = 0.25, max_width_ratio: float = 1.5,
                 out=None, name: str | None = None, replace: bool = False, progress: bool = True,
                 log=None) -> xr.Dataset:
    """Generation accuracy of a run's checkpoints (see the module docstring).

    Args:
        run: a :class:`~manifold_lens.stores.Run` or the path of a run store.
        checkpoints: "last", "all", a step or a list of steps (committed ones).
        sampler, steps, eta: "ddim" (``steps`` <= T, default 50) or "ddpm" (all T steps).
        samples_per_condition: generated images per condition (dim ``sample``).
        conditions: "all", "train" or "heldout" candidate conditions.
        tolerance: px within which each scored coordinate must fall.
        seed: seed of the sampling noise (identical at every checkpoint).
        keep_images: also return the generated images (variable ``image``).
        device: "auto", "cpu", "cuda", "cuda:N"; batch_size: images per forward pass.
        threshold, min_peak: localizer settings (:func:`~manifold_lens.evaluation.localize.localize`).
        second_bump_threshold: a peak whose fitted height exceeds this fraction
            of the rendered bump height counts as a bump, however bright the
            brightest one is (in (0, 1]; 1 is close to counting by
            ``threshold`` alone).
        max_width_ratio: a sample whose fitted width differs from the data's
            sigma by more than this factor (> 1) on a scored axis is not one
            correct bump (phase A; :func:`~manifold_lens.evaluation.scoring.width_ok`).
        out, name, replace: also write the results to results store ``out`` as
            ``evaluation/<name>`` (default name from the settings,
            :func:`evaluation_name`), one checkpoint at a time, holding the
            store's lock. An existing complete group is refused, before any
            sampling, unless ``replace``; an unfinished one written with the
            same settings is continued from its last committed checkpoint.
        log: called with the line saying an unfinished group is continued (default: printed to stderr).

    Checkpoints are loaded (EMA weights when the run has them) and evaluated
    one at a time, so memory does not grow with their number. With ``out`` the
    returned Dataset is the group as stored (every committed checkpoint).
    """
    run = run if isinstance(run, Run) else open_run(run)
    settings, chosen = check_settings(run, checkpoints, sampler, steps, eta, tolerance, samples_per_condition, seed,
                                      batch_size, threshold, min_peak, second_bump_threshold, max_width_ratio)
    cond = select_conditions(run.conditions, conditions)
    dev = resolve_device(device)
    if out is not None:
        if Path(out).resolve() == run.path:
            raise ManifoldLensError(f"--out {out} is the run store itself; give a results store path, "
                                    "e.g. --out results.zarr")
        name = check_result_name(name or evaluation_name(
            sampler, settings.sampler_steps, eta, samples_per_condition, conditions, tolerance, seed,
            run.config.diffusion.timesteps, settings.second_bump_threshold, settings.max_width_ratio))
    cfg = run.config.resolved()
    attrs = {
        "sampler": sampler,
        "sampler_steps": int(settings.sampler_steps),
        "eta": float(settings.plan.eta) if sampler == "ddim" else 1.0,
        "tolerance_px": float(tolerance),
        "max_width_ratio": settings.max_width_ratio,
        "second_bump_threshold": settings.second_bump_threshold,
        "seed": int(seed),
        "samples_per_condition": int(samples_per_condition),
        "ema": bool(run.has_ema),
        "conditions": conditions,
        "clip_x0": "true",
        "localizer": {"threshold": settings.threshold, "min_peak": settings.min_peak,
                      "second_bump_threshold": settings.second_bump_threshold, "sigma_x": float(cfg.data.sigma_x),
                      "sigma_y": float(cfg.data.sigma_y), "method": "known-width Gaussian fit",
                      "width_method": "free-width Gaussian fit of the 1D profiles"},
        "source_run": str(Path(run.path).resolve()),
        "config": cfg.to_dict(),  # dict attrs are stored as JSON by the results store
        "versions": package_versions(),
        "description": "generation accuracy: samples located and scored per condition, aggregated per checkpoint",
    }
    kw = {"device": dev, "keep_images": keep_images, "progress": progress}
    bar = {"desc": "checkpoints", "disable": not progress or len(chosen) == 1, "unit": "ckpt"}
    if out is None:
        parts = [_checkpoint_results(run, step, cond, settings, attrs, **kw) for step in tqdm(chosen, **bar)]
        return xr.concat(parts, dim="checkpoint", data_vars="minimal", coords="minimal", compat="override",
                         join="exact", combine_attrs="override")
    attrs["name"] = name
    # what determines the values: a rerun continues an unfinished group only when these are the same
    same = {**{k: attrs[k] for k in (*RECORDED, "conditions", "localizer", "source_run")}, "checkpoints": chosen,
            "batch_size": int(batch_size), "keep_images": bool(keep_images)}
    with store_lock(out):
        stream = open_stream(out, "evaluation", name, same, planned=len(chosen), replace=replace, log=log)
        for step in tqdm(chosen[stream.committed:], **bar):
            append_results(stream, _checkpoint_results(run, step, cond, settings, attrs, **kw))
    return read_group(out, "evaluation", name)
