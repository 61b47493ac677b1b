"""The study file: run table (ids, grid x cases x seeds) and each bad input as one line, nothing created."""

from __future__ import annotations

import sys

import pytest

from manifold_lens.studies import load_study
from tests.builders import invoke
from tests.studies.study_files import write_study

CASES = ('[[study.cases]]\nname = "wide"\nset = { "data.sigma" = 1.5 }\n'
         '[[study.cases]]\nname = "narrow"\nset = { "data.sigma" = 0.75 }\n')


def test_run_table_crosses_cases_grid_and_seeds(tmp_path):
    f = write_study(tmp_path / "s.toml", grid='"data.keep_fraction" = [0.5, 1.0]\n"train.lr" = [0.001]',
                    cases=CASES, seeds="[3, 4]")
    study = load_study(f)
    ids = [r["run_id"] for r in study.runs]
    assert len(ids) == 2 * 2 * 2 and len(set(ids)) == 8
    assert ids[0] == "case=wide,keep_fraction=0.5,lr=0.001,seed=3"
    assert ids[-1] == "case=narrow,keep_fraction=1,lr=0.001,seed=4"
    assert study.keys == ["data.keep_fraction", "train.lr", "data.sigma"]
    r = study.runs[-1]
    assert r["case"] == "narrow" and r["seed"] == 4
    assert r["swept"] == {"data.keep_fraction": 1.0, "train.lr": 0.001, "data.sigma": 0.75}
    assert r["config"]["train"]["seed"] == 4 and r["config"]["data"]["image_size"] == 8
    assert r["config"]["data"]["sigma_x"] == 0.75  # resolved
    assert study.stages["evaluate"] == {"checkpoints": "last", "steps": 2, "samples_per_condition": 1}


def test_a_seed_is_a_replicate_of_weights_and_training_subset(tmp_path):
    f = write_study(tmp_path / "s.toml", grid='"data.keep_fraction" = [0.5]', seeds="[3, 4]")
    runs = load_study(f).runs
    assert [(r["config"]["train"]["seed"], r["config"]["data"]["seed"]) for r in runs] == [(3, 3), (4, 4)]
    from manifold_lens.datasets import SyntheticDataset
    from manifold_lens.config import RunConfig
    kept = [set(SyntheticDataset(RunConfig(**r["config"]).data).train_index.tolist()) for r in runs]
    assert kept[0] != kept[1]  # two replicates train on different halves of the lattice
    f = write_study(tmp_path / "t.toml", grid='"data.keep_fraction" = [0.5]', seeds="[3, 4]",
                    extra_set='"data.seed" = 7')
    assert {r["config"]["data"]["seed"] for r in load_study(f).runs} == {7}  # an explicit data.seed wins


def test_colliding_names_use_the_full_key_and_ids_are_sanitized(tmp_path):
    f = write_study(tmp_path / "s.toml", grid='"data.seed" = [1, 2]\n"data.family" = ["bump"]', seeds="[0]",
                    cases='[[study.cases]]\nname = "a b/c"\nset = {}\n')
    ids = [r["run_id"] for r in load_study(f).runs]
    assert ids == ["case=a_b_c,seed=1,family=bump,seed=0", "case=a_b_c,seed=2,family=bump,seed=0"] or \
        ids == ["case=a_b_c,data.seed=1,family=bump,seed=0", "case=a_b_c,data.seed=2,family=bump,seed=0"]


def test_dry_run_prints_the_table_and_creates_nothing(tmp_path):
    f = write_study(tmp_path / "s.toml")
    out = tmp_path / "study"
    res = invoke("study", "run", f, "--out", out, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "4 runs" in res.output and "keep_fraction=0.5,seed=1" in res.output
    assert not out.exists()


def test_study_list_shows_the_example():
    res = invoke("study", "list")
    assert res.exit_code == 0 and "example" in res.output
    study = load_study(__import__("manifold_lens.studies", fromlist=["x"]).studies_dir() / "example.toml")
    assert [r["run_id"] for r in study.runs] == ["keep_fraction=0.25,seed=0", "keep_fraction=0.25,seed=1",
                                                 "keep_fraction=1,seed=0", "keep_fraction=1,seed=1"]


BAD = [
    (dict(extra_set='"data.colour" = 1'), "study.set: unknown key 'data.colour': valid keys in section [data]"),
    (dict(grid='"train.nope" = [1, 2]'), "study.grid: unknown key 'train.nope'"),
    (dict(cases='[[study.cases]]\nname = "x"\nset = { "model.nope" = 1 }\n'), "study.cases 'x'"),
    (dict(grid='"data.keep_fraction" = []'), "empty list"),
    (dict(grid='"data.keep_fraction" = [1.0, 1]'), "duplicate runs: keep_fraction=1,seed=0 and"),
    (dict(extra_set='"data.sigma" = [1, 2]'), "data.sigma = [1, 2]: expected a number"),
    (dict(grid='"data.keep_fraction" = 0.5'), "expected a list"),
    (dict(grid='"data.keep_fraction" = [0.5, 2.0]'), "run keep_fraction=2,seed=0: data.keep_fraction = 2.0"),
    (dict(evaluate='steps = 0\n'), "[evaluate]"),
    (dict(evaluate='samplr = "ddim"\n'), "unknown key 'samplr' in [evaluate]: valid keys are"),
    (dict(analyze='mode = "sideways"\n'), ("[analyze] mode = 'sideways'", "[analyze] --mode 'sideways'")),
    (dict(analyze='checkpoints = "first"\n'), "[analyze] checkpoints = 'first'"),
    (dict(executor='kind = "slurm"\n'), "no Slurm here (sbatch is not on PATH)"),
    (dict(executor='kind = "k8s"\n'), "executor.kind = 'k8s': must be one of"),
]


@pytest.mark.parametrize("kwargs, message", BAD, ids=[(m if isinstance(m, str) else m[0])[:30] for _, m in BAD])
def test_bad_input_is_one_line_and_creates_nothing(tmp_path, kwargs, message):
    f = write_study(tmp_path / "s.toml", **kwargs)
    out = tmp_path / "study"
    res = invoke("study", "run", f, "--out", out)
    assert res.exit_code == 2, res.output
    messages = (message,) if isinstance(message, str) else message  # a study key is named as the key
    assert any(m in res.output for m in messages) and res.output.startswith("error: ")
    assert res.output.strip().count("\n") == 0, res.output
    assert not out.exists()


@pytest.mark.parametrize("kind, extra", [("slurm", "manifold-lens[slurm]"), ("dask", "manifold-lens[dask]")])
def test_an_executor_not_installed_names_the_extra(tmp_path, monkeypatch, kind, extra):
    monkeypatch.setitem(sys.modules, "submitit" if kind == "slurm" else "distributed", None)
    f = write_study(tmp_path / "s.toml")
    out = tmp_path / "study"
    res = invoke("study", "run", f, "--out", out, "--executor", kind)
    assert res.exit_code == 2 and f"pip install '{extra}'" in res.output, res.output
    assert not out.exists()


def test_another_study_in_the_same_directory_is_refused(tmp_path):
    from manifold_lens.studies.runner import _write_layout

    out = tmp_path / "study"
    _write_layout(out, load_study(write_study(tmp_path / "a.toml")))
    res = invoke("study", "run", write_study(tmp_path / "b.toml", seeds="[5]"), "--out", out)
    assert res.exit_code == 2 and "holds another study" in res.output, res.output
