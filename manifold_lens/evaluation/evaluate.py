"""Generation accuracy of a run (docs/science.md, section 3): sample at conditions, locate, score.

For every checkpoint of a run (one model in memory at a time), generate
``samples_per_condition`` images at each selected condition (x, y), locate the
bump or stripes (:mod:`~manifold_lens.evaluation.localize`) and score each
sample (:mod:`~manifold_lens.evaluation.scoring`: correct, learning phase
A/B/C, and the accuracy aggregates per checkpoint).

The initial noise is the same at every checkpoint (one seed), so differences
between checkpoints are not sampling noise of the generator. Settings are
checked once, before any sampling
(:meth:`EvaluationSettings.check <manifold_lens.evaluation.settings.EvaluationSettings.check>`). With a results
store, each checkpoint is committed to it as soon as it is scored, so a
killed evaluation keeps what it committed and the same command run again
continues from there.

Beside the model, each evaluation scores the reference generators of
``baselines`` (default: ``nearest``, the memorising generator of
:mod:`~manifold_lens.evaluation.baselines`) once, with the same scorer, and
stores their accuracies as ``baseline_nearest_accuracy``, ``..._id``,
``..._ood``, ``..._region`` (no ``checkpoint`` dim: they do not depend on the
model); ``baselines=()`` leaves them out.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..coords import coord_attrs
from ..devices import resolve_device
from ..diffusion import run_sampler
from ..errors import ManifoldLensError, StoreError
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
from .baselines import baseline_variables
from .scoring import PHASE_MEANINGS, aggregate, locate_samples, score, scored_axes
from .settings import CONDITION_SETS, RECORDED, EvaluationSettings, evaluation_name, renamed_keywords
from .shims import check_settings, evaluation_settings

__all__ = ["CONDITION_SETS", "RECORDED", "EvaluationSettings", "evaluation_name", "evaluation_settings",
           "check_settings", "select_conditions", "evaluate_model", "score_model", "evaluate_run",
           "baseline_variables"]

_DEFAULT = EvaluationSettings.default


def select_conditions(conditions: xr.Dataset, which: str = "all") -> xr.Dataset:
    """The candidate conditions to evaluate: all, train (in the training set) or heldout (the others).

    Adds an integer ``condition`` coordinate: the index into the run's candidate lattice.
    """
    if which not in CONDITION_SETS:
        raise ManifoldLensError(f"conditions = {which!r}: must be one of {', '.join(CONDITION_SETS)}")
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
        raise ManifoldLensError(f"conditions = {which!r}: this run has no such conditions; use conditions='all'")
    return cond


def evaluate_model(model, schedule, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0),
                   settings: EvaluationSettings | None = None, device=None, progress: bool = True,
                   **options) -> xr.Dataset:
    """Sample, locate and score one model at ``conditions`` (dim ``condition`` with x, y, family).

    ``settings`` (default :class:`EvaluationSettings`) with single ones
    overridden by ``options`` (e.g. ``steps=10, keep_images=True``;
    ``threshold`` is the deprecated name of ``peak_fraction``), checked
    against ``schedule``. ``device`` None runs where the model is.

    Returns per-sample variables over (condition, sample): x_hat, y_hat,
    width_x_hat, width_y_hat, width_ok, n_bumps, correct, phase (and image
    with ``keep_images``), without aggregates (see
    :func:`~manifold_lens.evaluation.scoring.aggregate`).
    """
    settings = (settings or EvaluationSettings()).replace(**renamed_keywords(options)).check(
        timesteps=schedule)
    return score_model(model, schedule, conditions, settings, image_size=image_size, sigma=sigma,
                       device=resolve_device(device) if device is not None else None,
                       keep_images=settings.keep_images, progress=progress)


def score_model(model, schedule, conditions: xr.Dataset, settings: EvaluationSettings, *, image_size: int,
                sigma=(1.0, 1.0), device=None, keep_images: bool = False, progress: bool = True) -> xr.Dataset:
    """:func:`evaluate_model` on checked settings."""
    C = conditions.sizes["condition"]
    K = settings.samples_per_condition
    tolerance = settings.tolerance
    xy = np.stack([conditions["x"].values, conditions["y"].values], axis=1).astype(np.float32)
    cond = np.repeat(xy, K, axis=0)  # condition-major: c0 s0, c0 s1, ...
    images = run_sampler(model, schedule, cond, settings.plan, image_size=image_size,
                         generator=torch.Generator().manual_seed(settings.seed), batch_size=settings.batch_size,
                         device=device, progress=progress)
    imgs = images.numpy().reshape(C, K, image_size, image_size)
    loc = locate_samples(imgs, conditions, image_size=image_size, sigma=sigma, settings=settings)
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


def _checkpoint_results(run, step: int, cond: xr.Dataset, settings: EvaluationSettings, attrs: dict, *,
                        device, keep_images: bool, progress: bool, baselines: xr.Dataset | None = None) -> xr.Dataset:
    """Sample, locate, score and aggregate one checkpoint: the results of ``step`` along dim ``checkpoint``, with
    the ``baselines`` variables (scored once per evaluation) beside them."""
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
    ds["checkpoint"].attrs.update(coord_attrs("checkpoint"))
    ds.attrs.update(attrs)
    ds = aggregate(ds)
    recorded = {k: attrs[k] for k in RECORDED}
    for var in ("accuracy", "accuracy_id", "accuracy_ood", "accuracy_region", "accuracy_condition"):
        ds[var].attrs.update(recorded)
    if baselines is not None and baselines.data_vars:
        for var, value in baselines.data_vars.items():
            ds[var] = value.assign_attrs({k: v for k, v in recorded.items() if k in ("tolerance_px",
                                                                                    "max_width_ratio",
                                                                                    "second_bump_threshold")})
    return ds


def _open_stream(same: dict, log, **where):
    """The results stream, continuing an unfinished group written before baselines existed without them.

    Returns (stream, whether the baselines are kept).
    """
    try:
        return open_stream(same, log=log, **where), True
    except StoreError as first:
        if "baselines" not in same:
            raise
        try:
            stream = open_stream({k: v for k, v in same.items() if k != "baselines"}, log=log, **where)
        except StoreError:
            raise first from None
        (log or (lambda line: print(line, file=sys.stderr)))(
            "the unfinished group was written without baselines: continued without them (replace=True adds them)")
        return stream, False




def evaluate_run(run, *args, out=None, name: str | None = None, replace: bool = False,
                 checkpoints=_DEFAULT("checkpoints"), sampler: str = _DEFAULT("sampler"),
                 steps: int | None = _DEFAULT("steps"), eta: float = _DEFAULT("eta"),
                 samples_per_condition: int = _DEFAULT("samples_per_condition"),
                 conditions: str = _DEFAULT("conditions"), tolerance: float = _DEFAULT("tolerance"),
                 seed: int = _DEFAULT("seed"), keep_images: bool = _DEFAULT("keep_images"),
                 device: str = _DEFAULT("device"), batch_size: int = _DEFAULT("batch_size"),
                 peak_fraction: float = _DEFAULT("peak_fraction"), min_peak: float = _DEFAULT("min_peak"),
                 second_bump_threshold: float = _DEFAULT("second_bump_threshold"),
                 max_width_ratio: float = _DEFAULT("max_width_ratio"), baselines=_DEFAULT("baselines"),
                 threshold: float | None = None, progress: bool = True, log=None) -> xr.Dataset:
    """Generation accuracy of a run's checkpoints (see the module docstring).

    Args:
        run: a :class:`~manifold_lens.stores.Run` or the path of a run store.
        out, name, replace: also write the results to results store ``out`` as
            ``evaluation/<name>`` (default name from the settings,
            :func:`evaluation_name`), one checkpoint at a time, holding the
            store's lock. An existing complete group is refused, before any
            sampling, unless ``replace``; an unfinished one written with the
            same settings is continued from its last committed checkpoint.
        checkpoints: "last", "all", a step or a list of steps (committed ones);
            passing it positionally after ``run`` is deprecated.
        baselines: reference generators scored once beside the model
            (default ``("nearest",)``; ``()`` for none), see
            :mod:`~manifold_lens.evaluation.baselines`. An unfinished group
            written without them is continued without them.
        progress: show progress bars; log: called with the line saying an
            unfinished group is continued (default: printed to stderr).

    The other parameters are :class:`EvaluationSettings` (their defaults,
    units and checks; ``EvaluationSettings.help(name)`` says what each
    means); ``threshold`` is the deprecated name of ``peak_fraction``.
    Checkpoints are loaded (EMA weights when the run has them) and evaluated
    one at a time, so memory does not grow with their number. With ``out`` the
    returned Dataset is the group as stored (every committed checkpoint).
    """
    if args:
        if len(args) > 1:
            raise TypeError(f"evaluate_run() takes 1 positional argument (run) but {1 + len(args)} were given")
        warnings.warn("evaluate_run(run, checkpoints): pass checkpoints= by keyword (positional is deprecated)",
                      DeprecationWarning, stacklevel=2)
        checkpoints = args[0]
    run = run if isinstance(run, Run) else open_run(run)
    values = renamed_keywords({"peak_fraction": peak_fraction, "threshold": threshold})
    settings = EvaluationSettings(
        checkpoints=checkpoints, sampler=sampler, steps=steps, eta=eta, samples_per_condition=samples_per_condition,
        conditions=conditions, tolerance=tolerance, seed=seed, batch_size=batch_size, keep_images=keep_images,
        device="auto" if device is None else str(device), min_peak=min_peak,
        second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio, baselines=baselines,
        **values).check(timesteps=run.config.diffusion)
    chosen = run.select_checkpoints(settings.checkpoints)
    cond = select_conditions(run.conditions, settings.conditions)
    dev = resolve_device(device)
    if out is not None:
        if Path(out).resolve() == run.path:
            raise ManifoldLensError(f"out = {out}: that is the run store itself; give a results store path, "
                                    "e.g. out='results.zarr'")
        name = check_result_name(name or settings.name())
    cfg = run.config.resolved()
    sigma = (float(cfg.data.sigma_x), float(cfg.data.sigma_y))
    attrs = {
        **settings.attrs(),
        "ema": bool(run.has_ema),
        "localizer": settings.localizer(sigma),
        "source_run": str(Path(run.path).resolve()),
        "config": cfg.to_dict(),  # dict attrs are stored as JSON by the results store
        "versions": package_versions(),
        "description": "generation accuracy: samples located and scored per condition, aggregated per checkpoint",
        "baselines": list(settings.baselines),
    }
    kw = {"device": dev, "keep_images": settings.keep_images, "progress": progress}
    base = baseline_variables(run.conditions, cond, image_size=cfg.data.image_size, sigma=sigma, settings=settings)
    bar = {"desc": "checkpoints", "disable": not progress or len(chosen) == 1, "unit": "ckpt"}
    if out is None:
        parts = [_checkpoint_results(run, step, cond, settings, attrs, baselines=base, **kw)
                 for step in tqdm(chosen, **bar)]
        return xr.concat(parts, dim="checkpoint", data_vars="minimal", coords="minimal", compat="override",
                         join="exact", combine_attrs="override")
    attrs["name"] = name
    # what determines the values: a rerun continues an unfinished group only when these are the same
    same = settings.resume_key(checkpoints=chosen, sigma=sigma, ema=run.has_ema, source_run=attrs["source_run"])
    with store_lock(out):
        stream, kept = _open_stream(same, log, out=out, kind="evaluation", name=name, planned=len(chosen),
                                    replace=replace)
        if not kept:
            base, attrs["baselines"] = None, []
        for step in tqdm(chosen[stream.committed:], **bar):
            append_results(stream, _checkpoint_results(run, step, cond, settings, attrs, baselines=base, **kw))
    return read_group(out, "evaluation", name)
