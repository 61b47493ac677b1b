"""Synthetic study Datasets in the shape of :func:`manifold_lens.open_study` (dim ``run``), one per claim, with
accuracies set by formula so the figures' points can be checked exactly. No training."""

from __future__ import annotations

import itertools

import numpy as np
import xarray as xr

from manifold_lens.studies.collect import coordinate_names

REFERENCES = ["learned", "pixels", "init", "shuffled", "torus3d", "clifford", "plane"]


def study_dataset(runs: list[dict], keys: list[str], claim: str = "", name: str = "synthetic") -> xr.Dataset:
    """``runs``: dicts with ``swept`` (key -> value), ``seed``, optional ``case``, ``status`` (default done),
    ``accuracy``, ``accuracy_id``, ``accuracy_ood``, ``regions`` (name -> accuracy), ``kept_sites``,
    ``candidate_sites``. Missing values are NaN, as open_study gives them."""
    n = len(runs)
    names = coordinate_names(keys)
    coords = {"run": ("run", np.arange(n)),
              "run_id": ("run", np.asarray([r.get("run_id", f"run{k}") for k, r in enumerate(runs)], dtype=object)),
              "seed": ("run", np.asarray([int(r["seed"]) for r in runs])),
              "case": ("run", np.asarray([r.get("case", "") for r in runs], dtype=object)),
              "status": ("run", np.asarray([r.get("status", "done") for r in runs], dtype=object)),
              "error": ("run", np.asarray([""] * n, dtype=object))}
    for key in keys:
        vals = [r["swept"][key] for r in runs]
        arr = np.asarray(vals) if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) \
            else np.asarray([str(v) for v in vals], dtype=object)
        coords[names[key]] = ("run", arr, {"key": key, "long_name": key})
    ds = xr.Dataset(coords=coords)
    for var in ("accuracy", "accuracy_id", "accuracy_ood", "kept_sites", "candidate_sites"):
        ds[var] = ("run", np.asarray([float(r.get(var, np.nan)) for r in runs]))
    regions = list(dict.fromkeys(k for r in runs for k in r.get("regions", {})))
    if regions:
        ds["accuracy_region"] = (("run", "region_name"), np.asarray(
            [[float(r.get("regions", {}).get(g, np.nan)) for g in regions] for r in runs]).reshape(n, len(regions)))
        ds = ds.assign_coords(region_name=np.asarray(regions, dtype=object))
    ds.attrs.update({"title": f"study {name}", "study": name, "keys": keys, "coordinate_names": names,
                     "claim": claim, "scale": "cpu", "notes": [], "study_dir": ""})
    return ds


def failed(run: dict) -> dict:
    """The run as a failed one: no values."""
    return {k: v for k, v in run.items() if k in ("swept", "seed", "case", "run_id")} | {"status": "failed"}


SEEDS = (0, 1, 2)


def seed_noise(seed: int) -> float:
    """-0.02, 0, +0.02 for seeds 0, 1, 2: the seed mean is the noiseless value, the standard error 0.02/sqrt(3)."""
    return 0.02 * (seed - 1)


def lesion_study() -> xr.Dataset:
    """Band widths 2, 4, 6, 8 x 3 seeds; OOD accuracy 1 - w / 10 (+- seed noise); one run failed."""
    runs = []
    for w, s in itertools.product((2, 4, 6, 8), SEEDS):
        acc = 1 - w / 10 + seed_noise(s)
        runs.append({"swept": {"data.holdout.width": w}, "seed": s, "accuracy_ood": acc, "accuracy_id": 0.95,
                     "accuracy": 0.9, "regions": {"train": 0.95, "band_x": acc}, "run_id": f"width={w},seed={s}"})
    runs[-1] = failed(runs[-1])
    return study_dataset(runs, ["data.holdout.width"], "lesion", "lesion")


def interior_exterior_study() -> xr.Dataset:
    """Cases (family x position) x W in 2, 4, 6 x 3 seeds; interior accuracy 0.9 - 0.05 W, exterior 0.5 - 0.05 W,
    SOS 0.1 higher."""
    cases = [("bump-interior", "bump", "interior", "corner"), ("bump-corner", "bump", "exterior", "corner"),
             ("bump-edge", "bump", "exterior", "edge"), ("sos-interior", "sos", "interior", "corner"),
             ("sos-corner", "sos", "exterior", "corner")]
    runs = []
    for (case, fam, kind, pos), w, s in itertools.product(cases, (2, 4, 6), SEEDS):
        acc = (0.9 if kind == "interior" else 0.5 if pos == "corner" else 0.7) - 0.05 * w + 0.1 * (fam == "sos")
        acc += seed_noise(s)
        runs.append({"swept": {"data.holdout.width": w, "data.family": fam, "data.holdout.kind": kind,
                               "data.holdout.position": pos}, "seed": s, "case": case, "accuracy_id": 0.95,
                     "accuracy_ood": acc, "accuracy": 0.9, "regions": {"train": 0.95, kind: acc}})
    return study_dataset(runs, ["data.holdout.width", "data.family", "data.holdout.kind", "data.holdout.position"],
                         "interior-exterior", "interior-exterior")


COMPOSITION = {"sos-cross": (0.1, 0.15, 0.05), "stripes": (0.8, 0.75, 0.7), "stripes+sos": (0.9, 0.85, 0.8)}


def composition_study() -> xr.Dataset:
    """Three training sets x 3 seeds: band_x, band_y, intersection accuracies from COMPOSITION (+- seed noise)."""
    runs = []
    for (case, (bx, by, it)), s in itertools.product(COMPOSITION.items(), SEEDS):
        e = seed_noise(s)
        runs.append({"swept": {"data.family": case.split("+")[0].replace("-cross", "")}, "seed": s, "case": case,
                     "accuracy_ood": (bx + by + it) / 3 + e, "accuracy_id": 0.95, "accuracy": 0.8,
                     "regions": {"train": 0.95, "band_x": bx + e, "band_y": by + e, "intersection": it + e}})
    return study_dataset(runs, [], "composition", "composition")


def rim_study() -> xr.Dataset:
    """Stripes without / with the rim x 3 seeds: OOD 0.2 vs 0.7, frame_2d 0.15 vs 0.65, interior 0.25 vs 0.75."""
    runs = []
    for (rim, ood), s in itertools.product(((False, 0.2), (True, 0.7)), SEEDS):
        e = seed_noise(s)
        runs.append({"swept": {"data.include_rim": rim}, "seed": s, "accuracy_ood": ood + e, "accuracy_id": 0.9,
                     "accuracy": 0.6, "regions": {"train": 0.9, "frame_2d": ood - 0.05 + e,
                                                            "interior": ood + 0.05 + e}})
    return study_dataset(runs, ["data.include_rim"], "rim", "rim")


KEEPS = (0.05, 0.1, 0.2, 0.4, 0.8)


def scaling_accuracy_of(keep: float, n: int, exponent: float, c: float = 0.5, level: float = 0.6) -> float:
    """Accuracy linear in keep fraction, reaching ``level`` at keep = c N^exponent / N^2 training images."""
    crossing = c * n ** exponent / n ** 2
    return min(1.0, level * keep / crossing)


def scaling_study(noise: bool = True, sizes=(16, 32, 64)) -> xr.Dataset:
    """Cases 2d (exponent 2) and 2d+stripes (exponent 1) x N x keep fraction x 3 seeds; kept_sites keep N^2."""
    runs = []
    for (case, b), n, k, s in itertools.product((("2d", 2.0), ("2d+stripes", 1.0)), sizes, KEEPS, SEEDS):
        acc = scaling_accuracy_of(k, n, b, c=0.5 if b == 2 else 4.0) + (seed_noise(s) if noise else 0.0)
        runs.append({"swept": {"data.image_size": n, "data.keep_fraction": k}, "seed": s, "case": case,
                     "accuracy_ood": acc, "accuracy_id": 1.0, "accuracy": acc, "kept_sites": k * n * n,
                     "candidate_sites": n * n})
    return study_dataset(runs, ["data.image_size", "data.keep_fraction"], "scaling", "scaling")


def torus_study(steps=(0, 100, 200, 400, 800)) -> xr.Dataset:
    """One grid point x 3 seeds, analysed at every checkpoint: effective dim falling 20 -> 4, top-4 rising; the
    references constant; the final chord statistics and betti_1 per reference."""
    runs = [{"swept": {}, "seed": s, "accuracy": 0.9 + seed_noise(s), "accuracy_id": 0.9, "accuracy_ood": np.nan}
            for s in SEEDS]
    ds = study_dataset(runs, [], "torus", "torus")
    t = np.asarray(steps, dtype=np.float64)
    frac = t / t.max()
    n_ref = len(REFERENCES)
    eff = np.zeros((3, len(t), 1, 1, n_ref))
    top4 = np.zeros_like(eff)
    for s in SEEDS:
        eff[s, :, 0, 0, 0] = 20 - 16 * frac + seed_noise(s) * 10
        top4[s, :, 0, 0, 0] = 0.2 + 0.7 * frac + seed_noise(s)
    for j, value in enumerate([None, 12.0, 25.0, 18.0, 3.0, 4.0, 2.0]):
        if value is not None:
            eff[:, :, 0, 0, j] = value
            top4[:, :, 0, 0, j] = 4.0 / (value + 1)
    dims = ("run", "analysis_checkpoint", "layer", "timestep", "reference")
    crd = {"analysis_checkpoint": t.astype(int), "layer": ["bottleneck"], "timestep": [50], "reference": REFERENCES}
    ds = ds.assign_coords(crd)
    ds["effective_dim_curve"] = (dims, eff)
    ds["explained_variance_top4_curve"] = (dims, top4)
    ds["checkpoint"] = ("checkpoint", t.astype(int))
    ds["accuracy_curve"] = (("run", "checkpoint"), np.array([np.clip(frac * 1.2 - 0.2, 0, 1) + seed_noise(s)
                                                              for s in SEEDS]))
    final = dict(zip(REFERENCES, [0.1, 0.6, 0.3, 0.15, 0.5, 0.0, 0.7]))
    for var in ("x_on_y_orthogonality", "x_on_x_orthogonality", "y_on_y_orthogonality", "x_parallelism",
                "y_parallelism"):
        ds[var] = (dims[:1] + dims[2:], np.array([[[[final[r] + seed_noise(s) for r in REFERENCES]]]
                                                  for s in SEEDS]))
    betti = dict(zip(REFERENCES, [2, 0, 0, 0, 2, 2, 0]))
    ds["betti_1"] = (dims[:1] + dims[2:], np.array([[[[betti[r] + (r == "learned" and s == 2) for r in REFERENCES]]]
                                                    for s in SEEDS], dtype=np.float64))
    return ds
