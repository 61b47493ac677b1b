"""Workers never outlive their runner (issue 25): SIGKILL the `study run` process alone, mid-training, and every
worker it started is gone within seconds, holding no lock; a second runner is refused while it lives; the rerun
finishes the study cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manifold_lens.studies import run_study
from tests.builders import invoke
from tests.studies.study_files import write_study

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    out = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.add(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _running_pids(out: Path) -> set[int]:
    pids = set()
    for s in out.glob("runs/*/status.json"):
        try:
            st = json.loads(s.read_text())
        except ValueError:
            continue
        if st.get("state") == "running" and st.get("pid"):
            pids.add(int(st["pid"]))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigkill_of_the_runner_takes_its_workers(tmp_path):
    f = write_study(tmp_path / "tiny.toml", seeds="[0, 1]", analyze="enabled = false\n",
                    extra_set='"train.steps" = 150\n"train.checkpoint_every" = 50')
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", "study", "run", str(f), "--out",
                             str(out), "--workers", "2", "--no-progress"], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while len(_running_pids(out)) < 2:
            assert proc.poll() is None, f"exited ({proc.returncode}) early"
            assert time.monotonic() < deadline, "no two runs started within 180 s"
            time.sleep(0.05)
        workers = _running_pids(out) | _children(proc.pid)
        assert workers
        second = invoke("study", "run", f, "--out", out, "--no-progress")  # a second runner: refused
        assert second.exit_code == 2 and f"another runner holds it: process {proc.pid}" in second.output, \
            second.output
        os.kill(proc.pid, signal.SIGKILL)  # the runner alone, not its process group
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "a worker outlived its runner"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        for p in workers:  # never leave one behind, whatever the test found
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    statuses = run_study(f, out, workers=2, progress=False, overrides=None)
    assert [s["state"] for s in statuses] == ["done"] * 4
