"""Generation accuracy (SCIENCE.md section 3): sample at conditions, locate, score.

For every checkpoint of a run (one model in memory at a time), generate
``samples_per_condition`` images at each selected condition (x, y), locate the
bump or stripes (:mod:`manifold_lens.localize`) and score each sample:

* correct: exactly one bump (SOS: one stripe crossing) and every scored
  coordinate within ``tolerance`` px of the condition (1 px by default).
  Periodic runs measure the error around the torus, min(|d|, N - |d|).
  A stripes-family condition with one coordinate outside the frame is a 1D
  example carrying only the in-frame coordinate: only that coordinate is
  scored and "one bump" means exactly one stripe along it (coordinate
  ``scored_axes`` = "x" or "y"; "xy" otherwise).
* learning phase: A, not exactly one bump (no structure); B, one bump at the
  wrong place; C, correct.

Aggregates per checkpoint: ``accuracy`` (all samples), ``accuracy_id``
(conditions in the training set), ``accuracy_ood`` (the others; NaN when there
are none), ``accuracy_region`` (per named region, dim ``region_name``),
``accuracy_condition`` and ``phase_fraction`` (dim ``phase_name``).

The dims of the aggregates are called ``region_name`` and ``phase_name``
because ``region`` is already the per-condition region coordinate and
``phase`` the per-sample phase variable (xarray forbids a variable named like
a dimension it does not index).

The initial noise is the same at every checkpoint (one seed), so differences
between checkpoints are not sampling noise of the generator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from .errors import ManifoldLensError
from .localize import localize
from .sampling import SAMPLERS, check_steps, resolve_device, sample
from .versions import package_versions

PHASES = ("A", "B", "C")
CONDITION_SETS = ("all", "train", "heldout")
PHASE_MEANINGS = {
    "A": "not exactly one bump (no structure)",
    "B": "one bump at the wrong place",
    "C": "one bump at the right place (correct)",
}


# -- scoring -----------------------------------------------------------------

def _strings(values) -> np.ndarray:
    """Any string array (numpy U, StringDType, object) as an object array of Python str."""
    return np.array([str(v) for v in np.asarray(values).ravel()], dtype=object).reshape(np.shape(values))


def scored_axes(x, y, family, image_size: int) -> np.ndarray:
    """Which coordinates a condition carries: "x" or "y" for a 1D stripe example, else "xy"."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    fam = np.broadcast_to(_strings(family), x.shape)
    in_x = (x >= 0) & (x <= image_size - 1)
    in_y = (y >= 0) & (y <= image_size - 1)
    out = np.full(x.shape, "xy", dtype=object)
    stripes = fam == "stripes"
    out[stripes & in_x & ~in_y] = "x"
    out[stripes & in_y & ~in_x] = "y"
    return out


def coordinate_error(estimate, target, *, periodic=False, image_size: int | None = None) -> np.ndarray:
    """|estimate - target| in px; around the torus (min(|d|, N - |d|)) where ``periodic``. NaN stays NaN."""
    d = np.abs(np.asarray(estimate, dtype=np.float64) - np.asarray(target, dtype=np.float64))
    periodic = np.asarray(periodic, dtype=bool)
    if periodic.any():
        if image_size is None:
            raise ValueError("coordinate_error: periodic errors need image_size")
        dw = np.mod(d, image_size)
        d = np.where(periodic, np.minimum(dw, image_size - dw), d)
    return d


def score(x_hat, y_hat, n_bumps, x, y, *, axes="xy", tolerance: float = 1.0, periodic=False,
          image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(correct, phase) per sample; all inputs broadcast together.

    correct = exactly one bump and each coordinate named in ``axes`` ("xy",
    "x" or "y", per sample) within ``tolerance`` px; phase "A" / "B" / "C".
    """
    axes = _strings(axes).astype(str)
    ex = coordinate_error(x_hat, x, periodic=periodic, image_size=image_size)
    ey = coordinate_error(y_hat, y, periodic=periodic, image_size=image_size)
    with np.errstate(invalid="ignore"):
        ok_x = (ex <= tolerance) | (np.char.find(axes, "x") < 0)
        ok_y = (ey <= tolerance) | (np.char.find(axes, "y") < 0)
    one = np.asarray(n_bumps) == 1
    correct = one & ok_x & ok_y
    phase = np.where(~one, "A", np.where(correct, "C", "B")).astype(object)
    return correct, phase


def locate_samples(images, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0), threshold: float = 0.5,
                   min_peak: float = 0.25) -> dict[str, np.ndarray]:
    """Locate images (C, K, N, N) generated at ``conditions`` (dim ``condition``): x_hat, y_hat, n_bumps (C, K).

    For 1D stripe conditions ``n_bumps`` is the number of stripes along the
    carried axis (see :func:`scored_axes`).
    """
    imgs = np.asarray(images)
    C, K = imgs.shape[:2]
    fam = np.repeat(_strings(conditions["family"].values), K)
    loc = localize(imgs.reshape(C * K, image_size, image_size), fam, sigma=sigma, threshold=threshold,
                   min_peak=min_peak)
    n = loc["n_bumps"].values.copy()
    axes = np.repeat(scored_axes(conditions["x"].values, conditions["y"].values, conditions["family"].values,
                                 image_size), K)
    if "n_stripes_x" in loc:
        n = np.where(axes == "x", loc["n_stripes_x"].values, n)
        n = np.where(axes == "y", loc["n_stripes_y"].values, n)
    return {"x_hat": loc["x_hat"].values.reshape(C, K), "y_hat": loc["y_hat"].values.reshape(C, K),
            "n_bumps": n.reshape(C, K)}


def aggregate(ds: xr.Dataset) -> xr.Dataset:
    """Add the accuracy and phase aggregates to per-sample scores (``correct``, ``phase`` over condition, sample)."""
    ds = ds.copy()
    correct = ds["correct"].astype(np.float64)
    in_train = ds["in_train"].values.astype(bool)
    regions = _strings(ds["region"].values)

    def mean_over(sel: np.ndarray) -> xr.DataArray:
        if not sel.any():
            return xr.full_like(correct.isel(condition=0, sample=0, drop=True), np.nan)
        return correct.isel(condition=np.flatnonzero(sel)).mean(("condition", "sample"))

    attrs = {"units": "1", "tolerance_px": ds.attrs.get("tolerance_px", np.nan)}
    ds["accuracy"] = correct.mean(("condition", "sample")).assign_attrs(
        long_name="generation accuracy, all evaluated conditions", **attrs)
    ds["accuracy_id"] = mean_over(in_train).assign_attrs(
        long_name="generation accuracy, in-distribution (conditions in the training set)", **attrs)
    ds["accuracy_ood"] = mean_over(~in_train).assign_attrs(
        long_name="generation accuracy, out-of-distribution (held-out conditions); NaN when none", **attrs)
    names = sorted(set(regions.tolist()))
    ds["accuracy_region"] = xr.concat([mean_over(regions == r) for r in names], dim="region_name").assign_coords(
        region_name=np.array(names, dtype=object)).assign_attrs(long_name="generation accuracy per named region",
                                                                **attrs)
    if "checkpoint" in ds["accuracy_region"].dims:
        ds["accuracy_region"] = ds["accuracy_region"].transpose("checkpoint", "region_name")
    ds["accuracy_condition"] = correct.mean("sample").assign_attrs(
        long_name="generation accuracy per condition (fraction of its samples)", **attrs)
    phase = ds["phase"].copy(data=_strings(ds["phase"].values))
    ds["phase_fraction"] = xr.concat(
        [(phase == p).mean(("condition", "sample")) for p in PHASES], dim="phase_name"
    ).assign_coords(phase_name=np.array(PHASES, dtype=object)).assign_attrs(
        long_name="fraction of samples in each learning phase", units="1",
        description="; ".join(f"{k}: {v}" for k, v in PHASE_MEANINGS.items()))
    if "checkpoint" in ds["phase_fraction"].dims:
        ds["phase_fraction"] = ds["phase_fraction"].transpose("checkpoint", "phase_name")
    return ds


# -- evaluating models and runs ---------------------------------------------

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
        cond = cond.assign_coords({name: ("condition", _strings(cond[name].values), cond[name].attrs)})
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
                   progress: bool = True) -> xr.Dataset:
    """Sample, locate and score one model at ``conditions`` (dim ``condition`` with x, y, family).

    Returns per-sample variables over (condition, sample): x_hat, y_hat,
    n_bumps, correct, phase (and image with ``keep_images``), without aggregates
    (see :func:`aggregate`).
    """
    C = conditions.sizes["condition"]
    K = int(samples_per_condition)
    if K < 1:
        raise ManifoldLensError(f"--samples-per-condition {K}: must be >= 1")
    xy = np.stack([conditions["x"].values, conditions["y"].values], axis=1).astype(np.float32)
    cond = np.repeat(xy, K, axis=0)  # condition-major: c0 s0, c0 s1, ...
    images = sample(model, schedule, cond, image_size=image_size, sampler=sampler, steps=steps, eta=eta,
                    generator=torch.Generator().manual_seed(int(seed)), batch_size=batch_size, device=device,
                    progress=progress)
    imgs = images.numpy().reshape(C, K, image_size, image_size)
    loc = locate_samples(imgs, conditions, image_size=image_size, sigma=sigma, threshold=threshold,
                         min_peak=min_peak)
    family = _strings(conditions["family"].values)
    axes = scored_axes(conditions["x"].values, conditions["y"].values, family, image_size)
    correct, phase = score(loc["x_hat"], loc["y_hat"], loc["n_bumps"], xy[:, :1], xy[:, 1:], axes=axes[:, None],
                           tolerance=tolerance, periodic=(family == "periodic")[:, None], image_size=image_size)
    cs = ("condition", "sample")
    ds = xr.Dataset(
        {
            "x_hat": (cs, loc["x_hat"], {"long_name": "estimated centre x (column) of the generated image",
                                         "units": "px"}),
            "y_hat": (cs, loc["y_hat"], {"long_name": "estimated centre y (row) of the generated image",
                                         "units": "px"}),
            "n_bumps": (cs, loc["n_bumps"].astype(np.int32),
                        {"long_name": "number of bumps in the generated image",
                         "description": "SOS: stripe crossings; 1D stripe conditions: stripes along the carried axis"}),
            "correct": (cs, correct, {"long_name": "exactly one bump and scored coordinates within tolerance",
                                      "tolerance_px": float(tolerance)}),
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


def choose_checkpoints(checkpoints, available: list[int], where: str) -> list[int]:
    """Steps to evaluate from "last", "all", "STEP,STEP", an int or a list; one-line error if not committed."""
    if not available:
        raise ManifoldLensError(f"{where}: has no committed checkpoint yet; train it first (manifold-lens train)")
    if isinstance(checkpoints, str):
        spec = checkpoints.strip().lower()
        if spec == "last":
            return [available[-1]]
        if spec == "all":
            return list(available)
        try:
            checkpoints = [int(s) for s in spec.split(",") if s.strip()]
        except ValueError:
            raise ManifoldLensError(
                f"--checkpoints {checkpoints!r}: use all, last or a comma-separated list of steps, e.g. 0,500"
            ) from None
    if isinstance(checkpoints, (int, np.integer)):
        checkpoints = [int(checkpoints)]
    wanted = [int(s) for s in checkpoints]
    if not wanted:
        raise ManifoldLensError("--checkpoints: empty list; use all, last or steps such as 0,500")
    missing = [s for s in wanted if s not in available]
    if missing:
        shown = ", ".join(map(str, available)) if len(available) <= 30 else (
            ", ".join(map(str, available[:10])) + ", ..., " + ", ".join(map(str, available[-10:])))
        raise ManifoldLensError(f"--checkpoints: no committed checkpoint at step {missing[0]} in {where}; "
                                f"available steps: {shown}")
    return sorted(set(wanted))


def check_settings(run, checkpoints="last", sampler: str = "ddim", steps: int | None = 50,
                   tolerance: float = 1.0, samples_per_condition: int = 4) -> tuple[int, list[int]]:
    """Validate evaluation settings against a run before any work: (sampler steps, checkpoint steps)."""
    if sampler not in SAMPLERS:
        raise ManifoldLensError(f"--sampler {sampler!r}: must be one of {', '.join(SAMPLERS)}")
    T = run.config.diffusion.timesteps
    if sampler == "ddim":
        steps = check_steps(50 if steps is None else steps, T)
    else:
        if steps is not None and int(steps) != T:
            raise ManifoldLensError(
                f"--steps {steps}: the ddpm sampler always takes all T = {T} steps; use --sampler ddim for fewer")
        steps = T
    if not tolerance > 0:
        raise ManifoldLensError(f"--tolerance {tolerance}: must be > 0 px")
    if int(samples_per_condition) < 1:
        raise ManifoldLensError(f"--samples-per-condition {samples_per_condition}: must be >= 1")
    return steps, choose_checkpoints(checkpoints, run.steps, str(run.path))


def evaluation_name(sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
                    samples_per_condition: int = 4, conditions: str = "all", tolerance: float = 1.0,
                    seed: int = 0, timesteps: int = 1000) -> str:
    """Default results name from the settings, e.g. "ddim50", "ddpm1000_k16_heldout", "ddim20_eta1"."""
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
    if seed != 0:
        name += f"_seed{seed}"
    return name


def evaluate_run(run, checkpoints="last", *, sampler: str = "ddim", steps: int | None = 50, eta: float = 0.0,
                 samples_per_condition: int = 4, conditions: str = "all", tolerance: float = 1.0, seed: int = 0,
                 keep_images: bool = False, device="auto", batch_size: int = 512, threshold: float = 0.5,
                 min_peak: float = 0.25, progress: bool = True) -> xr.Dataset:
    """Generation accuracy of a run's checkpoints (see the module docstring).

    Args:
        run: a :class:`~manifold_lens.runstore.Run` or the path of a run store.
        checkpoints: "last", "all", a step or a list of steps (committed ones).
        sampler, steps, eta: "ddim" (``steps`` <= T, default 50) or "ddpm" (all T steps).
        samples_per_condition: generated images per condition (dim ``sample``).
        conditions: "all", "train" or "heldout" candidate conditions.
        tolerance: px within which each scored coordinate must fall.
        seed: seed of the sampling noise (identical at every checkpoint).
        keep_images: also return the generated images (variable ``image``).
        device: "auto", "cpu", "cuda", ...; batch_size: images per forward pass.
        threshold, min_peak: localizer settings (:func:`manifold_lens.localize.localize`).

    Checkpoints are loaded (EMA weights when the run has them) and evaluated
    one at a time, so memory does not grow with their number.
    """
    from .runstore import Run, open_run

    if not isinstance(run, Run):
        run = open_run(run)
    steps, chosen = check_settings(run, checkpoints, sampler, steps, tolerance, samples_per_condition)
    schedule = run.schedule
    cond = select_conditions(run.conditions, conditions)
    dev = resolve_device(device)
    cfg = run.config.resolved()
    n, sigma = cfg.data.image_size, (float(cfg.data.sigma_x), float(cfg.data.sigma_y))
    parts = []
    for step in tqdm(chosen, desc="checkpoints", disable=not progress or len(chosen) == 1, unit="ckpt"):
        model = run.load_model(step, device=dev)
        part = evaluate_model(model, schedule, cond, image_size=n, sigma=sigma, sampler=sampler, steps=steps,
                              eta=eta, samples_per_condition=samples_per_condition, tolerance=tolerance, seed=seed,
                              batch_size=batch_size, device=dev, keep_images=keep_images, threshold=threshold,
                              min_peak=min_peak, progress=progress)
        parts.append(part.expand_dims(checkpoint=[int(step)]))
        del model  # freed by reference counting: one model in memory at a time
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    ds = xr.concat(parts, dim="checkpoint", data_vars="all", coords="minimal", compat="override", join="exact")
    for name in ("x_hat", "y_hat", "n_bumps", "correct", "phase"):
        ds[name] = ds[name].transpose("checkpoint", "condition", "sample")
    ds["checkpoint"].attrs.update({"long_name": "training step of the checkpoint", "units": "optimiser steps"})
    settings = {
        "sampler": sampler,
        "sampler_steps": int(steps),
        "eta": float(eta) if sampler == "ddim" else 1.0,
        "tolerance_px": float(tolerance),
        "seed": int(seed),
        "samples_per_condition": int(samples_per_condition),
        "ema": bool(run.has_ema),
    }
    ds.attrs.update({
        **settings,
        "conditions": conditions,
        "clip_x0": "true",
        "localizer": {"threshold": threshold, "min_peak": min_peak, "sigma_x": sigma[0], "sigma_y": sigma[1],
                      "method": "known-width Gaussian fit"},
        "source_run": str(Path(run.path).resolve()),
        "config": cfg.to_dict(),  # dict attrs are stored as JSON by results.write_results
        "versions": package_versions(),
        "description": "generation accuracy: samples located and scored per condition, aggregated per checkpoint",
    })
    ds = aggregate(ds)
    for name in ("accuracy", "accuracy_id", "accuracy_ood", "accuracy_region", "accuracy_condition"):
        ds[name].attrs.update({k: v for k, v in settings.items()})
    return ds


def write_evaluation(path, ds: xr.Dataset, name: str | None = None, *, replace: bool = False) -> str:
    """Write evaluation results into a results store as ``evaluation/<name>`` (default name from the settings)."""
    from .results import write_results

    name = name or evaluation_name(ds.attrs["sampler"], ds.attrs["sampler_steps"], ds.attrs["eta"],
                                   ds.attrs["samples_per_condition"], ds.attrs["conditions"],
                                   ds.attrs["tolerance_px"], ds.attrs["seed"], ds.attrs["sampler_steps"])
    return write_results(path, "evaluation", name, ds, replace=replace)


def summary_lines(ds: xr.Dataset) -> list[str]:
    """Short human summary: accuracy (overall, ID, OOD) and phases per checkpoint, regions at the last one."""

    def pct(v) -> str:
        v = float(v)
        return "n/a" if np.isnan(v) else f"{100 * v:.1f}%"

    lines = [f"{ds.attrs.get('sampler')}-{ds.attrs.get('sampler_steps')}, "
             f"{ds.attrs.get('samples_per_condition')} samples x {ds.sizes['condition']} conditions, "
             f"tolerance {ds.attrs.get('tolerance_px')} px, {'EMA' if ds.attrs.get('ema') else 'raw'} weights",
             f"  {'step':>8s} {'accuracy':>9s} {'ID':>7s} {'OOD':>7s}   phases A / B / C"]
    for step in ds["checkpoint"].values:
        d = ds.sel(checkpoint=step)
        ph = " / ".join(pct(d["phase_fraction"].sel(phase_name=p)) for p in PHASES)
        lines.append(f"  {int(step):8d} {pct(d['accuracy']):>9s} {pct(d['accuracy_id']):>7s} "
                     f"{pct(d['accuracy_ood']):>7s}   {ph}")
    last = ds.isel(checkpoint=-1)
    regions = ", ".join(f"{r} {pct(last['accuracy_region'].sel(region_name=r))}" for r in last["region_name"].values)
    lines.append(f"  by region at step {int(last['checkpoint'])}: {regions}")
    return lines
