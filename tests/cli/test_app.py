"""The command line as a whole: --version, --help without torch, --json, deprecated flags, errors in its flags."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main

import manifold_lens
from manifold_lens.cli import app
from manifold_lens.cli.flags import to_flags
from manifold_lens.config import load_config
from manifold_lens.errors import ManifoldLensError
from manifold_lens.studies import study_status
from tests.builders import TINY, invoke, set_args, write_run_status, write_study_manifest

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--steps", "2", "--samples-per-condition", "1", "--no-progress"]


def _params(*path: str):
    """The click parameters of ``manifold-lens PATH...`` (e.g. ``"percolate", "test"``)."""
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.get_command(None, name)
    return cmd.params


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter from the repository root; its stdout."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_help_and_version_import_no_torch():
    out = _python("import sys\n"
                  "from typer.testing import CliRunner\n"
                  "from manifold_lens.cli import app\n"
                  "r = CliRunner().invoke(app, ['--help'])\n"
                  "v = CliRunner().invoke(app, ['--version'])\n"
                  "assert r.exit_code == 0 and 'quickstart' in r.output, r.output\n"
                  "print(v.exit_code, v.output.strip(), 'torch' in sys.modules, 'xarray' in sys.modules)\n")
    assert out.split() == ["0", "manifold-lens", manifold_lens.__version__, "False", "False"]


def test_import_manifold_lens_is_lazy():
    out = _python("import sys, manifold_lens as ml\n"
                  "print('torch' in sys.modules, 'manifold_lens.stores' in sys.modules)\n"
                  "print(ml.open_run.__module__, ml.stores.__name__, 'open_run' in dir(ml), 'torch' in sys.modules)\n")
    assert out.splitlines() == ["False False", "manifold_lens.stores.run manifold_lens.stores True True"]
    assert set(manifold_lens.__all__) <= set(dir(manifold_lens))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        manifold_lens.nope  # noqa: B018


def test_pyproject_entry_points_name_the_installed_modules():
    """The console script and the plugins resolve under the package's own name (nothing top-level)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    targets = [*project["scripts"].values(), *(v for group in project["entry-points"].values() for v in group.values())]
    assert targets == ["manifold_lens.cli:app", "manifold_lens.trainers.unet:build_unet",
                       "manifold_lens.interop.diffusers_models:build_unet2d",
                       "manifold_lens.interop.diffusers_models:build_unet2d_condition",
                       "manifold_lens.trainers.train:train"]
    for target in targets:
        module, attr = target.split(":")
        assert callable(getattr(importlib.import_module(module), attr))


def test_version_is_the_package_version():
    res = invoke("--version")
    assert res.exit_code == 0 and res.output == f"manifold-lens {manifold_lens.__version__}\n"
    assert manifold_lens.__version__.count(".") >= 2


@pytest.mark.parametrize("command, message, expected", [
    (("evaluate",), "tolerance = -1: must be > 0 px", "--tolerance -1: must be > 0 px"),
    (("evaluate",), "group evaluation/x exists; pass replace=True to write over it",
     "group evaluation/x exists; pass --replace to write over it"),
    (("evaluate",), "seed=1.5, progress=False", "--seed 1.5, --no-progress"),
    (("evaluate",), "steps = 2000 > timesteps = 1000 of the run", "--steps 2000 > timesteps = 1000 of the run"),
    (("train",), "data.sigma=3 differs; give resume=True or replace=True", "data.sigma=3 differs; give --resume or "
     "--replace"),
    (("train",), "overwrite=True is the former replace=True", "--replace is the former --replace"),
    (("quickstart",), "out = qs: already holds files", "OUT qs: already holds files"),
    (("percolate",), "lattice_side = 1: must be >= 2; method='pixels'",
     "--lattice 1: must be >= 2; --overlap 'pixels'"),
    (("percolate", "design"), "sigma = [0.5, -1]: widths must be > 0 px", "--sigma [0.5, -1]: widths must be > 0 px"),
    (("layers",), "tolerance = -1", "tolerance = -1"),  # not a parameter of this command: unchanged
])
def test_library_parameter_names_become_the_command_flags(command, message, expected):
    assert to_flags(message, _params(*command)) == expected


def test_library_error_is_one_line_in_the_command_flags(monkeypatch, tmp_path):
    import manifold_lens.evaluation

    def refuse(*args, **kwargs):
        raise ManifoldLensError("tolerance = -1: must be > 0 px; pass replace=True to write over evaluation/x")

    monkeypatch.setattr(manifold_lens.evaluation, "evaluate_run", refuse)
    res = invoke("evaluate", tmp_path / "run.zarr", "--out", tmp_path / "r.zarr", "--tolerance", "-1")
    assert res.exit_code == 2
    assert res.output == "error: --tolerance -1: must be > 0 px; pass --replace to write over evaluation/x\n"


def test_train_replace_and_its_deprecated_overwrite_alias(tmp_path):
    out = tmp_path / "run.zarr"
    res = invoke("train", "--out", out, *set_args(TINY), "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["path"] == str(out) and doc["checkpoints"][0] == 0 and doc["checkpoints"][-1] == 12
    assert doc["final_loss"] > 0
    res = invoke("train", "--out", out, *set_args(TINY), "--no-progress", "--replace")
    assert res.exit_code == 0 and "deprecated" not in res.output
    res = invoke("train", "--out", out, *set_args(TINY), "--no-progress", "--overwrite")
    assert res.exit_code == 0, res.output
    assert "note: --overwrite is deprecated and will be removed; use --replace" in res.stderr
    assert "--overwrite" not in invoke("train", "--help").output  # hidden


def test_layers_json_lists_what_the_table_lists(tiny_run):
    from manifold_lens.analysis import run_layers

    res = invoke("layers", tiny_run, "--json")
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    infos, aliases, defaults = run_layers(tiny_run)
    assert list(rows) == [i.name for i in infos]
    assert rows["encoder.2"]["alias"] == "layer4" and rows["encoder.2"]["output_shape"] == [1, 16, 2, 2]
    assert rows["bottleneck"]["default"] is True and rows["conv_in"]["module_type"] == "Conv2d"


def test_evaluate_and_analyze_json(tiny_run, tmp_path):
    from manifold_lens.stores import read_results

    out = tmp_path / "r.zarr"
    res = invoke("evaluate", tiny_run, "--out", out, "--checkpoints", "all", *FAST, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    ds = read_results(out, "evaluation", "ddim2_k1")
    assert doc["group"] == "evaluation/ddim2_k1" and doc["sampler_steps"] == 2
    assert [r["step"] for r in doc["checkpoints"]] == ds["checkpoint"].values.tolist()
    assert doc["checkpoints"][-1]["accuracy"] == pytest.approx(float(ds["accuracy"][-1]))
    assert sum(doc["checkpoints"][-1]["phases"].values()) == pytest.approx(1.0)

    res = invoke("analyze", tiny_run, "--out", out, "--checkpoints", "last", "--noise-draws", 2, "--no-progress",
                 "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    ds = read_results(out, "analysis", "default")
    assert doc["group"] == "analysis/default" and doc["checkpoints"] == ds["checkpoint"].values.tolist()
    row = doc["metrics"][0]
    learned = ds.sel(layer=row["layer"], timestep=row["timestep"]).isel(checkpoint=-1)
    if "reference" in learned.dims:
        learned = learned.sel(reference="learned")
    assert row["last"]["effective_dim"] == pytest.approx(float(learned["effective_dim"]), nan_ok=True)


def test_percolate_json(tmp_path):
    from manifold_lens.stores import read_results

    out = tmp_path / "r.zarr"
    res = invoke("percolate", "--sigma", "0.3", "1", "--lattice", 48, "--trials", 3, "--keep-fractions", "0.2", "0.9",
                 "--out", out, "--no-progress", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    ds = read_results(out, "percolation", "default")
    assert doc["lattice"] == [48, 48] and doc["trials"] == 3 and [r["sigma"] for r in doc["sigma"]] == [0.3, 1.0]
    assert doc["sigma"][0]["neighbour_count"] == 4
    assert doc["sigma"][1]["lambda_c"] == pytest.approx(float(ds.lambda_c.sel(sigma=1.0)))


def test_study_status_json(tmp_path):
    config = load_config("quick").to_dict()
    runs = [{"run_id": f"keep_fraction={k},seed=0", "case": "", "seed": 0, "swept": {"data.keep_fraction": k},
             "config": config} for k in (0.5, 1.0)]
    write_study_manifest(tmp_path, runs, keys=["data.keep_fraction"])
    write_run_status(tmp_path, runs[0]["run_id"], "done")
    for store in ("run.zarr", "results.zarr"):  # a done run has its stores; without them it is "missing"
        (tmp_path / "runs" / runs[0]["run_id"] / store).mkdir()
    write_run_status(tmp_path, runs[1]["run_id"], "failed", "ValueError: boom")
    res = invoke("study", "status", tmp_path, "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["counts"] == {"done": 1, "failed": 1}
    assert [r["run_id"] for r in doc["runs"]] == [r["run_id"] for r in study_status(tmp_path)]
    assert doc["runs"][0]["seconds"] == 5.0 and doc["runs"][1]["state"] == "failed"
    text = invoke("study", "status", tmp_path)
    assert text.exit_code == 0 and text.output.splitlines()[-1] == "1 done, 1 failed"
