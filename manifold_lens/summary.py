"""Summaries of results: the lines the command line prints after each command, and the same as data.

One function per kind of result, all here so that what a user reads is
worded the same way everywhere: :func:`evaluation_lines`,
:func:`analysis_lines`, :func:`percolation_lines`, :func:`comparison_lines`,
:func:`percolation_test_lines`, :func:`design_lines`, :func:`report_lines`,
:func:`run_lines`, :func:`layer_lines`. Their ``*_summary`` twins return the
same numbers as plain dicts (what ``--json`` prints; NaN where a number is
undetermined, which the CLI writes as null).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .analysis.references import learned
from .evaluation import PHASES


def _pct(v) -> str:
    v = float(v)
    return "n/a" if np.isnan(v) else f"{100 * v:.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def run_lines(run) -> list[str]:
    """A trained run: its checkpoints and final loss."""
    loss = run.loss.loss.values
    last = f", final loss {loss[-50:].mean():.4f} (mean of last 50 steps)" if len(loss) else ""
    upto = f" up to step {run.steps[-1]}" if run.steps else ""
    return [f"wrote {run.path}: {_plural(len(run.steps), 'checkpoint')}{upto}{last}"]


def evaluation_lines(ds: xr.Dataset) -> list[str]:
    """Accuracy (overall, ID, OOD) and phases per checkpoint, regions at the last one."""
    lines = [(f"{ds.attrs.get('sampler')}-{ds.attrs.get('sampler_steps')}, "
             f"{ds.attrs.get('samples_per_condition')} samples x {ds.sizes['condition']} conditions, "
             f"tolerance {ds.attrs.get('tolerance_px')} px, {'EMA' if ds.attrs.get('ema') else 'raw'} weights"),
             f"  {'step':>8s} {'accuracy':>9s} {'ID':>7s} {'OOD':>7s}   phases A / B / C"]
    for step in ds["checkpoint"].values:
        d = ds.sel(checkpoint=step)
        ph = " / ".join(_pct(d["phase_fraction"].sel(phase_name=p)) for p in PHASES)
        lines.append(f"  {int(step):8d} {_pct(d['accuracy']):>9s} {_pct(d['accuracy_id']):>7s} "
                     f"{_pct(d['accuracy_ood']):>7s}   {ph}")
    last = ds.isel(checkpoint=-1)
    regions = ", ".join(f"{r} {_pct(last['accuracy_region'].sel(region_name=r))}" for r in last["region_name"].values)
    lines.append(f"  by region at step {int(last['checkpoint'])}: {regions}")
    if "baseline_nearest_accuracy_region" in ds:  # the memorising baseline (evaluation/baselines.py)
        b = ds["baseline_nearest_accuracy_region"]
        lines.append(f"  nearest training condition (memorising): ID {_pct(ds['baseline_nearest_accuracy_id'])}, "
                     f"OOD {_pct(ds['baseline_nearest_accuracy_ood'])}; by region: "
                     + ", ".join(f"{r} {_pct(b.sel(region_name=r))}" for r in b["region_name"].values))
    return lines


def analysis_lines(ds: xr.Dataset, variables=("effective_dim", "factorization_score", "continuity_index")) -> list[str]:
    """The size of an analysis and its headline metrics at the first and last checkpoint, then the references'
    at the last checkpoint (same grid, layer and timestep)."""
    counts = " x ".join(_plural(ds.sizes[d], d) for d in ("checkpoint", "timestep", "layer"))
    lines = [f"  {counts}, {ds.sizes.get('condition', 0)} conditions"]
    present = [v for v in variables if v in ds]
    several = ds.sizes["checkpoint"] > 1
    for t in ds["timestep"].values:
        for layer in ds["layer"].values:
            sel = ds[present].sel(timestep=t, layer=layer)
            first, last = learned(sel.isel(checkpoint=0)), learned(sel.isel(checkpoint=-1))
            vals = ", ".join(f"{v} {float(first[v]):.3g}" + (f" -> {float(last[v]):.3g}" if several else "")
                             for v in present)
            lines.append(f"  {layer} @ t={int(t)}: {vals}")
            if "reference" in sel.dims:
                end = sel.isel(checkpoint=-1)
                for r in [str(r) for r in end["reference"].values if str(r) != "learned"]:
                    lines.append(f"    {r:>9}: " + ", ".join(f"{v} {float(end[v].sel(reference=r)):.3g}"
                                                            for v in present))
    return lines


def percolation_lines(ds: xr.Dataset) -> list[str]:
    """Lattice percolation: the setting, then each sigma's neighbourhood and threshold."""
    a = ds.attrs
    lattice = a.get("lattice", ["?", "?"])
    lines = [(f"  {ds.sizes['sigma']} sigma x {ds.sizes['keep_fraction']} keep fractions x {a.get('trials')} trials "
             f"on a {lattice[0]} x {lattice[1]} lattice{' (periodic)' if int(a.get('periodic', 0)) else ''}, "
             f"threshold {a.get('threshold'):g}, {a.get('overlap', a.get('method'))}")]
    for s in ds.sigma.values:
        row = ds.sel(sigma=s)
        if bool(row.isolated):
            lines.append(f"  sigma = {s:g} px: no neighbours at threshold {a.get('threshold'):g}: sites are "
                         "isolated, no percolation at any keep fraction")
        else:
            lines.append(f"  sigma = {s:g} px: {int(row.neighbour_count)} neighbours, "
                         f"lambda_c = {float(row.lambda_c):.4f} +- {float(row.lambda_c_stderr):.4f}")
    return lines + ([a["lattice_note"]] if a.get("lattice_note") else [])


def comparison_lines(ds: xr.Dataset) -> list[str]:
    """Predicted vs measured onsets per sigma."""
    lines = [f"  {ds.sizes['run']} runs, {ds.sizes['sigma']} sigma",
             f"  {'sigma':>6s}  {'runs':>4s}  {'predicted lambda_c':>20s}  {'measured lambda_c':>20s}  fit"]
    for s in ds.sigma.values:
        r = ds.sel(sigma=s)
        pred = f"{float(r.lambda_c_predicted):.3f} +- {float(r.lambda_c_predicted_stderr):.3f}"
        meas = f"{float(r.lambda_c_measured):.3f} +- {float(r.lambda_c_measured_stderr):.3f}"
        lines.append(f"  {s:6g}  {int(r.n_runs):4d}  {pred:>20s}  {meas:>20s}  {r.fit_status.values!s}")
    return lines


def _onset(value, interval) -> str:
    v, (lo, hi) = float(value), (float(b) for b in interval)
    return "n/a" if np.isnan(v) else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"


def percolation_test_lines(ds: xr.Dataset) -> list[str]:
    """The percolation test: per width predicted and measured onsets with 95% intervals, the regression across
    widths, the collapse check and the verdict (numbers only where they mean something)."""
    a = ds.attrs
    dropped = int(a.get("dropped_runs", 0))
    lines = [f"  {a.get('outcome')} of {ds.sizes['run']} runs" + (f" ({dropped} dropped)" if dropped else "")
             + f", {ds.sizes['sigma']} widths; {a.get('overlap')} overlaps >= {a.get('threshold'):g}; "
             f"{a.get('n_boot')} bootstrap resamples (seed {a.get('seed')})",
             f"  {'sigma':>6s}  {'runs':>4s}  {'keep':>4s}  {'predicted lambda_c [95%]':>26s}  "
             f"{'measured lambda_c [95%]':>26s}  status"]
    for k, s in enumerate(ds["sigma"].values):
        r = ds.isel(sigma=k)
        lines.append(f"  {s:6g}  {int(r.n_runs):4d}  {int(r.n_keep_fractions):4d}  "
                     f"{_onset(r.lambda_c_predicted, r.lambda_c_predicted_interval.values):>26s}  "
                     f"{_onset(r.lambda_c_measured, r.lambda_c_measured_interval.values):>26s}  {r.status.values!s}")
    if a.get("verdict") == "insufficient" or not np.isfinite(float(ds["slope"])):
        lines.append("  measured on predicted lambda_c: not determined")
    else:
        si, ii = ds["slope_interval"].values, ds["intercept_interval"].values
        lines.append(f"  measured on predicted lambda_c (errors in both): slope {float(ds['slope']):.2f} "
                     f"[{si[0]:.2f}, {si[1]:.2f}] (1 if they agree), intercept {float(ds['intercept']):.3f} "
                     f"[{ii[0]:.3f}, {ii[1]:.3f}] (0 if they agree)")
    col = str(ds["collapse"].values)
    if col == "undetermined":
        lines.append("  collapse onto one curve of predicted cluster size: undetermined")
    else:
        lines.append(f"  collapse onto one curve of predicted cluster size: {col} (cross-validated log-likelihood "
                     f"per run {float(ds['collapse_loglik_single']):.3f}, separate curves in lambda "
                     f"{float(ds['collapse_loglik_separate']):.3f})")
    lines.append(f"verdict: {a.get('verdict')}: {a.get('reason')}")
    return lines


def design_lines(ds: xr.Dataset) -> list[str]:
    """A percolation design: per width the predicted onset and its keep fractions, then the widths as study cases
    (TOML, each with its own keep-fraction grid) ready to paste into a study file."""
    a = ds.attrs
    lines = [f"  {a['lattice'][0]} x {a['lattice'][1]} lattice ({a['image_size']} px frame, spacing {a['spacing']:g} "
             f"px), {a['overlap']} overlaps >= {a['threshold']:g}, {a['trials']} Newman-Ziff passes; onset = sigmoid "
             f"midpoint of the largest-cluster ratio over keep fractions >= {a['min_keep_fraction']:g}"]
    cases = []
    for k, s in enumerate(ds["sigma"].values):
        r = ds.isel(sigma=k)
        lam = ", ".join(f"{float(v):g}" for v in r.keep_fractions.values if np.isfinite(v))
        lc = float(r.lambda_c_predicted)
        lines.append(f"  sigma = {s:g} px: {int(r.neighbour_count)} neighbours, "
                     + (f"predicted lambda_c = {lc:.3f} (sigmoid width {float(r.onset_width):.3f}); keep fractions "
                        f"{lam}" if np.isfinite(lc) else "no predicted onset"))
        if str(r.warning.values):
            lines.append(f"    warning: {r.warning.values!s}")
        if lam:
            cases += ["[[study.cases]]", f'name = "sigma-{s:g}"', f'set = {{ "data.sigma" = {s:g} }}',
                      f'grid = {{ "data.keep_fraction" = [{lam}] }}']
    if cases:
        lines += ["study cases (paste into the study file; vary data.seed as well as train.seed, e.g. "
                  '[study.grid] "data.seed" = [0, 1, 2], so that runs at one keep fraction train on different '
                  "subsets and the prediction can be bootstrapped over them):",
                  f'# [study.set] "data.image_size" = {a["image_size"]}' + (
                      f', "data.spacing" = {a["spacing"]:g}' if a["spacing"] != 1 else ""), *cases]
    return lines


def report_lines(report) -> list[str]:
    """Unfinished and left-out results, each skipped figure with its reason, the key numbers, where the page is."""
    lines = [f"  {where}: {status} (not final; rerun the same command to finish it)"
             for where, status in report.unfinished.items()]
    lines += [f"  left out {where}: {why}" for where, why in report.skipped_results.items()]
    lines += [f"  skipped {f.title}: {f.skipped}" for f in report.skipped]
    lines += [f"  {k.quantity}: {k.value}" + (f" [{k.references}]" if k.references else "") + f"  ({k.source})"
              for k in report.key_numbers]
    lines.append(f"wrote {len(report.rendered)} figures (PNG and PDF) to {report.out}; "
                 f"{len(report.skipped)} skipped")
    lines.append(f"open {report.index}")
    return lines


def layer_lines(infos, aliases: dict[str, str], defaults) -> list[str]:
    """A table of hookable layers: name, module type, output shape, and which are aliases or defaults."""
    width = max(len(i.name) for i in infos)
    tw = max(len(i.module_type) for i in infos)
    named = {v: k for k, v in aliases.items()}
    lines = []
    for i in infos:
        shape = "not called" if i.output_shape is None else "(" + ", ".join(map(str, i.output_shape)) + ")"
        note = f" (alias {named[i.name]})" if i.name in named else (" (default)" if i.name in defaults else "")
        lines.append(f"{i.name:{width}s}  {i.module_type:{tw}s}  {shape}{note}")
    return lines


# -- the same summaries as data (--json) ------------------------------------------------

def _num(v):
    """A float or int from a 0-d value (NaN stays NaN)."""
    v = np.asarray(v).item()
    return v if isinstance(v, (bool, int, str)) else float(v)


def run_summary(run) -> dict:
    """A trained run: its path, checkpoint steps and final loss (mean of the last 50 logged steps)."""
    loss = run.loss.loss.values
    return {"path": str(run.path), "checkpoints": [int(s) for s in run.steps],
            "final_loss": float(loss[-50:].mean()) if len(loss) else None}


def evaluation_summary(ds: xr.Dataset) -> dict:
    """Sampler and tolerance, accuracy (overall, ID, OOD) and phase fractions per checkpoint, regions at the last."""
    a = ds.attrs
    rows = []
    for step in ds["checkpoint"].values:
        d = ds.sel(checkpoint=step)
        rows.append({"step": int(step), "accuracy": _num(d["accuracy"]), "accuracy_id": _num(d["accuracy_id"]),
                     "accuracy_ood": _num(d["accuracy_ood"]),
                     "phases": {p: _num(d["phase_fraction"].sel(phase_name=p)) for p in PHASES}})
    last = ds.isel(checkpoint=-1)
    return {"sampler": a.get("sampler"), "sampler_steps": a.get("sampler_steps"),
            "samples_per_condition": a.get("samples_per_condition"), "conditions": int(ds.sizes["condition"]),
            "tolerance_px": a.get("tolerance_px"), "ema": bool(a.get("ema")), "checkpoints": rows,
            "regions_at_last": {str(r): _num(last["accuracy_region"].sel(region_name=r))
                                for r in last["region_name"].values},
            **({"baseline_nearest": {"accuracy": _num(ds["baseline_nearest_accuracy"]),
                                     "accuracy_id": _num(ds["baseline_nearest_accuracy_id"]),
                                     "accuracy_ood": _num(ds["baseline_nearest_accuracy_ood"]),
                                     "regions": {str(r): _num(ds["baseline_nearest_accuracy_region"].sel(region_name=r))
                                                 for r in ds["region_name"].values}}}
               if "baseline_nearest_accuracy_region" in ds else {})}


def analysis_summary(ds: xr.Dataset, variables=("effective_dim", "factorization_score", "continuity_index")) -> dict:
    """Sizes, then per layer and timestep the headline metrics at the first and last checkpoint and the
    references' at the last (as :func:`analysis_lines`)."""
    present = [v for v in variables if v in ds]
    rows = []
    for t in ds["timestep"].values:
        for layer in ds["layer"].values:
            sel = ds[present].sel(timestep=t, layer=layer)
            first, last = learned(sel.isel(checkpoint=0)), learned(sel.isel(checkpoint=-1))
            row = {"layer": str(layer), "timestep": int(t), "first": {v: _num(first[v]) for v in present},
                   "last": {v: _num(last[v]) for v in present}}
            if "reference" in sel.dims:
                end = sel.isel(checkpoint=-1)
                row["references"] = {str(r): {v: _num(end[v].sel(reference=r)) for v in present}
                                     for r in end["reference"].values if str(r) != "learned"}
            rows.append(row)
    return {"checkpoints": [int(c) for c in ds["checkpoint"].values], "timesteps": int(ds.sizes["timestep"]),
            "layers": int(ds.sizes["layer"]), "conditions": int(ds.sizes.get("condition", 0)), "metrics": rows}


def percolation_summary(ds: xr.Dataset) -> dict:
    """Lattice percolation: the setting, then per sigma its neighbourhood and threshold lambda_c."""
    a = ds.attrs
    rows = [{"sigma": float(s), "isolated": bool(ds.sel(sigma=s).isolated),
             "neighbour_count": int(ds.sel(sigma=s).neighbour_count),
             "lambda_c": _num(ds.sel(sigma=s).lambda_c), "lambda_c_stderr": _num(ds.sel(sigma=s).lambda_c_stderr)}
            for s in ds.sigma.values]
    return {"lattice": a.get("lattice"), "periodic": bool(int(a.get("periodic", 0))), "trials": a.get("trials"),
            "threshold": a.get("threshold"), "method": a.get("method"),
            "keep_fractions": int(ds.sizes["keep_fraction"]), "sigma": rows, "note": a.get("lattice_note")}


def percolation_test_summary(ds: xr.Dataset) -> dict:
    """The percolation test as :func:`percolation_test_lines` prints it: per width the onsets with 95% intervals,
    the regression across widths, the collapse check and the verdict."""
    a = ds.attrs
    rows = []
    for k, s in enumerate(ds["sigma"].values):
        r = ds.isel(sigma=k)
        rows.append({"sigma": float(s), "runs": int(r.n_runs), "keep_fractions": int(r.n_keep_fractions),
                     "lambda_c_predicted": _num(r.lambda_c_predicted),
                     "lambda_c_predicted_interval": [float(v) for v in r.lambda_c_predicted_interval.values],
                     "lambda_c_measured": _num(r.lambda_c_measured),
                     "lambda_c_measured_interval": [float(v) for v in r.lambda_c_measured_interval.values],
                     "status": str(r.status.values)})
    return {"outcome": a.get("outcome"), "runs": int(ds.sizes["run"]), "dropped_runs": int(a.get("dropped_runs", 0)),
            "overlap": a.get("overlap"), "threshold": a.get("threshold"), "n_boot": a.get("n_boot"),
            "seed": a.get("seed"), "sigma": rows, "slope": _num(ds["slope"]),
            "slope_interval": [float(v) for v in ds["slope_interval"].values], "intercept": _num(ds["intercept"]),
            "intercept_interval": [float(v) for v in ds["intercept_interval"].values],
            "collapse": str(ds["collapse"].values), "verdict": a.get("verdict"), "reason": a.get("reason")}


def design_summary(ds: xr.Dataset) -> dict:
    """A percolation design: the lattice and, per width, the predicted onset and its keep fractions."""
    a = ds.attrs
    rows = []
    for k, s in enumerate(ds["sigma"].values):
        r = ds.isel(sigma=k)
        rows.append({"sigma": float(s), "neighbour_count": int(r.neighbour_count),
                     "lambda_c_predicted": _num(r.lambda_c_predicted), "onset_width": _num(r.onset_width),
                     "keep_fractions": [float(v) for v in r.keep_fractions.values if np.isfinite(v)],
                     "warning": str(r.warning.values) or None})
    return {key: a.get(key) for key in ("lattice", "image_size", "spacing", "overlap", "threshold", "trials",
                                        "min_keep_fraction")} | {"sigma": rows}


def layer_summary(infos, aliases: dict[str, str], defaults) -> list[dict]:
    """The hookable layers as :func:`layer_lines` lists them: name, module type, output shape (null when the
    layer is not called), its alias and whether analysis uses it by default."""
    named = {v: k for k, v in aliases.items()}
    return [{"name": i.name, "module_type": i.module_type,
             "output_shape": None if i.output_shape is None else [int(n) for n in i.output_shape],
             "alias": named.get(i.name), "default": i.name in defaults} for i in infos]
