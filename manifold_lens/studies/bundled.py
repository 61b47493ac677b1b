"""The bundled studies: study files shipped in ``data/studies/`` (package data), found by name.

:func:`resolve_study` turns a study file's path or a bundled study's name
into a path; :func:`list_studies` describes each bundled study (its claim,
and its runs and estimated minutes at a scale).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from .studyfile import apply_scale, count_runs, read_study_file


def studies_dir():
    """The folder of bundled study files (package data, like the presets)."""
    return resources.files("manifold_lens.data") / "studies"


def resolve_study(study: str | Path) -> Path:
    """A study file's path: ``study`` itself when it is a file, else the bundled ``data/studies/<study>.toml``."""
    path = Path(study)
    if path.is_file():
        return path
    name = path.name[:-5] if path.name.endswith(".toml") else path.name
    bundled = studies_dir() / f"{name}.toml"
    if str(study) in (name, f"{name}.toml") and bundled.is_file():
        return Path(str(bundled))
    names = ", ".join(n for n, *_ in _bundled_files())
    raise ConfigError(f"{study}: no such study file or bundled study (bundled: {names})")


def _bundled_files() -> list[tuple[str, object]]:
    return [(p.name[:-5], p) for p in sorted(studies_dir().iterdir(), key=lambda p: p.name)
            if p.name.endswith(".toml")]


def list_studies(scale: str = "cpu") -> list[dict]:
    """Each bundled study: name, claim, description, and at ``scale`` (when it has it) its runs and minutes.

    ``runs`` is counted from the grid, cases and seeds; ``minutes`` is the
    file's own estimate for that scale (None when it gives none).
    """
    out = []
    for name, p in _bundled_files():
        _, spec = read_study_file(Path(str(p)))
        row = {"name": name, "claim": spec.study.claim, "description": spec.study.description,
               "scales": list(spec.scale), "runs": None, "minutes": None}
        if not spec.scale or scale in spec.scale:
            scaled, used = apply_scale(spec, scale if spec.scale else None)
            row.update(runs=count_runs(scaled), minutes=spec.scale[used].minutes if used else None)
        out.append(row)
    return out
