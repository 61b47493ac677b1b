"""The study directory's layout: its one owner (paths, the manifest, the status files).

Layout of a study directory ``DIR``::

    DIR/study.toml                 the study file as given
    DIR/study.json                 manifest: name, source, created, versions, claim, scale, overrides,
                                   keys, runs (run_id, case, seed, swept, config), stages, executor
    DIR/results.zarr               the study's own results: the claim computations (group
                                   claims/percolation_test, claims/scaling; :mod:`.claims`)
    DIR/claims.json                why a claim computation the runner tried is missing (name -> error)
    DIR/report/                    the study report (``manifold-lens report DIR``)
    DIR/runs/<run_id>/run.zarr     the run store
    DIR/runs/<run_id>/results.zarr evaluation/default, analysis/default
    DIR/runs/<run_id>/status.json  state, stage, error, started, finished, host, pid, seconds
    DIR/runs/<run_id>/log.txt      the run's log, appended on every attempt
    DIR/runs/<run_id>/report/      the run's own report, when rendered

Every other module reads and writes these paths through the functions here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError

STUDY_FILE, MANIFEST, RUNS, REPORT = "study.toml", "study.json", "runs", "report"
RUN_STORE, RESULTS_STORE, STATUS, LOG = "run.zarr", "results.zarr", "status.json", "log.txt"
CLAIMS_STATUS = "claims.json"
RUN_GROUP = "default"  # the name of each run's evaluation and analysis groups
CLAIMS_KIND = "claims"  # the results kind of the study's claim groups (DIR/results.zarr claims/<name>)
PERCOLATION_TEST, SCALING = "percolation_test", "scaling"


def manifest_path(study_dir) -> Path:
    return Path(study_dir) / MANIFEST


def is_study(path) -> bool:
    """Whether ``path`` is a study directory (holds ``study.json``)."""
    return manifest_path(path).is_file()


def run_dir(study_dir, run_id: str) -> Path:
    """``DIR/runs/<run_id>``: the folder of one run."""
    return Path(study_dir) / RUNS / str(run_id)


def run_store(study_dir, run_id: str) -> Path:
    return run_dir(study_dir, run_id) / RUN_STORE


def run_results(study_dir, run_id: str) -> Path:
    return run_dir(study_dir, run_id) / RESULTS_STORE


def run_report(study_dir, run_id: str) -> Path:
    return run_dir(study_dir, run_id) / REPORT


def study_results(study_dir) -> Path:
    """``DIR/results.zarr``: the study's own results store (the claim computations)."""
    return Path(study_dir) / RESULTS_STORE


def report_dir(study_dir) -> Path:
    return Path(study_dir) / REPORT


# -- the manifest ---------------------------------------------------------------------------------

def read_manifest(study_dir) -> dict:
    """``DIR/study.json`` as a dict; a one-line :class:`ConfigError` when it is missing, unreadable or not a study
    manifest (no list ``runs``)."""
    path = manifest_path(study_dir)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{study_dir}: not a study directory (no {MANIFEST}); run `manifold-lens study run "
                          "STUDY.toml --out DIR` first") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot be read ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs"), list):
        raise ConfigError(f"{path}: not a study manifest (no list 'runs')")
    return manifest


def _write_json(path: Path, value) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, path)


def write_manifest(study_dir, manifest: dict) -> None:
    _write_json(manifest_path(study_dir), manifest)


def append_runs(study_dir, runs: list[dict], record: dict) -> dict:
    """Add ``runs`` (manifest entries) to study.json and ``record`` to its ``refine`` history (``study refine``);
    return the manifest written. A run id already listed is refused."""
    manifest = read_manifest(study_dir)
    listed = {str(r.get("run_id")) for r in manifest["runs"]}
    clash = [r["run_id"] for r in runs if str(r["run_id"]) in listed]
    if clash:
        raise ConfigError(f"{manifest_path(study_dir)}: already lists run {clash[0]}")
    manifest["runs"] = [*manifest["runs"], *runs]
    manifest["refine"] = [*manifest.get("refine", []), record]
    write_manifest(study_dir, manifest)
    return manifest


def run_configs(study_dir) -> dict[str, dict]:
    """run_id -> the run's resolved config from the manifest."""
    return {str(r["run_id"]): r.get("config") or {} for r in read_manifest(study_dir)["runs"]}


# -- status files ---------------------------------------------------------------------------------

def read_status(folder) -> dict | None:
    """A run folder's status.json, or None when absent or unreadable."""
    try:
        return json.loads((Path(folder) / STATUS).read_text())
    except (OSError, ValueError):
        return None


def write_status(folder, status: dict) -> None:
    """Write a run folder's status.json atomically."""
    _write_json(Path(folder) / STATUS, status)


def run_state(folder) -> tuple[str, str]:
    """(state, the error's last line) of a run folder; ("missing", why) when it has no status.json."""
    try:
        s = json.loads((Path(folder) / STATUS).read_text())
    except FileNotFoundError:
        return "missing", "no status.json" if Path(folder).exists() else "no run folder"
    except ValueError as e:
        return "unknown", f"status.json cannot be read ({e})"
    lines = [ln for ln in str(s.get("error") or "").splitlines() if ln.strip()]
    return str(s.get("state") or "unknown"), lines[-1].strip() if lines else ""


def read_claims_status(study_dir) -> dict[str, str]:
    """claim computation -> why the runner could not compute it ({} when none failed)."""
    try:
        value = json.loads((Path(study_dir) / CLAIMS_STATUS).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def write_claims_status(study_dir, name: str, error: str) -> None:
    """Record (error) or clear ("") why claim computation ``name`` is missing."""
    status = read_claims_status(study_dir)
    if error:
        status[name] = error
    else:
        status.pop(name, None)
    _write_json(Path(study_dir) / CLAIMS_STATUS, status)
