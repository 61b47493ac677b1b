"""Hostile input through the CLI: every case is exit status 2, one line, no traceback, and no store changed.

The table follows issue 10 case by case: sizes that would exhaust memory,
non-finite numbers, unreadable config files, damaged or crafted run stores,
and ``--replace`` aimed at something that is not a run store. Each case
runs against copies of one tiny trained run, and every file under the test
folder is fingerprinted before and after: a refused command writes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import zarr

from manifold_lens import open_run
from manifold_lens.errors import StoreError
from tests.builders import TINY, fingerprint, invoke, set_args

SETS = set_args(TINY)


def set_root_attr(store: Path, key: str, value) -> None:
    g = zarr.open_group(str(store), mode="r+")
    if value is DELETE:
        attrs = g.attrs.asdict()
        attrs.pop(key)
        meta = json.loads((store / "zarr.json").read_text())
        meta["attributes"] = attrs
        (store / "zarr.json").write_text(json.dumps(meta))
    else:
        g.attrs[key] = value


DELETE = object()


def chunk_of(store: Path, array: str, row: int = -1) -> Path:
    """The chunk file of one checkpoint's row of a per-checkpoint array (one row per chunk; -1: the last committed)."""
    if row < 0:
        row += zarr.open_group(str(store), mode="r").attrs["committed"]
    ndim = zarr.open_array(str(store / array), mode="r").ndim
    return store / array / "c" / str(row) / Path(*["0"] * (ndim - 1))


# -- damaging a copy of the tiny run -------------------------------------------------

def truncate_chunk(run: Path) -> None:
    f = chunk_of(run, "checkpoints/ema/conv_in/weight")
    f.write_bytes(f.read_bytes()[:10])


def delete_chunk(run: Path) -> None:
    chunk_of(run, "checkpoints/ema/conv_in/weight").unlink()


def drop_config(run: Path) -> None:
    set_root_attr(run, "config", DELETE)


def extra_param_name(run: Path) -> None:
    names = zarr.open_group(str(run), mode="r").attrs["param_names"]
    set_root_attr(run, "param_names", [*names, "ghost.weight"])


def delete_conditions(run: Path) -> None:
    shutil.rmtree(run / "dataset" / "conditions")


def bad_schema_version(run: Path) -> None:
    set_root_attr(run, "schema_version", "abc")


def committed_99(run: Path) -> None:
    set_root_attr(run, "committed", 99)


def huge_stored_model(run: Path) -> None:
    config = zarr.open_group(str(run), mode="r").attrs["config"]
    config["model"]["base_channels"] = 200000
    set_root_attr(run, "config", config)


DAMAGE = {
    "truncated chunk": (truncate_chunk, "parameter conv_in.weight (ema) cannot be read"),
    "deleted ema chunk": (delete_chunk, "parameter conv_in.weight (ema) does not match the checksum"),
    "no config attribute": (drop_config, "root attribute 'config' is missing"),
    "extra param_names entry": (extra_param_name, "extra: ghost.weight"),
    "conditions deleted": (delete_conditions, "group dataset/conditions is missing"),
    "schema_version abc": (bad_schema_version, "schema_version = 'abc' is not a version number"),
    "committed 99": (committed_99, "committed = 99 but only"),
    "crafted huge model": (huge_stored_model, "the stored model"),
}


@pytest.fixture
def workdir(tmp_path, tiny_run):
    """A folder holding a copy of the tiny run (``run.zarr``) to damage."""
    shutil.copytree(tiny_run, tmp_path / "run.zarr")
    return tmp_path


def assert_one_line_error(res, message: str) -> None:
    assert res.exit_code == 2, (res.output, res.exception)
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("error: ")


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", ["evaluate", "layers"])
def test_damaged_run_store_is_one_line(workdir, case, command):
    damage, message = DAMAGE[case]
    run = workdir / "run.zarr"
    damage(run)
    before = fingerprint(workdir)
    args = (["evaluate", run, "--out", workdir / "results.zarr", "--steps", "2",
             "--samples-per-condition", "1", "--no-progress"] if command == "evaluate" else ["layers", run])
    res = invoke(*args)
    assert_one_line_error(res, message)
    assert fingerprint(workdir) == before


def test_deleted_weight_chunk_is_caught_on_load(workdir):
    """Zarr reads a deleted chunk back as zeros; the checksum recorded at commit catches it, naming the step."""
    run = workdir / "run.zarr"
    chunk_of(run, "checkpoints/params/conv_in/weight", row=0).unlink()
    with pytest.raises(StoreError, match=r"checkpoint at step 0: parameter conv_in.weight \(params\) does not match"):
        open_run(run).state_dict(0, ema=False)
    open_run(run).state_dict(0, ema=True)  # the other rows are intact and load
    open_run(run).load_model()  # the last checkpoint is intact


def test_open_run_none():
    with pytest.raises(StoreError, match="expected the path of a run store, got None"):
        open_run(None)


# -- train: sizes, non-finite numbers, seeds -----------------------------------------

TRAIN_CASES = [
    (["data.image_size=100000"], "the dataset"),
    (["data.spacing=1e-6"], "the dataset"),
    (["train.steps=1000000000000"], "checkpoints (at most"),
    (["model.base_channels=100000"], "lower model.base_channels"),
    (["model.embed_dim=1000000000"], "lower model.base_channels or model.embed_dim"),
    (["train.batch_size=1000000000"], "lower train.batch_size"),
    (["train.seed=1e30"], "train.seed = 1e+30: too large an integer"),
    (["train.seed=-1"], "train.seed = -1: must be >= 0"),
    (["train.weight_decay=nan"], "train.weight_decay = nan: must be a finite number"),
    (["data.sigma=inf"], "data.sigma = inf: must be a finite number"),
    (["train.grad_clip=nan"], "train.grad_clip = nan: must be a finite number"),
    (["data.rim=nan"], "data.rim = nan: must be a finite number"),
    (["data.holdout.kind=band_x", "data.holdout.width=nan"], "data.holdout.width = nan: must be a finite number"),
]


@pytest.mark.parametrize("overrides, message", TRAIN_CASES)
def test_train_refuses_before_any_work(tmp_path, overrides, message):
    out = tmp_path / "run.zarr"
    res = invoke("train", "--out", out, *SETS, *set_args(overrides), "--no-progress")
    assert_one_line_error(res, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, suffix, message", [
    (bytes(range(256)) * 4, ".toml", "not a text file"),
    (b'{"train": {"steps": 5', ".json", "not valid JSON"),
    (b"[train\nsteps = 5", ".toml", "not valid TOML"),
    (b"[1, 2]", ".json", "must be an object of sections"),
])
def test_unreadable_config_files(tmp_path, content, suffix, message):
    cfg = tmp_path / f"config{suffix}"
    cfg.write_bytes(content)
    res = invoke("train", "--out", tmp_path / "run.zarr", "--config", cfg, "--no-progress")
    assert_one_line_error(res, message)
    assert not (tmp_path / "run.zarr").exists()


# -- other commands ------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["percolate", "--sigma", "inf", "--no-progress"], "--sigma inf: must be a finite number"),
    (["percolate", "--sigma", "1", "--lattice", "0", "--no-progress"], "--lattice 0: needs at least 2 sites"),
    (["percolate", "--sigma", "1", "--spacing", "nan", "--no-progress"], "--spacing nan x nan: must be a finite"),
    (["datasets", "preview", "--examples", "-1"], "--examples -1: must be >= 1"),
])
def test_other_commands_refuse(tmp_path, args, message):
    out = tmp_path / ("results.zarr" if args[0] == "percolate" else "preview.png")
    res = invoke(*args, "--out", out)
    assert_one_line_error(res, message)
    assert not out.exists()


def test_evaluate_eta_nan(workdir):
    before = fingerprint(workdir)
    res = invoke("evaluate", workdir / "run.zarr", "--out", workdir / "results.zarr", "--eta", "nan",
                 "--no-progress")
    assert_one_line_error(res, "--eta nan: must be a finite number >= 0")
    assert fingerprint(workdir) == before


# -- --replace writes over a run store and nothing else --------------------------------

def test_replace_refuses_what_is_not_a_run_store(workdir):
    results = workdir / "results.zarr"
    res = invoke("percolate", "--sigma", "1", "--lattice", "16", "--trials", "1", "--out", results, "--no-progress")
    assert res.exit_code == 0, res.output
    other = workdir / "other.zarr"
    zarr.open_group(str(other), mode="w").attrs["mine"] = 1
    folder = workdir / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("keep me")
    before = fingerprint(workdir)
    for target, what in [(results, "is a manifold-lens.results store"), (other, "is a Zarr store that is not a run"),
                         (folder, "is a folder of other files")]:
        res = invoke("train", "--out", target, "--replace", *SETS, "--no-progress")
        assert_one_line_error(res, f"{target} {what}; --")
        assert "only a run store" in res.output
    assert fingerprint(workdir) == before
    res = invoke("train", "--out", workdir / "run.zarr", "--replace", *SETS, "--no-progress")  # a run store: yes
    assert res.exit_code == 0, res.output
