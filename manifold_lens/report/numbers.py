"""The report's key numbers: headline values read from the results at their last checkpoint (never recomputed).

An unfinished group (a killed evaluate or analyze) is quoted at its last
committed checkpoint and says so, never as final.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..analysis.homology_variables import band_text
from ..analysis.references import learned
from .sources import Sources


@dataclass
class KeyNumber:
    quantity: str
    value: str
    source: str
    references: str = ""  # the same quantity of the references (analysis: pixels, init, shuffled, ideal)


def _fmt(v, pct=False) -> str:
    v = float(v)
    if not np.isfinite(v):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.4g}"


ANALYSIS_NUMBERS = ("effective_dim", "factorization_score", "continuity_index", "x_on_x_orthogonality",
                    "x_on_y_orthogonality", "x_decoding_r2", "betti_1")


def _references(value, attrs: dict) -> str:
    """'pixels 11.5 · init 2.98 · ...' for a value with a reference dim (the ideal code that suits the data)."""
    if "reference" not in value.dims:
        return ""
    periodic = int(attrs.get("measure_periodic", attrs.get("periodic", 0)))
    shown = ["pixels", "init", "shuffled", *(("torus3d", "clifford") if periodic else ("plane",)), "conjunctive"]
    present = [str(r) for r in value["reference"].values]
    return " · ".join(f"{r} {_fmt(value.sel(reference=r))}" for r in shown if r in present)


def key_numbers(sources: Sources) -> list[KeyNumber]:
    """The headline numbers, read from the results at their last checkpoint."""
    rows: list[KeyNumber] = []
    several = len(sources.stores) > 1
    for g in sources.of_kind("evaluation"):
        last = g.ds.isel(checkpoint=-1)
        where = f"{g.label(several)}, step {int(last['checkpoint'])}"
        when = "final" if g.complete else "latest (unfinished)"
        for name, what in (("accuracy", f"{when} accuracy, overall"),
                           ("accuracy_id", f"{when} accuracy, in-distribution"),
                           ("accuracy_ood", f"{when} accuracy, out-of-distribution")):
            if name in last:
                value = _fmt(last[name], pct=True)
                if value == "n/a" and name == "accuracy_ood":
                    value = "n/a (no held-out conditions)"
                memo = g.ds.get(f"baseline_nearest_{name}")  # the memorising baseline (evaluation/baselines.py)
                rows.append(KeyNumber(what, value, where, "" if memo is None else
                                      f"nearest training condition (memorising) {_fmt(memo, pct=True)}"))
    for g in sources.of_kind("analysis"):
        last = g.ds.isel(checkpoint=-1)
        for layer in [str(v) for v in last["layer"].values]:
            for t in [int(v) for v in last["timestep"].values]:
                where = f"{g.label(several)}, {layer}, t = {t}, step {int(last['checkpoint'])}"
                for name in ANALYSIS_NUMBERS:
                    value = last[name].sel(layer=layer, timestep=t) if name in last else None
                    if value is not None and learned(value).ndim == 0:  # a scalar per layer and timestep
                        band = last["betti_1_band"].sel(layer=layer, timestep=t) \
                            if name == "betti_1" and "betti_1_band" in last else None  # the loop count's band
                        rows.append(KeyNumber(name + ("" if g.complete else " (unfinished)"),
                                              _fmt(learned(value)) + ("" if band is None else band_text(learned(band))),
                                              where, _references(value, g.ds.attrs)))
    for g in sources.of_kind("percolation"):
        if "lambda_c" not in g.ds:
            continue
        lc = g.ds["lambda_c"]
        sig = np.atleast_1d(g.ds["sigma"].values) if "sigma" in lc.dims else [None]
        for k, s in enumerate(sig):
            v = lc.isel(sigma=k) if s is not None else lc
            se = g.ds["lambda_c_stderr"].isel(sigma=k) if s is not None and "lambda_c_stderr" in g.ds else None
            value = _fmt(v) + (f" +- {_fmt(se)}" if se is not None and np.isfinite(float(se)) else "")
            rows.append(KeyNumber("lambda_c (percolation threshold)", value,
                                  g.label(several) + (f", sigma = {float(s):g} px" if s is not None else "")))
    for g in sources.of_kind("comparison"):
        for k, s in enumerate(g.ds["sigma"].values):
            r = g.ds.isel(sigma=k)
            rows.append(KeyNumber("lambda_c predicted / measured",
                                  f"{_fmt(r['lambda_c_predicted'])} / {_fmt(r['lambda_c_measured'])}",
                                  f"{g.label(several)}, sigma = {float(s):g} px"))
    return rows
