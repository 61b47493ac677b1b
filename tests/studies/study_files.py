"""Tiny study files for the study tests (a plain module: no tests, no fixtures)."""

from __future__ import annotations

from pathlib import Path

from tests.builders import TINY

# tiny stages: the last checkpoint, 2 DDIM steps, one sample per condition; 2 noise draws
EVALUATE = 'checkpoints = "last"\nsteps = 2\nsamples_per_condition = 1\n'
ANALYZE = 'checkpoints = "last"\nnoise_draws = 2\nreferences = false\n'


def tiny_set(skip: str = "") -> str:
    """The TINY overrides as TOML lines, leaving out keys that ``skip`` (more TOML lines) sets."""
    lines = []
    for o in TINY:
        k, v = o.split("=", 1)
        if f'"{k}"' not in skip:
            lines.append(f'"{k}" = {v}')
    return "\n".join(lines)


def write_study(path: Path, *, grid: str = '"data.keep_fraction" = [0.5, 1.0]', seeds: str = "[0, 1]",
                extra_set: str = "", evaluate: str = EVALUATE, analyze: str = ANALYZE, executor: str = "",
                cases: str = "", head: str = 'preset = "quick"') -> Path:
    """A study file at ``path``: the TINY settings, a grid, seeds and tiny stages."""
    path.write_text(f'[study]\nname = "tiny"\n{head}\nseeds = {seeds}\n\n[study.set]\n{tiny_set(extra_set)}\n{extra_set}\n\n'
                    f'[study.grid]\n{grid}\n\n{cases}\n[evaluate]\n{evaluate}\n[analyze]\n{analyze}\n'
                    f'[executor]\n{executor}\n')
    return path
