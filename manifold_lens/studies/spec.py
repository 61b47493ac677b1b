"""Loading a study: a study file (:mod:`.studyfile`) resolved into its runs and checked before anything runs.

:func:`load_study` reads and checks everything (every run's config, its
memory, the stage settings) and returns a :class:`Study`; bad input is one
:class:`~manifold_lens.errors.ConfigError` line naming the key, the value and
the run. It takes a path, or the name of a bundled study
(``data/studies/NAME.toml``, :func:`~manifold_lens.studies.bundled.resolve_study`), and ``overrides``
(``key=value`` strings, as ``--set``) applied over every run. The file's
format is described in :mod:`.studyfile` (whose names are re-exported here).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import SEED_MAX, load_config, validate_section
from ..errors import ConfigError
from ..memory import check_dataset_memory
from .bundled import resolve_study
from .layout import check_run_id, check_swept_keys
from .stages import STAGES, check_executor, check_stage
from .studyfile import (CaseSpec, DaskSettings, ExecutorSpec, ScaleCase, ScaleSpec, SlurmSettings, StudyFile,
                        StudyHeader, apply_scale, case_grids, count_runs, default_scale, parse_overrides,
                        read_study_file)

__all__ = ["CaseSpec", "DaskSettings", "ExecutorSpec", "ScaleCase", "ScaleSpec", "SlurmSettings", "StudyFile",
           "StudyHeader", "Study", "apply_scale", "case_grids", "count_runs", "default_scale", "parse_overrides",
           "read_study_file", "load_study", "check_size", "format_value", "short_names", "run_id", "dotted"]

ID_CHARS = re.compile(r"[^A-Za-z0-9_.=,+-]")  # what layout.RUN_ID does not allow


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
    ids: dict[str, str] = {}
    for name in names:
        sid = ID_CHARS.sub("_", name)
        if sid in ids:
            raise ConfigError(f"study.cases: names {ids[sid]!r} and {name!r} give the same run id part 'case={sid}' "
                              "(characters other than letters, digits and _.=,+- become '_'); rename one")
        ids[sid] = name
    for where, grid in [("study.grid", head.grid), *((f"study.cases {c.name!r} grid", c.grid) for c in head.cases)]:
        check_swept_keys(grid, where)
    for where, items in [("study.set", head.set), *((f"study.cases {c.name!r} set", c.set) for c in head.cases)]:
        check_swept_keys(items, where)


def check_size(spec: StudyFile, max_runs: int | None = None) -> int:
    """The study's run count (product of its grid's lengths x seeds, summed over cases), computed without resolving
    a run; a one-line error above ``max_runs`` (default: the file's ``[study] max_runs``)."""
    n = count_runs(spec)
    cap = spec.study.max_runs if max_runs is None else max_runs
    if n > cap:
        raise ConfigError(f"study: {n} runs (the grid's sizes x {len(spec.study.seeds)} seeds"
                          f"{f' over {len(spec.study.cases)} cases' if spec.study.cases else ''}), more than the cap of "
                          f"{cap} (max_runs); shrink the grid, or raise the cap if you mean it")
    return n


def load_study(path: str | Path, *, scale: str | None = None, overrides: list[str] | dict | None = None,
               executor: str | None = None, workers: int | None = None, check_memory: bool = True,
               max_runs: int | None = None, extend=None) -> Study:
    """Read, resolve and check a study (a file, or a bundled study's name) at a scale, with ``--set`` overrides.

    Checks the run count first (:func:`check_size`; ``max_runs`` overrides the
    file's ``[study] max_runs``), then every run's config and memory, the stage
    settings and the executor.
    ``extend``: a function of the scaled :class:`StudyFile` returning the one to
    resolve (``study refine`` adds keep fractions and seeds this way).
    """
    path = resolve_study(path)
    text, spec = read_study_file(path)
    spec, scale = apply_scale(spec, scale)
    spec = extend(spec) if extend is not None else spec
    extra = parse_overrides(overrides)
    if executor is not None or workers is not None:
        ex = spec.executor.model_dump()
        ex.update({k: v for k, v in (("kind", executor), ("workers", workers)) if v is not None})
        spec.executor = validate_section(ExecutorSpec, ex, "executor")
    head = spec.study
    _check_header(head)
    check_size(spec, max_runs)
    config_file = (path.parent / head.config) if head.config else None
    grids = case_grids(head)
    grid_keys = list(dict.fromkeys(k for _, _, g in grids for k in g))
    sources = [("study.set", head.set), *((f"study.grid{f' (case {c!r})' if c else ''}",
                                           {k: v[0] for k, v in g.items()}) for c, _, g in grids),
               *((f"study.cases {c.name!r}", c.set) for c in head.cases), ("overrides", extra)]
    base = load_config(head.preset, config_file, None)
    for where, items in sources:  # each key alone first: an unknown key names where it came from
        for key, value in items.items():
            if key == "train.seed":
                raise ConfigError(f"{where}: 'train.seed' is set by [study] seeds; remove it from {where}")
            if where == "overrides" and key in grid_keys:
                raise ConfigError(f"overrides: {key} is swept by the study's grid; change the grid in the study file "
                                  "instead")
            try:
                base.with_overrides({key: value}).checked()
            except ConfigError as e:
                if "unknown key" in str(e):
                    raise ConfigError(f"{where}: {e}") from None

    case_keys = [k for c in head.cases for k in c.set if k not in grid_keys]
    keys = grid_keys + list(dict.fromkeys(case_keys))
    ids = short_names(grid_keys)
    runs, seen, configs, taken = [], {}, [], set()
    for case_name, case_set, grid in grids:
        for combo in itertools.product(*grid.values()):
            values = dict(zip(grid, combo))
            for seed in head.seeds:
                rid = check_run_id(run_id(ids, values, case_name, seed), "run id")
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
                if rid in taken:
                    raise ConfigError(f"two runs would be called {rid!r}: their values differ beyond what the id "
                                      "shows (6 significant digits, other characters than _.=,+- as '_'); use values "
                                      "that differ there")
                seen[key] = rid
                taken.add(rid)
                configs.append(cfg)
                runs.append({"run_id": rid, "case": case_name, "seed": int(seed),
                             "swept": {k: dotted(d, k) for k in keys}, "config": d})
    stages = {s: check_stage(s, getattr(spec, s), configs) for s in STAGES}
    check_executor(spec.executor)
    return Study(head.name, path.resolve(), text, keys, runs, stages, spec.executor, head.description,
                 claim=head.claim, scale=scale, overrides=extra)
