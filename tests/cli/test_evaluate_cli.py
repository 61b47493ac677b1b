"""`manifold-lens evaluate` end to end on a tiny trained run, and its refusals."""

import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from manifold_lens import open_results
from manifold_lens.config import load_config
from manifold_lens.evaluation import evaluate_run
from manifold_lens.stores import list_results, read_results
from manifold_lens.stores import open_run
from tests.builders import invoke

FAST = ["--steps", "5", "--samples-per-condition", "2", "--no-progress"]


def test_evaluate_all_checkpoints_through_the_cli(tiny_run, tmp_path):
    out = tmp_path / "results.zarr"
    r = invoke("evaluate", tiny_run, "--out", out, "--checkpoints", "all", *FAST)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "evaluation/ddim5_k2" in r.output
    assert "accuracy" in r.output and "phases A / B / C" in r.output and "by region" in r.output
    run = open_run(tiny_run)
    ds = read_results(out, "evaluation", "ddim5_k2")
    assert ds["checkpoint"].values.tolist() == run.steps
    n_cond = run.conditions.sizes["condition"]
    assert dict(ds.sizes) == {"checkpoint": len(run.steps), "condition": n_cond, "sample": 2,
                              "region_name": 1, "phase_name": 3}
    for name in ("x_hat", "y_hat", "n_bumps", "correct", "phase"):
        assert ds[name].dims == ("checkpoint", "condition", "sample")
    for name in ("accuracy", "accuracy_id", "accuracy_ood"):
        assert ds[name].dims == ("checkpoint",)
        assert ds[name].attrs["sampler"] == "ddim" and ds[name].attrs["sampler_steps"] == 5
    assert ds.accuracy_region.dims == ("checkpoint", "region_name")
    assert ds.accuracy_condition.dims == ("checkpoint", "condition")
    assert ds.phase_fraction.dims == ("checkpoint", "phase_name")
    assert ds.phase_name.values.tolist() == ["A", "B", "C"]
    for coord in ("x", "y", "region", "in_train", "family", "scored_axes"):
        assert ds[coord].dims == ("condition",)
    np.testing.assert_allclose(ds.phase_fraction.sum("phase_name"), 1.0)
    # the aggregates are the means of the stored per-sample scores
    np.testing.assert_allclose(ds.accuracy, ds.correct.mean(("condition", "sample")))
    np.testing.assert_allclose(ds.phase_fraction.sel(phase_name="C"), ds.accuracy)
    assert np.isnan(ds.accuracy_ood).all()  # the quick preset holds nothing out
    assert ds.attrs["source_run"] == str(Path(tiny_run).resolve())
    assert ds.attrs["ema"] is True and ds.attrs["seed"] == 0 and ds.attrs["tolerance_px"] == 1.0
    assert ds.attrs["config"]["data"]["image_size"] == 8  # JSON in the store, a dict again when read
    assert "image" not in ds
    # the memorising baseline, scored once: the quick preset trains every condition, each reproduces itself
    assert "nearest training condition (memorising): ID 100.0%, OOD n/a" in r.output
    assert ds.baseline_nearest_accuracy_region.dims == ("region_name",) and ds.baseline_nearest_accuracy.dims == ()
    assert float(ds.baseline_nearest_accuracy_id) == 1.0 and np.isnan(float(ds.baseline_nearest_accuracy_ood))
    # a second evaluation with other settings is kept apart; open_results sees both
    r = invoke("evaluate", tiny_run, "--out", out, "--sampler", "ddim", "--steps", "3", "--keep-images",
               "--samples-per-condition", "1", "--no-progress")
    assert r.exit_code == 0, r.output
    assert list_results(out)["evaluation"] == ["ddim3_k1", "ddim5_k2"]
    tree = open_results(out)
    assert tree["evaluation/ddim3_k1"].ds["image"].dims == ("checkpoint", "condition", "sample", "row", "col")
    attrs = tree["evaluation/ddim3_k1"].attrs  # decoded as read_results decodes them, not JSON strings
    assert isinstance(attrs["config"], dict) and attrs["localizer"]["method"] == "known-width Gaussian fit"


def test_no_baselines_leaves_the_memorising_baseline_out(tiny_run, tmp_path):
    out = tmp_path / "results.zarr"
    r = invoke("evaluate", tiny_run, "--out", out, *FAST, "--no-baselines", "--json")
    assert r.exit_code == 0, r.output
    assert "baseline_nearest" not in r.output
    ds = read_results(out, "evaluation", "ddim5_k2")
    assert not [v for v in ds.variables if str(v).startswith("baseline_")] and ds.attrs["baselines"] == []
    assert "--no-baselines" in invoke("evaluate", "--help").output


def test_same_name_is_refused_unless_replace(tiny_run, tmp_path):
    out = tmp_path / "results.zarr"
    assert invoke("evaluate", tiny_run, "--out", out, *FAST).exit_code == 0
    before = read_results(out, "evaluation", "ddim5_k2")
    r = invoke("evaluate", tiny_run, "--out", out, *FAST, "--seed", "0", "--checkpoints", "0")
    assert r.exit_code == 2 and "already exist" in r.output and "--replace" in r.output
    xr.testing.assert_identical(read_results(out, "evaluation", "ddim5_k2"), before)
    r = invoke("evaluate", tiny_run, "--out", out, *FAST, "--checkpoints", "0", "--replace")
    assert r.exit_code == 0, r.output
    assert read_results(out, "evaluation", "ddim5_k2")["checkpoint"].values.tolist() == [0]


def test_bad_input_gives_one_line_and_writes_nothing(tiny_run, tmp_path):
    out = tmp_path / "results.zarr"
    steps = open_run(tiny_run).steps
    cases = [
        (["--checkpoints", "7"], f"available steps: {', '.join(map(str, steps))}"),
        (["--steps", "1001"], "between 1 and T = 1000"),
        (["--sampler", "ddpm", "--steps", "50"], "all T = 1000 steps"),
        (["--sampler", "heun"], "--sampler"),
        (["--conditions", "heldout"], "no such conditions"),
        (["--tolerance", "0"], "--tolerance"),
    ]
    for extra, message in cases:
        r = invoke("evaluate", tiny_run, "--out", out, "--no-progress", *extra)
        assert r.exit_code == 2, (extra, r.output)
        assert message in r.output and r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
    assert not (out.exists() and list_results(out).get("evaluation"))
    # a run store given as --out (another store kind) is refused and left as it was
    before = sorted(p.name for p in Path(tiny_run).rglob("*"))
    other = tmp_path / "other.zarr"
    shutil.copytree(tiny_run, other)
    r = invoke("evaluate", tiny_run, "--out", other, *FAST)
    assert r.exit_code == 2 and "manifold-lens.run" in r.output and r.output.count("\n") == 1, r.output
    assert sorted(p.name for p in other.rglob("*")) == before
    r = invoke("evaluate", tiny_run, "--out", tiny_run, *FAST)
    assert r.exit_code == 2 and "run store itself" in r.output
    r = invoke("evaluate", tmp_path / "missing.zarr", "--out", out)
    assert r.exit_code == 2 and "no such run store" in r.output


def test_a_run_without_checkpoints_is_refused(tmp_path):
    from manifold_lens.datasets import SyntheticDataset
    from manifold_lens.stores import RunWriter

    cfg = load_config("quick", overrides=["data.image_size=8", "model.base_channels=8"])
    empty = tmp_path / "empty.zarr"
    RunWriter.create(empty, cfg, SyntheticDataset(cfg.data), ["w"])
    r = invoke("evaluate", empty, "--out", tmp_path / "results.zarr")
    assert r.exit_code == 2 and "no committed checkpoint" in r.output and r.output.count("\n") == 1


def test_evaluate_run_api_matches_a_fixed_seed(tiny_run):
    kw = dict(checkpoints=[0], steps=4, samples_per_condition=2, conditions="train", progress=False, device="cpu")
    a = evaluate_run(tiny_run, **kw)
    b = evaluate_run(open_run(tiny_run), **kw)
    xr.testing.assert_identical(a, b)
    c = evaluate_run(tiny_run, **{**kw, "seed": 1})
    assert not np.array_equal(a.x_hat.values, c.x_hat.values, equal_nan=True)
    assert a.attrs["conditions"] == "train" and bool(a.in_train.all())
