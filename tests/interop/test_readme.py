"""The README's "Your own checkpoints" runs as written: the snippet, then import -> evaluate -> analyze -> report
-> export, each command in a new process, and the Python equivalent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def blocks() -> dict[str, list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Your own checkpoints", 1)[1].split("\n## ", 1)[0]
    found: dict[str, list[str]] = {}
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.S):
        found.setdefault(lang, []).append(body)
    return found


def run(args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{args}: {proc.stderr[-3000:]}"
    return proc.stdout


def test_the_readme_section_has_its_parts():
    b = blocks()
    assert len(b["python"]) == 2 and len(b["toml"]) == 1 and len(b["bash"]) == 1
    assert len(b["python"][1].strip().splitlines()) < 20
    assert [line.split()[1] for line in b["bash"][0].strip().splitlines()] == ["import", "evaluate", "analyze",
                                                                               "report", "export"]


@pytest.mark.slow
def test_the_readme_commands_run_as_written(tmp_path):
    b = blocks()
    (tmp_path / "make_series.py").write_text(b["python"][0])
    (tmp_path / "adapter.toml").write_text(b["toml"][0])
    run([sys.executable, "make_series.py"], tmp_path)
    assert sorted(p.name for p in (tmp_path / "ckpts").iterdir()) == ["checkpoint-0", "checkpoint-100",
                                                                      "checkpoint-200"]
    py = tmp_path / "python"
    py.mkdir()
    shutil.copytree(tmp_path / "ckpts", py / "ckpts")
    shutil.copy(tmp_path / "adapter.toml", py / "adapter.toml")
    for line in b["bash"][0].strip().splitlines():
        run([sys.executable, "-m", "manifold_lens.cli", *line.split()[1:]], tmp_path)
    assert (tmp_path / "report" / "index.html").exists()
    assert sorted(p.name for p in (tmp_path / "exported").iterdir() if p.is_dir()) == [
        "checkpoint-0", "checkpoint-100", "checkpoint-200"]
    (py / "walk.py").write_text(b["python"][1])
    run([sys.executable, "walk.py"], py)
    assert (py / "report" / "index.html").exists() and (py / "exported" / "checkpoint-200" / "unet").is_dir()
