"""Shared fixtures: a tiny config and a tiny trained run (8x8 images, width-8 UNet); helpers are in builders.py."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: N workers share the cores, one torch thread each
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"  # before torch loads; subprocesses inherit

import pytest  # noqa: E402

from manifold_lens.config import load_config  # noqa: E402
from tests.builders import QUIET, TINY  # noqa: E402


def _trainers_from_checkout() -> None:
    """Import the repository's trainers/ as ``manifold_lens.trainers`` where the environment's install predates
    that layout (an older ``pip install -e .``); a current install maps it itself and this does nothing."""
    if importlib.util.find_spec("manifold_lens.trainers") is not None:
        return
    folder = Path(__file__).resolve().parents[1] / "trainers"
    spec = importlib.util.spec_from_file_location("manifold_lens.trainers", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)


_trainers_from_checkout()


@pytest.fixture
def tiny_config():
    """A validated, resolved config that trains in about a second."""
    return load_config("quick", overrides=TINY)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A tiny run store trained once per test session (read-only for tests)."""
    from manifold_lens.trainers.train import train

    path = tmp_path_factory.mktemp("runs") / "tiny.zarr"
    train(load_config("quick", overrides=TINY), path, **QUIET)
    return path


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """A study directory of 2 keep fractions x 2 seeds, trained, evaluated and analysed (read-only for tests)."""
    from tests.builders import make_study

    return make_study(tmp_path_factory.mktemp("study") / "tiny-study")


@pytest.fixture(scope="session")
def failed_study(tiny_study, tmp_path_factory):
    """A copy of ``tiny_study`` with two more runs: one failed, one missing (read-only for tests)."""
    import shutil

    from tests.builders import add_failed_runs

    root = tmp_path_factory.mktemp("failed") / "study"
    shutil.copytree(tiny_study, root)
    add_failed_runs(root)
    return root
