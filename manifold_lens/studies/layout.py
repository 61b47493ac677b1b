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
    DIR/runner.lock                held by the one process running the study (:func:`study_lock`)

Every other module reads and writes these paths through the functions here.
:func:`read_manifest` checks the manifest on every read: its types, run ids
unique and plain names (:data:`RUN_ID`: no ``/``, no ``..``, at most
:data:`MAX_RUN_ID` characters) whose folders resolve inside ``DIR/runs`` (no
symlink out), and swept keys that are not reserved coordinate names
(:data:`RESERVED`).
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError
from ..stores.lock import store_lock

STUDY_FILE, MANIFEST, RUNS, REPORT = "study.toml", "study.json", "runs", "report"
RUN_STORE, RESULTS_STORE, STATUS, LOG = "run.zarr", "results.zarr", "status.json", "log.txt"
CLAIMS_STATUS = "claims.json"
RUN_GROUP = "default"  # the name of each run's evaluation and analysis groups
CLAIMS_KIND = "claims"  # the results kind of the study's claim groups (DIR/results.zarr claims/<name>)
PERCOLATION_TEST, SCALING = "percolation_test", "scaling"
RUNNER = "runner"  # DIR/runner.lock: the study's runner lock
MAX_RUN_ID = 200  # characters of a run id (a folder name; file systems allow 255 bytes)
RUN_ID = re.compile(r"[A-Za-z0-9_.=,+-]+")  # the characters of a run id (others are replaced by "_")
# coordinate names of a collected study (studies.collect) that a swept key must not take
RESERVED = ("run", "run_id", "seed", "case", "status", "error", "run_store", "run_config", "checkpoint", "region_name",
            "layer", "timestep", "reference", "converged", "steps_trained", "scored_id", "scored_ood",
            "baseline_nearest_accuracy", "baseline_nearest_accuracy_id", "baseline_nearest_accuracy_ood",
            "baseline_nearest_accuracy_region")


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

def check_run_id(rid, where: str = "run_id") -> str:
    """``rid`` when it is a plain run id (a string of :data:`RUN_ID` characters, at most :data:`MAX_RUN_ID`, not
    "." or ".."), else a one-line :class:`ConfigError`."""
    if not isinstance(rid, str):
        raise ConfigError(f"{where} = {rid!r}: expected a string")
    if len(rid) > MAX_RUN_ID:
        raise ConfigError(f"{where} = {rid[:40]}...: {len(rid)} characters, at most {MAX_RUN_ID} (a folder name); "
                          "use shorter case names or fewer swept keys")
    if not RUN_ID.fullmatch(rid) or rid in (".", ".."):
        raise ConfigError(f"{where} = {rid!r}: not a plain run id (letters, digits and _.=,+- only; no '/', no "
                          "'..')")
    return rid


def check_swept_keys(keys, where: str = "keys") -> None:
    """A one-line :class:`ConfigError` when a swept key is a reserved coordinate name (:data:`RESERVED`)."""
    for k in keys:
        if k in RESERVED:
            raise ConfigError(f"{where}: {k!r} is a reserved name (a coordinate of the collected study: "
                              f"{', '.join(RESERVED)}); sweep a config key instead")


def _check_manifest(study_dir, path: Path, manifest) -> None:
    """The manifest's types, unique plain run ids inside DIR/runs, no reserved swept key (linear in the runs)."""
    def bad(what: str) -> ConfigError:
        return ConfigError(f"{path}: {what}; this is not a manifest `manifold-lens study run` wrote: run the study "
                           "again into a new --out")

    if not isinstance(manifest, dict):
        raise bad(f"the top level is a {type(manifest).__name__}, not an object")
    runs = manifest.get("runs")
    if not isinstance(runs, list):
        raise bad("no list 'runs'")
    for key, kind in (("keys", list), ("stages", dict), ("executor", dict), ("name", str)):
        if manifest.get(key) is not None and not isinstance(manifest[key], kind):
            raise bad(f"'{key}' is a {type(manifest[key]).__name__}, not a {kind.__name__}")
    if not all(isinstance(k, str) for k in manifest.get("keys") or []):
        raise bad("'keys' holds a non-string")
    check_swept_keys(manifest.get("keys") or [], f"{path}: keys")
    root = (Path(study_dir) / RUNS).resolve()
    seen: set[str] = set()
    for k, r in enumerate(runs):
        if not isinstance(r, dict):
            raise bad(f"runs[{k}] is a {type(r).__name__}, not an object")
        if "run_id" not in r:
            raise bad(f"runs[{k}] has no 'run_id'")
        try:
            rid = check_run_id(r["run_id"], f"runs[{k}].run_id")
        except ConfigError as e:
            raise bad(str(e)) from None
        if rid in seen:
            raise bad(f"run id {rid!r} listed twice")
        seen.add(rid)
        for key, kind in (("swept", dict), ("config", dict), ("case", str)):
            if r.get(key) is not None and not isinstance(r[key], kind):
                raise bad(f"runs[{k}].{key} is a {type(r[key]).__name__}, not a {kind.__name__}")
        if "seed" in r and (isinstance(r["seed"], bool) or not isinstance(r["seed"], int)):
            raise bad(f"runs[{k}].seed = {r['seed']!r}: not an integer")
        check_swept_keys(r.get("swept") or {}, f"{path}: runs[{k}].swept")
        folder = run_dir(study_dir, rid)
        if folder.is_symlink() or folder.resolve().parent != root:
            raise bad(f"runs/{rid} leads outside {Path(study_dir) / RUNS} (a symlink)")


def read_manifest(study_dir) -> dict:
    """``DIR/study.json`` as a dict, checked (module docstring); a one-line :class:`ConfigError` when ``DIR`` is not
    a study directory or its manifest is unreadable or malformed."""
    path = manifest_path(study_dir)
    if Path(study_dir).exists() and not Path(study_dir).is_dir():
        raise ConfigError(f"{study_dir}: not a directory; give a study directory (holding {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{study_dir}: not a study directory (no {MANIFEST}); run `manifold-lens study run "
                          "STUDY.toml --out DIR` first") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a directory, not a manifest; give a study directory") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
                          ) from None
    _check_manifest(study_dir, path, manifest)
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
    """A run folder's status.json, or None when absent, unreadable or not an object."""
    try:
        s = json.loads((Path(folder) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return s if isinstance(s, dict) else None


def write_status(folder, status: dict) -> None:
    """Write a run folder's status.json atomically."""
    _write_json(Path(folder) / STATUS, status)


def expects_results(manifest: dict) -> bool:
    """Whether the study's runs write a results store (a stage is on)."""
    return any(v is not None for v in (manifest.get("stages") or {"evaluate": {}}).values())


def gone_stores(folder, results: bool = True) -> list[str]:
    """The stores a done run should have but does not (run.zarr, and results.zarr when ``results``)."""
    names = [RUN_STORE] + [RESULTS_STORE] * bool(results)
    return [n for n in names if not (Path(folder) / n).exists()]


def run_state(folder, results: bool = True) -> tuple[str, str]:
    """(state, the error's last line) of a run folder; ("missing", why) when it has no status.json, or when it says
    done but a store is gone (run.zarr, or results.zarr when ``results``: the study has a stage on)."""
    try:
        s = json.loads((Path(folder) / STATUS).read_text())
    except FileNotFoundError:
        return "missing", "no status.json" if Path(folder).exists() else "no run folder"
    except (OSError, ValueError) as e:
        return "unknown", f"status.json cannot be read ({type(e).__name__})"
    if not isinstance(s, dict):
        return "unknown", "status.json is not an object"
    lines = [ln for ln in str(s.get("error") or "").splitlines() if ln.strip()]
    state = str(s.get("state") or "unknown")
    gone = gone_stores(folder, results) if state == "done" else []
    if gone:
        return "missing", f"done, but {' and '.join(gone)} {'are' if len(gone) > 1 else 'is'} gone"
    return state, lines[-1].strip() if lines else ""


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


# -- the runner lock ------------------------------------------------------------------------------

@contextmanager
def study_lock(study_dir):
    """Hold the study's runner lock (``DIR/runner.lock``) for the ``with`` block: a study has one runner.

    A second process (``study run`` or ``study refine`` on the same DIR) gets a one-line
    :class:`~manifold_lens.errors.StoreError` naming the holder (pid, host, since, command); re-entrant within a
    process. The lock is the store locks' (:mod:`manifold_lens.stores.lock`): released by the kernel when the
    holder dies, even on SIGKILL. ``DIR`` must exist.
    """
    with store_lock(Path(study_dir) / RUNNER, role="runner", label=f"study {study_dir}") as lock:
        yield lock
