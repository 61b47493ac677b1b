"""The study file's schema: a grid of run configs from one TOML, read and scaled (not yet resolved or checked).

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

:func:`read_study_file` reads and schema-checks a file, :func:`apply_scale`
applies one of its scales; :func:`manifold_lens.studies.spec.load_study`
resolves and checks every run.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
import re
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, field_validator

from ..config import Section, validate_section
from ..errors import ConfigError


MAX_RUNS = 10_000  # the default cap on a study's run count ([study] max_runs; checked before any run is resolved)
Int = Annotated[int, Field(strict=True)]  # no bool-as-int, no string-as-int (TOML gives true integers)
Number = Annotated[float, Field(strict=True)]  # an int or a float, never a string or a bool


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
    seeds: list[StrictInt] = [0]
    max_runs: int = Field(MAX_RUNS, strict=True, ge=1)  # refuse a grid of more runs than this (before resolving)
    set: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}
    cases: list[CaseSpec] = []


class SlurmSettings(Section):
    """``[executor.slurm]``: submitit's AutoExecutor parameters."""

    cluster: Literal["auto", "slurm", "local", "debug"] = "auto"  # local / debug: submitit's own, for tests
    partition: str | None = None
    time: StrictInt | str = 60  # minutes, or "HH:MM:SS" / "MM:SS" / "D-HH:MM:SS"
    gpus: int = Field(0, strict=True, ge=0)  # per node
    cpus: int | None = Field(None, strict=True, ge=1)  # per task (also the torch threads of a run)
    mem_gb: Number | None = Field(None, gt=0)
    array_parallelism: int | None = Field(None, strict=True, ge=1)  # runs of the job array at once
    account: str | None = None
    qos: str | None = None
    extra: dict[str, Any] = {}  # further update_parameters keys, passed as given

    @field_validator("time")
    @classmethod
    def _time(cls, value):
        timeout_minutes(value)  # a one-line error for "abc", 0 or a negative time
        return value


def timeout_minutes(value: int | str) -> int:
    """Slurm time as minutes (> 0): an integer, or "HH:MM:SS" / "MM:SS" / "D-HH:MM:SS"."""
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    else:
        m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
        if not m:
            raise ValueError(f"executor.slurm.time = {value!r}: give minutes (60) or \"HH:MM:SS\", e.g. \"02:00:00\"")
        days, *rest = m.groups()
        parts = [int(p) for p in rest if p is not None]
        h, mi, sec = ([0] * (3 - len(parts)) + parts)[-3:]
        minutes = int(days or 0) * 1440 + h * 60 + mi + (sec > 0)
    if minutes <= 0:
        raise ValueError(f"executor.slurm.time = {value!r}: must be more than 0 minutes")
    return minutes


class DaskSettings(Section):
    """``[executor.dask]``: a scheduler address, or none for a LocalCluster of ``workers`` processes."""

    address: str | None = None


class ExecutorSpec(Section):
    kind: Literal["local", "slurm", "dask"] = "local"
    workers: int = Field(1, strict=True, ge=1)
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
    minutes: Number | None = Field(None, gt=0)  # estimated wall minutes (cpu: 2 cores, local executor, 1 worker)
    preset: str | None = None
    config: str | None = None
    seeds: list[StrictInt] | None = None
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


# -- the file -----------------------------------------------------------------------------------

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
        raise ConfigError(f"scale = {scale}: this study file has no [scale.*] tables; leave scale out")
    scale = scale if scale is not None else default_scale(spec)
    if scale is None:
        return spec, None
    if scale not in spec.scale:
        raise ConfigError(f"scale = {scale!r}: unknown scale; this study has {', '.join(spec.scale)}")
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
            raise ConfigError(f"overrides: {item!r} is not key=value, e.g. train.steps=500")
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
