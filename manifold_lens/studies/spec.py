"""The study file: a grid of run configs from one TOML, resolved and checked before anything runs.

```toml
[study]
name = "lesion-width"
preset = "quick"                  # or config = "base.toml" (relative to this file)
seeds = [0, 1]                    # replicates: train.seed and data.seed (unless set); one run per seed
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
[scale.cpu]                       # optional named scales: parts of the study to replace (see below)
seeds = [0]
set = { "train.steps" = 1000 }
```

``[study]`` may also hold ``claim`` (which of the study's claims the file
tests, e.g. "lesion"; empty for user studies: the report picks its figures by
it). A case may carry its own ``grid`` (keys replace the study grid's for
that case, or add to it), e.g. keep fractions that depend on the case's
bump width.

**Scales.** ``[scale.NAME]`` tables (the bundled studies have ``cpu`` and
``paper``) override parts of the study: ``preset`` / ``config``, ``seeds``
(replaced), ``set`` (merged over study.set), ``grid`` (per key),
``cases.CASE.set`` / ``cases.CASE.grid`` (merged over that case's;
``cases.CASE.skip = true`` leaves the case out),
``evaluate``, ``analyze`` and ``executor`` (merged over the file's tables);
``minutes`` (estimated wall time) and ``description`` are shown by
``study list``. A file with scales runs at ``cpu`` unless told otherwise (or
its first scale when it has no ``cpu``); a file without scales refuses one.

:func:`load_study` reads and checks everything (every run's config, its
memory, the stage settings) and returns a :class:`Study`; bad input is one
:class:`~manifold_lens.errors.ConfigError` line naming the key, the value and
the run. It takes a path, or the name of a bundled study
(``data/studies/NAME.toml``, :func:`~manifold_lens.studies.bundled.resolve_study`), and ``overrides``
(``key=value`` strings, as ``--set``) applied over every run.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..config import SEED_MAX, Section, load_config, validate_section
from ..errors import ConfigError
from .bundled import resolve_study
from .stages import STAGES, check_executor, check_stage

ID_CHARS = re.compile(r"[^A-Za-z0-9_.=,+-]")


class CaseSpec(Section):
    """A named variant: overrides crossed with the grid; its own ``grid`` keys replace (or add to) the study's."""

    name: str = Field(min_length=1)
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}


class StudyHeader(Section):
    name: str = Field(min_length=1)
    description: str = ""
    claim: str = ""  # the claim a bundled study tests ("lesion", "composition", ...); recorded in study.json
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


class ScaleCase(Section):
    """``[scale.NAME.cases.CASE]``: merged over the case's ``set`` and ``grid``; ``skip`` leaves the case out."""

    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    skip: bool = False


class ScaleSpec(Section):
    """``[scale.NAME]``: the parts of the study this scale replaces (see the module docstring)."""

    description: str = ""
    minutes: float | None = Field(None, gt=0)  # estimated wall minutes (cpu: 2 cores, local executor, 1 worker)
    preset: str | None = None
    config: str | None = None
    seeds: list[int] | None = None
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    cases: dict[str, ScaleCase] = {}
    evaluate: dict[str, Any] = {}
    analyze: dict[str, Any] = {}
    executor: dict[str, Any] = {}


class StudyFile(Section):
    study: StudyHeader
    evaluate: dict[str, Any] = {}
    analyze: dict[str, Any] = {}
    executor: ExecutorSpec = ExecutorSpec()
    scale: dict[str, ScaleSpec] = {}


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
    claim: str = ""
    scale: str | None = None  # the scale it was resolved at (None: a file without scales)
    overrides: dict = field(default_factory=dict)  # --set over every run

    def manifest(self) -> dict:
        """study.json without its "created" time and versions."""
        return {"name": self.name, "source": str(self.source), "claim": self.claim, "scale": self.scale,
                "overrides": self.overrides, "keys": self.keys, "runs": self.runs, "stages": self.stages,
                "executor": self.executor.model_dump()}


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
    parts = ([f"case={case}"] if case else []) + [f"{names[k]}={format_value(values[k])}" for k in names
                                                  if k in values]
    return ID_CHARS.sub("_", ",".join(parts + [f"seed={seed}"]))


def dotted(d: dict, key: str) -> Any:
    """``d[a][b]`` for key "a.b" (None when absent)."""
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


# -- the study -----------------------------------------------------------------------------------

def read_study_file(path: Path) -> tuple[str, StudyFile]:
    """The text and the schema-checked contents of a study file."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such study file")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a valid TOML study file ({e})") from None
    return text, validate_section(StudyFile, raw)


def default_scale(spec: StudyFile) -> str | None:
    """``cpu`` when the file has it, else its first scale; None for a file without scales."""
    return None if not spec.scale else ("cpu" if "cpu" in spec.scale else next(iter(spec.scale)))


def apply_scale(spec: StudyFile, scale: str | None) -> tuple[StudyFile, str | None]:
    """The study as run at ``scale`` (default: :func:`default_scale`), and the scale's name."""
    if scale is not None and not spec.scale:
        raise ConfigError(f"--scale {scale}: this study file has no [scale.*] tables; leave --scale out")
    scale = scale if scale is not None else default_scale(spec)
    if scale is None:
        return spec, None
    if scale not in spec.scale:
        raise ConfigError(f"--scale {scale!r}: unknown scale; this study has {', '.join(spec.scale)}")
    sc, out = spec.scale[scale], spec.model_copy(deep=True)
    head = out.study
    if sc.preset or sc.config:
        head.preset, head.config = sc.preset, sc.config
    if sc.seeds is not None:
        head.seeds = list(sc.seeds)
    head.set = {**head.set, **sc.set}
    head.grid = {**head.grid, **sc.grid}
    cases = {c.name: c for c in head.cases}
    for name, part in sc.cases.items():
        if name not in cases:
            raise ConfigError(f"scale.{scale}.cases.{name}: no such case in [[study.cases]] "
                              f"({', '.join(cases) or 'none'})")
        cases[name].set = {**cases[name].set, **part.set}
        cases[name].grid = {**cases[name].grid, **part.grid}
    head.cases = [c for c in head.cases if not (c.name in sc.cases and sc.cases[c.name].skip)]
    if spec.study.cases and not head.cases:
        raise ConfigError(f"scale.{scale}: every case is skipped; keep at least one")
    out.evaluate = {**out.evaluate, **sc.evaluate}
    out.analyze = {**out.analyze, **sc.analyze}
    if sc.executor:
        ex = out.executor.model_dump()
        for k, v in sc.executor.items():
            ex[k] = {**ex[k], **v} if isinstance(ex.get(k), dict) and isinstance(v, dict) else v
        out.executor = validate_section(ExecutorSpec, ex, f"scale.{scale}.executor")
    return out, scale


def parse_overrides(overrides: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``key=value`` strings (values parsed as TOML, bare words as strings), as ``--set``, into a dict."""
    if isinstance(overrides, dict) or not overrides:
        return dict(overrides or {})
    out = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.steps=500")
        key, raw = (t.strip() for t in item.split("=", 1))
        try:
            out[key] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = raw
    return out


def case_grids(head: StudyHeader) -> list[tuple[str, dict, dict[str, list]]]:
    """(case name, case set, the case's grid) for each case; one unnamed case when there are none."""
    if not head.cases:
        return [("", {}, dict(head.grid))]
    return [(c.name, c.set, {**head.grid, **c.grid}) for c in head.cases]


def count_runs(spec: StudyFile) -> int:
    """How many runs a (scaled) study file has, without resolving them."""
    n = 0
    for _, _, grid in case_grids(spec.study):
        size = 1
        for values in grid.values():
            size *= len(values)
        n += size
    return n * len(spec.study.seeds)


def _check_header(head: StudyHeader) -> None:
    if head.preset and head.config:
        raise ConfigError("[study]: give either preset or config, not both")
    if not head.seeds:
        raise ConfigError("study.seeds = []: give at least one seed, e.g. seeds = [0]")
    for s in head.seeds:
        if not 0 <= s <= SEED_MAX:
            raise ConfigError(f"study.seeds: {s} must be a non-negative integer below 2^63")
    if len(set(head.seeds)) != len(head.seeds):
        raise ConfigError(f"study.seeds = {head.seeds}: each seed once")
    for where, grid in [("study.grid", head.grid), *((f"study.cases {c.name!r} grid", c.grid) for c in head.cases)]:
        for key, values in grid.items():
            if not values:
                raise ConfigError(f"{where}.{key!r} = []: an empty list; give at least one value")
    names = [c.name for c in head.cases]
    if len(set(names)) != len(names):
        raise ConfigError(f"study.cases: names must be unique ({', '.join(names)})")


def load_study(path: str | Path, *, scale: str | None = None, overrides: list[str] | dict | None = None,
               executor: str | None = None, workers: int | None = None, check_memory: bool = True) -> Study:
    """Read, resolve and check a study (a file, or a bundled study's name) at a scale, with ``--set`` overrides.

    Checks every run's config and memory, the stage settings and the executor.
    """
    path = resolve_study(path)
    text, spec = read_study_file(path)
    spec, scale = apply_scale(spec, scale)
    extra = parse_overrides(overrides)
    if executor is not None or workers is not None:
        ex = spec.executor.model_dump()
        ex.update({k: v for k, v in (("kind", executor), ("workers", workers)) if v is not None})
        spec.executor = validate_section(ExecutorSpec, ex, "executor")
    head = spec.study
    _check_header(head)
    config_file = (path.parent / head.config) if head.config else None
    grids = case_grids(head)
    grid_keys = list(dict.fromkeys(k for _, _, g in grids for k in g))
    sources = [("study.set", head.set), *((f"study.grid{f' (case {c!r})' if c else ''}",
                                           {k: v[0] for k, v in g.items()}) for c, _, g in grids),
               *((f"study.cases {c.name!r}", c.set) for c in head.cases), ("--set", extra)]
    base = load_config(head.preset, config_file, None)
    for where, items in sources:  # each key alone first: an unknown key names where it came from
        for key, value in items.items():
            if key == "train.seed":
                raise ConfigError(f"{where}: 'train.seed' is set by [study] seeds; remove it from {where}")
            if where == "--set" and key in grid_keys:
                raise ConfigError(f"--set {key}: swept by the study's grid; change the grid in the study file "
                                  "instead")
            try:
                base.with_overrides({key: value}).validate()
            except ConfigError as e:
                if "unknown key" in str(e):
                    raise ConfigError(f"{where}: {e}") from None

    case_keys = [k for c in head.cases for k in c.set if k not in grid_keys]
    keys = grid_keys + list(dict.fromkeys(case_keys))
    ids = short_names(grid_keys)
    from ..memory import check_dataset_memory

    runs, seen, configs = [], {}, []
    for case_name, case_set, grid in grids:
        for combo in itertools.product(*grid.values()):
            values = dict(zip(grid, combo))
            for seed in head.seeds:
                rid = run_id(ids, values, case_name, seed)
                # a seed is a replicate: the weights' and the training subset's (data.seed, unless set)
                run_overrides = {"data.seed": seed, **head.set, **case_set, **values, **extra, "train.seed": seed}
                try:  # overrides before resolving (sigma_x...)
                    cfg = load_config(head.preset, config_file, run_overrides)
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
    return Study(head.name, path.resolve(), text, keys, runs, stages, spec.executor, head.description,
                 claim=head.claim, scale=scale, overrides=extra)
