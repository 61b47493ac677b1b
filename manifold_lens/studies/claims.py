"""A study's claim computations, computed once and stored in the study's own results (the report only draws them).

- ``percolation`` studies: :func:`study_percolation_test` runs
  :func:`manifold_lens.percolation_test` (profile-likelihood intervals) on the collected study
  and writes its Dataset to ``DIR/results.zarr`` group
  ``claims/percolation_test``.
- ``scaling`` studies: :func:`study_scaling_fits` computes the training-set
  size for 60% accuracy per image size and its power law
  (:func:`~manifold_lens.studies.scaling.size_for_accuracy`, bootstrapped over
  seeds) into group ``claims/scaling``.

:func:`compute_claims` runs what a study's claim needs (the study runner calls
it after the runs); a computation the study cannot support is recorded with
its reason in ``DIR/claims.json`` instead of failing. :func:`read_claim` and
:func:`claim_note` are what the report reads: the stored Dataset, or a note
saying it is not computed, why, and the command that computes it.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from ..errors import ManifoldLensError
from ..percolation.settings import PercolationTestSettings as _TEST
from ..percolation.test import percolation_test
from ..stores import group_status, read_results, require_new_group, write_results
from .collect import open_study
from .layout import (CLAIMS_KIND, PERCOLATION_TEST, SCALING, read_claims_status, read_manifest, study_results,
                     write_claims_status)
from .scaling import BOOTSTRAP, LEVEL, size_for_accuracy

NEEDS = {"percolation": (PERCOLATION_TEST,), "scaling": (SCALING,)}  # claim -> the computations it draws
COMMANDS = {PERCOLATION_TEST: "manifold-lens percolate test {dir}",
            SCALING: "manifold-lens study run STUDY --out {dir} (it fits after the runs)"}
OUTCOME = _TEST.default("outcome")


def _write(store: Path, name: str, ds: xr.Dataset, replace: bool) -> None:
    write_results(ds, out=store, kind=CLAIMS_KIND, name=name, replace=replace)


def _check_free(study_dir, name: str, replace: bool) -> Path:
    store = study_results(study_dir)
    require_new_group(store, CLAIMS_KIND, name, replace)
    return store


def study_percolation_test(study_dir, *, outcome: str = _TEST.default("outcome"),
                           threshold: float = _TEST.default("threshold"), overlap: str = _TEST.default("overlap"),
                           n_boot: int = _TEST.default("n_boot"), seed: int = _TEST.default("seed"),
                           replace: bool = False, progress: bool = True,
                           min_train_accuracy: float = _TEST.default("min_train_accuracy"),
                           min_keep_fractions: int = _TEST.default("min_keep_fractions"),
                           min_seeds: int = _TEST.default("min_seeds")) -> xr.Dataset:
    """Run the percolation test on study directory ``study_dir`` and store it in ``DIR/results.zarr``.

    Collects the study at overlap ``threshold``, runs
    :func:`~manifold_lens.percolation.percolation_test` (``outcome``, ``overlap``,
    ``n_boot`` onset draws, ``seed``; runs below ``min_train_accuracy`` left
    out, widths below ``min_keep_fractions`` x ``min_seeds`` not judged) and writes group
    ``claims/percolation_test``; an existing one is refused unless ``replace``
    (checked before any work). Returns the test's Dataset.
    """
    read_manifest(study_dir)  # a study directory, or a one-line error before anything is written
    store = _check_free(study_dir, PERCOLATION_TEST, replace)
    runs = open_study(study_dir, threshold=threshold)
    ds = percolation_test(runs, outcome=outcome, threshold=threshold, overlap=overlap, n_boot=n_boot, seed=seed,
                          progress=progress, min_train_accuracy=min_train_accuracy,
                          min_keep_fractions=min_keep_fractions, min_seeds=min_seeds)
    _write(store, PERCOLATION_TEST, ds, replace)
    write_claims_status(study_dir, PERCOLATION_TEST, "")
    return ds


def scaling_fits(study: xr.Dataset, level: float = LEVEL, var: str = OUTCOME, keep: str | None = None,
                 bootstrap: int = BOOTSTRAP, seed: int = 0) -> xr.Dataset:
    """The scaling fits of a collected study (no storing): :func:`~.scaling.size_for_accuracy`."""
    return size_for_accuracy(study, level, var, keep, bootstrap=bootstrap, seed=seed)


def study_scaling_fits(study_dir, *, level: float = LEVEL, var: str = OUTCOME, bootstrap: int = BOOTSTRAP,
                       seed: int = 0, replace: bool = False) -> xr.Dataset:
    """The scaling fits of study directory ``study_dir`` (:func:`scaling_fits`), written to group
    ``claims/scaling`` of ``DIR/results.zarr`` (refused when present unless ``replace``)."""
    store = _check_free(study_dir, SCALING, replace)
    ds = scaling_fits(open_study(study_dir), level, var, bootstrap=bootstrap, seed=seed)
    _write(store, SCALING, ds, replace)
    write_claims_status(study_dir, SCALING, "")
    return ds


def compute_claims(study_dir, *, replace: bool = True, progress: bool = False) -> dict[str, str]:
    """Compute and store what the study's claim needs (nothing for other claims); {computation: "stored" or why
    not}. A computation the study cannot support is recorded in ``DIR/claims.json`` (the report shows why),
    never raised; with ``replace=False`` a stored one is kept."""
    claim = str(read_manifest(study_dir).get("claim") or "")
    done: dict[str, str] = {}
    for name in NEEDS.get(claim, ()):
        if not replace and has_claim(study_dir, name):
            done[name] = "stored"
            continue
        try:
            if name == PERCOLATION_TEST:
                study_percolation_test(study_dir, replace=True, progress=progress)
            else:
                study_scaling_fits(study_dir, replace=True)
            done[name] = "stored"
        except ManifoldLensError as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            write_claims_status(study_dir, name, why)
            done[name] = why
    return done


def has_claim(study_dir, name: str) -> bool:
    """Whether the study's results hold a complete ``claims/<name>`` group."""
    store = study_results(study_dir)
    if not store.exists():
        return False
    try:
        return group_status(store, CLAIMS_KIND, name).complete
    except ManifoldLensError:
        return False


def read_claim(study_dir, name: str) -> xr.Dataset | None:
    """The stored ``claims/<name>`` Dataset of a study directory, or None when not computed (or unreadable)."""
    if not study_dir or not has_claim(study_dir, name):
        return None
    try:
        return read_results(study_results(study_dir), CLAIMS_KIND, name)
    except ManifoldLensError:
        return None


def claim_note(study_dir, name: str) -> str:
    """Why ``claims/<name>`` is absent, and the command that computes it (one line)."""
    why = read_claims_status(study_dir).get(name, "") if study_dir else ""
    command = COMMANDS[name].format(dir=study_dir or "DIR")
    return "not computed" + (f" ({why})" if why else "") + f": run `{command}`"
