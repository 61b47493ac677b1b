"""The study file: a grid of run configs from one TOML, resolved and checked before anything runs.

```toml
[study]
name = "lesion-width"
preset = "quick"                  # or config = "base.toml" (relative to this file)
seeds = [0, 1]                    # train.seed values; each grid point runs once per seed
[study.set]                       # fixed overrides for every run, as --set
"data.image_size" = 16
[study.grid]                      # every combination of these
"data.holdout.width" = [2, 4, 6]
[[study.cases]]                   # optional named variants, crossed with the grid
name = "sos-cross"
set = { "data.family" = "sos", "data.holdout.kind" = "cross" }
[evaluate]                        # kwargs of evaluate_run; enabled = false switches the stage off
checkpoints = "last"
[analyze]                         # kwargs of analyze_run; enabled = false switches the stage off
[executor]                        # kind = "local" | "slurm" | "dask", workers = N
```

:func:`load_study` reads and checks everything (every run's config, its
memory, the stage settings) and returns a :class:`Study`; bad input is one
:class:`~manifold_lens.errors.ConfigError` line naming the key, the value and
the run.
"""

from __future__ import annotations

import inspect
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..config import SEED_MAX, Section, load_config, validate_section
from ..errors import ConfigError

ID_CHARS = re.compile(r"[^A-Za-z0-9_.=,+-]")
STAGES = ("evaluate", "analyze")
# kwargs of the stage functions that the study sets itself
_FIXED = {"evaluate": ("run", "out", "name", "replace", "progress", "log"),
          "analyze": ("run_or_path", "out", "name", "replace", "progress", "log")}


class CaseSpec(Section):
    """A named variant: overrides crossed with the grid."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = {}


class StudyHeader(Section):
    name: str = Field(min_length=1)
    description: str = ""
    preset: str | None = None
    config: str | None = None
    seeds: list[int] = [0]
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    cases: list[CaseSpec] = []


class SlurmSettings(Section):
    """``[executor.slurm]``: submitit's AutoExecutor parameters."""

    cluster: Literal["auto", "slurm", "local", "debug"] = "auto"  # local / debug: submitit's own, for tests
    partition: str | None = None
    time: int | str = 60  # minutes, or "HH:MM:SS" / "MM:SS"
    gpus: int = Field(0, ge=0)  # per node
    cpus: int | None = Field(None, ge=1)  # per task (also the torch threads of a run)
    mem_gb: float | None = Field(None, gt=0)
    array_parallelism: int | None = Field(None, ge=1)  # runs of the job array at once
    account: str | None = None
    qos: str | None = None
    extra: dict[str, Any] = {}  # further update_parameters keys, passed as given


class DaskSettings(Section):
    """``[executor.dask]``: a scheduler address, or none for a LocalCluster of ``workers`` processes."""

    address: str | None = None


class ExecutorSpec(Section):
    kind: Literal["local", "slurm", "dask"] = "local"
    workers: int = Field(1, ge=1)
    slurm: SlurmSettings = SlurmSettings()
    dask: DaskSettings = DaskSettings()


class StudyFile(Section):
    study: StudyHeader
    evaluate: dict[str, Any] = {}
    analyze: dict[str, Any] = {}
    executor: ExecutorSpec = ExecutorSpec()


@dataclass
class Study:
    """A checked study: its runs (manifest entries), stage settings and executor."""

    name: str
    source: Path
    text: str
    keys: list[str]
    runs: list[dict]
    stages: dict[str, dict | None]
    executor: ExecutorSpec
    description: str = ""
    extra: dict = field(default_factory=dict)

    def manifest(self) -> dict:
        """study.json without its "created" time and versions."""
        return {"name": self.name, "source": str(self.source), "keys": self.keys, "runs": self.runs,
                "stages": self.stages, "executor": self.executor.model_dump()}


# -- values and run ids -------------------------------------------------------------------------

def format_value(v: Any) -> str:
    """A compact rendering of a swept value for a run id: numbers with ``{v:g}``, lists joined by '+'."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "+".join(format_value(x) for x in v)
    if isinstance(v, dict):
        return "+".join(f"{k}{format_value(x)}" for k, x in v.items())
    return str(v)


def short_names(keys: list[str]) -> dict[str, str]:
    """Dotted key -> its last part, or the full key where two last parts collide."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def run_id(names: dict[str, str], values: dict[str, Any], case: str, seed: int) -> str:
    parts = ([f"case={case}"] if case else []) + [f"{names[k]}={format_value(values[k])}" for k in names]
    return ID_CHARS.sub("_", ",".join(parts + [f"seed={seed}"]))


def dotted(d: dict, key: str) -> Any:
    """``d[a][b]`` for key "a.b" (None when absent)."""
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- stage settings ------------------------------------------------------------------------------

def stage_function(stage: str):
    if stage == "evaluate":
        from ..evaluation import evaluate_run
        return evaluate_run
    from ..analysis import analyze_run
    return analyze_run


def _checkpoints(value: Any, where: str) -> None:
    ok = (value in ("last", "all") or (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value)))
    if not ok:
        raise ConfigError(f"[{where}] checkpoints = {value!r}: give \"last\", \"all\", a step or a list of steps")


def check_stage(stage: str, settings: dict, configs: list) -> dict | None:
    """The stage's kwargs (None when switched off), checked against the stage's own checks for every config."""
    settings = dict(settings)
    enabled = settings.pop("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"[{stage}] enabled = {enabled!r}: expected true or false")
    if not enabled:
        return None
    params = [p for p in inspect.signature(stage_function(stage)).parameters if p not in _FIXED[stage]]
    for key in settings:
        if key not in params:
            raise ConfigError(f"unknown key {key!r} in [{stage}]: valid keys are enabled, {', '.join(params)}")
    if "checkpoints" in settings:
        _checkpoints(settings["checkpoints"], stage)
    try:
        for timesteps in sorted({c.diffusion.timesteps for c in configs}):
            if stage == "evaluate":
                from ..evaluation.evaluate import evaluation_settings
                keys = inspect.signature(evaluation_settings).parameters
                evaluation_settings(**{k: v for k, v in settings.items() if k in keys}, timesteps=timesteps)
                if "conditions" in settings:
                    from ..evaluation.evaluate import CONDITION_SETS
                    if settings["conditions"] not in CONDITION_SETS:
                        raise ConfigError(f"conditions = {settings['conditions']!r}: must be one of "
                                          f"{', '.join(CONDITION_SETS)}")
            else:
                from ..analysis.extract import ExtractionSettings
                from ..analysis.geometry import check_embed_methods
                from ..diffusion import NoiseSchedule
                keys = ExtractionSettings.__dataclass_fields__
                ExtractionSettings(**{k: v for k, v in settings.items() if k in keys}).validate(
                    NoiseSchedule.from_config(next(c.diffusion for c in configs
                                                   if c.diffusion.timesteps == timesteps)))
                check_embed_methods(settings.get("embed", ("pca",)))
        if "device" in settings:
            from ..devices import resolve_device
            resolve_device(settings["device"])
    except ConfigError as e:
        raise ConfigError(f"[{stage}] {e}") from None
    except (ValueError, TypeError) as e:  # a wrong type the stage's checks did not word
        raise ConfigError(f"[{stage}] {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    except Exception as e:  # ManifoldLensError and friends: one line, the stage named
        from ..errors import ManifoldLensError
        if not isinstance(e, ManifoldLensError):
            raise
        raise ConfigError(f"[{stage}] {e}") from None
    return settings


# -- executors available -------------------------------------------------------------------------

def check_executor(spec: ExecutorSpec) -> None:
    """A one-line error when the executor's package (or Slurm) is missing."""
    import shutil

    if spec.kind == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'slurm' needs submitit: pip install 'manifold-lens[slurm]'") from None
        if spec.slurm.cluster in ("auto", "slurm") and shutil.which("sbatch") is None:
            raise ConfigError("executor 'slurm': no Slurm here (sbatch is not on PATH); run on a Slurm login node, "
                              "or use --executor local")
    elif spec.kind == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError("executor 'dask' needs dask.distributed: pip install 'manifold-lens[dask]'") from None


# -- the study -----------------------------------------------------------------------------------

def load_study(path: str | Path, *, executor: str | None = None, workers: int | None = None,
               check_memory: bool = True) -> Study:
    """Read, resolve and check a study file (every run's config and memory, the stage settings, the executor)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such study file")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a valid TOML study file ({e})") from None
    spec: StudyFile = validate_section(StudyFile, raw)
    if executor is not None or workers is not None:
        ex = spec.executor.model_dump()
        ex.update({k: v for k, v in (("kind", executor), ("workers", workers)) if v is not None})
        spec.executor = validate_section(ExecutorSpec, ex, "executor")
    head = spec.study
    if head.preset and head.config:
        raise ConfigError("[study]: give either preset or config, not both")
    config_file = (path.parent / head.config) if head.config else None
    if not head.seeds:
        raise ConfigError("study.seeds = []: give at least one seed, e.g. seeds = [0]")
    for s in head.seeds:
        if not 0 <= s <= SEED_MAX:
            raise ConfigError(f"study.seeds: {s} must be a non-negative integer below 2^63")
    if len(set(head.seeds)) != len(head.seeds):
        raise ConfigError(f"study.seeds = {head.seeds}: each seed once")
    for key, values in head.grid.items():
        if not values:
            raise ConfigError(f"study.grid.{key!r} = []: an empty list; give at least one value")
    names = [c.name for c in head.cases]
    if len(set(names)) != len(names):
        raise ConfigError(f"study.cases: names must be unique ({', '.join(names)})")
    sources = [("study.set", head.set), ("study.grid", {k: v[0] for k, v in head.grid.items()}),
               *((f"study.cases {c.name!r}", c.set) for c in head.cases)]
    base = load_config(head.preset, config_file, None)
    for where, overrides in sources:  # each key alone first: an unknown key names where it came from
        for key, value in overrides.items():
            if key == "train.seed":
                raise ConfigError(f"{where}: 'train.seed' is set by [study] seeds; remove it from {where}")
            try:
                base.with_overrides({key: value}).validate()
            except ConfigError as e:
                if "unknown key" in str(e):
                    raise ConfigError(f"{where}: {e}") from None

    grid_keys = list(head.grid)
    case_keys = [k for c in head.cases for k in c.set if k not in grid_keys]
    keys = grid_keys + list(dict.fromkeys(case_keys))
    ids = short_names(grid_keys)
    cases = head.cases or [CaseSpec(name="x")]
    from ..memory import check_dataset_memory

    runs, seen, configs = [], {}, []
    for case in cases:
        case_name = case.name if head.cases else ""
        for combo in itertools.product(*head.grid.values()):
            values = dict(zip(grid_keys, combo))
            for seed in head.seeds:
                rid = run_id(ids, values, case_name, seed)
                overrides = {**head.set, **(case.set if head.cases else {}), **values, "train.seed": seed}
                try:
                    cfg = load_config(head.preset, config_file, overrides)  # overrides before resolving (sigma_x...)
                    if check_memory:
                        check_dataset_memory(cfg.data)
                except ConfigError as e:
                    raise ConfigError(f"run {rid}: {e}") from None
                d = cfg.to_dict()
                key = cfg.to_json()
                if key in seen:
                    raise ConfigError(f"duplicate runs: {seen[key]} and {rid} have the same resolved config and "
                                      "seed; remove one from the grid or the cases")
                if any(r["run_id"] == rid for r in runs):
                    raise ConfigError(f"two runs would be called {rid!r}: their values differ beyond what the id "
                                      "shows; use values that differ in 6 significant digits")
                seen[key] = rid
                configs.append(cfg)
                runs.append({"run_id": rid, "case": case_name, "seed": int(seed),
                             "swept": {k: dotted(d, k) for k in keys}, "config": d})
    stages = {s: check_stage(s, getattr(spec, s), configs) for s in STAGES}
    check_executor(spec.executor)
    return Study(head.name, path.resolve(), text, keys, runs, stages, spec.executor, head.description)


# -- bundled studies -----------------------------------------------------------------------------

def studies_dir():
    """The folder of bundled study files (package data, like the presets)."""
    from importlib import resources

    return resources.files("manifold_lens.data") / "studies"


def list_studies() -> list[tuple[str, str]]:
    """(name, description) of each bundled study file."""
    out = []
    for p in sorted(studies_dir().iterdir(), key=lambda p: p.name):
        if p.name.endswith(".toml"):
            head = tomllib.loads(p.read_text()).get("study", {})
            out.append((p.name[:-5], str(head.get("description", ""))))
    return out
