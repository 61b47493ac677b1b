"""The ``manifold-lens percolate`` command group, through typer's test runner."""

import shutil

import numpy as np
import pytest
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.percolation import coverage_graph, largest_cluster
from manifold_lens.stores import RunWriter, list_results, open_results, read_results, write_results
from tests.builders import invoke, write_run_status, write_study_manifest


@pytest.mark.parametrize("sigma_args", [["--sigma", "0.3", "1"], ["--sigma", "0.3,1"],
                                        ["--sigma", "0.3", "--sigma", "1"]])
def test_sigma_lists_and_curves(tmp_path, sigma_args):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", *sigma_args, "--lattice", 48, "--trials", 3, "--keep-fractions", "0.2", "0.6", "0.9",
                 "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "percolation", "default")
    np.testing.assert_allclose(ds.sigma, [0.3, 1.0])
    np.testing.assert_allclose(ds.keep_fraction, [0.2, 0.6, 0.9])
    assert ds.largest_cluster_ratio.dims == ("sigma", "keep_fraction", "trial")
    assert ds.attrs["lattice"] == [48, 48] and ds.attrs["trials"] == 3 and ds.attrs["method"] == "pixels"
    assert "sigma = 0.3 px: 4 neighbours" in res.output and "lambda_c" in res.output
    assert "percolation" in open_results(out).children


def test_isolated_sites_are_reported_not_refused(tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "--sigma", 0.1, "--lattice", 16, "--trials", 2, "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "no neighbours at threshold 0.005: sites are isolated" in res.output
    ds = read_results(out, "percolation", "default")
    assert bool(ds.isolated[0]) and np.isnan(float(ds.lambda_c[0])) and "isolated" in ds.attrs["note"]


def test_preset_gives_sigma_spacing_and_lattice(tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "--preset", "quick", "--set", "data.sigma=0.5", "--set", "data.spacing=2",
                 "--trials", 2, "--method", "pixels", "--out", out, "--name", "q", "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "percolation", "q")
    # quick: a 16 px frame; spacing 2 gives sites at 0, 2, ..., 14
    assert ds.attrs["lattice"] == [8, 8] and ds.attrs["spacing_x"] == 2.0 and ds.attrs["source"] == "quick"
    np.testing.assert_allclose(ds.sigma, [0.5])
    # an explicit --sigma overrides the preset's, keeping its lattice
    res = invoke("percolate", "--preset", "quick", "--sigma", 2, 3, "--trials", 2, "--out", out, "--name", "q2",
                 "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "percolation", "q2")
    np.testing.assert_allclose(ds.sigma, [2.0, 3.0])
    assert ds.attrs["lattice"] == [16, 16] and ds.attrs["periodic"] == 0
    res = invoke("percolate", "--preset", "quick", "--set", "data.family=periodic", "--trials", 2, "--out", out,
                 "--name", "torus", "--no-progress")
    assert res.exit_code == 0 and read_results(out, "percolation", "torus").attrs["periodic"] == 1


@pytest.mark.parametrize("args,message", [
    (["--sigma", 1, "--threshold", 0], "--threshold 0.0: must be in (0, 1)"),
    (["--sigma", 1, "--threshold", 1.2], "--threshold 1.2: must be in (0, 1)"),
    (["--sigma", 1, -2], "--sigma -2.0: must be a finite number > 0"),
    (["--sigma", 0], "--sigma 0.0: must be a finite number > 0"),
    (["--sigma", 1, "--lattice", 1], "--lattice 1: needs at least 2 sites"),
    (["--sigma", 1, "--lattice", 10**6], "use a smaller --lattice"),
    (["--sigma", "abc"], "--sigma 'abc': give numbers"),
    (["--sigma", 1, "--keep-fractions", 0.5, 2], "--keep-fractions 2.0: give values in [0, 1]"),
    (["--lattice", 8], "--sigma: give bump widths"),
    (["--sigma", 1, "--method", "exact"], "--overlap 'exact': must be pixel"),
    (["--sigma", 1, "--overlap", "exact"], "--overlap 'exact': must be pixel"),
    (["--preset", "quick", "--set", "data.family=sos"], "lattice percolation models bump overlaps"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, args, message):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", *args, "--out", out, "--no-progress")
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.output
    assert not out.exists()


def test_existing_group_needs_replace(tmp_path):
    out = tmp_path / "r.zarr"
    args = ["percolate", "--sigma", 1, "--lattice", 8, "--trials", 1, "--out", out, "--no-progress"]
    assert invoke(*args).exit_code == 0
    res = invoke(*args)
    assert res.exit_code == 2 and "--replace" in res.output
    assert invoke(*args, "--replace").exit_code == 0
    assert invoke("percolate", "--sigma", 1, "--out", out, "--missing-flag").exit_code == 2


def test_no_arguments_prints_help():
    res = invoke("percolate")
    assert res.exit_code == 0 and "test" in res.output and "design" in res.output and "--sigma" in res.output
    assert "--overlap" in res.output and "[default: pixel]" in res.output


def test_overlap_continuum_is_offered(tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "--sigma", 0.3, "--lattice", 16, "--trials", 2, "--overlap", "continuum", "--out", out,
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert read_results(out, "percolation", "default").attrs["method"] == "continuum"


# -- percolate test / compare on a study directory -------------------------------------------------

def fake_study(root, sigmas=(0.4, 0.7), keeps=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7), seeds=(0, 1, 2), data_seed=True):
    """A study directory laid out as `study run` writes it, without training: per run a run store (no
    checkpoints) whose training set is subsampled with data.seed = seed (0 for all without ``data_seed``), an
    evaluation/default group whose
    accuracy_ood is 0.1 + 0.85 x the largest-cluster ratio of that training set (+ noise, sd 0.02), and a done
    status. The widths are cases (sigma only in each run's config, as `percolate design` proposes)."""
    rng = np.random.default_rng(0)
    runs = []
    for s in sigmas:
        for k in keeps:
            for seed in seeds:
                rid = f"sigma-{s:g},keep_fraction={k:g},seed={seed}"
                cfg = load_config("quick", overrides=["data.image_size=16", f"data.sigma={s}",
                                                      f"data.keep_fraction={k}",
                                                      f"data.seed={seed if data_seed else 0}", f"train.seed={seed}"])
                folder = root / "runs" / rid
                data = SyntheticDataset(cfg)
                RunWriter.create(folder / "run.zarr", cfg, data, param_names=[])
                c = largest_cluster(coverage_graph(data, 0.005)).size / len(data.train_index)
                acc = float(np.clip(0.1 + 0.85 * c + rng.normal(0, 0.02), 0, 1))
                ev = xr.Dataset({"accuracy": ("checkpoint", [0.0, (acc + 0.95) / 2]),
                                 "accuracy_id": ("checkpoint", [0.0, 0.95]),
                                 "accuracy_ood": ("checkpoint", [0.0, acc])},
                                coords={"checkpoint": [0, 100]})
                write_results(folder / "results.zarr", "evaluation", "default", ev)
                write_run_status(root, rid, "done")
                runs.append({"run_id": rid, "case": f"sigma-{s:g}", "seed": seed, "swept": {"data.keep_fraction": k},
                             "config": cfg.to_dict()})
    write_study_manifest(root, runs, keys=["data.keep_fraction"], name="percolation")
    return root


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return fake_study(tmp_path_factory.mktemp("percolation-study"))


def test_percolate_test_prints_table_and_verdict(study, tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "test", study, "--out", out, "--n-boot", 50, "--no-progress")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == (f"wrote {study / 'results.zarr'} group claims/percolation_test and {out} group "
                        "comparison/default:")
    assert "accuracy_ood of 42 runs, 2 widths; pixel overlaps >= 0.005; 50 bootstrap resamples" in lines[1]
    assert "predicted lambda_c [95%]" in lines[2] and "measured lambda_c [95%]" in lines[2]
    assert lines[3].split()[:3] == ["0.4", "21", "7"] and lines[3].endswith("ok")
    assert lines[-1].startswith("verdict: consistent: at 2 widths")
    ds = read_results(out, "comparison", "default")
    assert ds.attrs["verdict"] == "consistent" and ds.attrs["n_boot"] == 50 and ds.attrs["overlap"] == "pixel"
    stored = read_results(study / "results.zarr", "claims", "percolation_test")  # what the study's report draws
    assert stored.attrs["verdict"] == ds.attrs["verdict"] and float(stored.lambda_c_measured[0]) == \
        float(ds.lambda_c_measured[0])
    # the prediction is each run's own training set (data.seed differs by seed): the stored cluster ratios
    assert list(ds.prediction_source.values) == ["the runs' own training sets"] * 2
    data = SyntheticDataset(load_config("quick", overrides=["data.image_size=16", "data.sigma=0.4",
                                                            "data.keep_fraction=0.3", "data.seed=1"]))
    k = list(ds.run_id.values).index("sigma-0.4,keep_fraction=0.3,seed=1")
    assert float(ds.predicted_cluster[k]) == largest_cluster(coverage_graph(data, 0.005)).size / len(data.train_index)
    for v in ("lambda_c_predicted", "lambda_c_measured"):
        assert f"{float(ds[v][0]):.3f}" in lines[3]
    # same arguments, same numbers; an existing group needs --replace
    res = invoke("percolate", "test", study, "--out", out, "--n-boot", 50, "--no-progress")
    assert res.exit_code == 2 and "--replace" in res.output
    res = invoke("percolate", "test", study, "--out", out, "--n-boot", 50, "--no-progress", "--replace")
    assert res.exit_code == 0 and res.output.splitlines()[3] == lines[3]


def test_runs_sharing_a_training_set_are_predicted_by_the_ensemble(tmp_path):
    """Seeds that vary train.seed only share one training set per keep fraction: no realisations to bootstrap,
    so the prediction is the exact coverage graph's ensemble (from study.json), said in prediction_source."""
    import manifold_lens as ml

    root = fake_study(tmp_path / "shared", keeps=(0.05, 0.1, 0.2, 0.3, 0.45, 0.6), data_seed=False)
    runs = ml.open_study(root)
    assert "sigma" not in runs.coords  # a case setting: read from each run's config in study.json
    ds = ml.percolation_test(runs, n_boot=30)
    assert all("share one training set" in str(v) for v in ds.prediction_source.values)
    # the quick dataset at 16 px: sigmoid midpoints 0.40 (sigma 0.4) and 0.11 (sigma 0.7) with the same estimator
    # on 100 passes of its exact coverage graph (tests/percolation: the lattice design agrees within 0.01)
    np.testing.assert_allclose(ds.lambda_c_predicted, [0.40, 0.11], atol=0.025)
    # the collapse plot still shows each run's own training set
    k = list(ds.run_id.values).index("sigma-0.7,keep_fraction=0.1,seed=1")
    assert float(ds.predicted_cluster[k]) == float(runs.largest_cluster_ratio.values[
        list(runs.run_id.values).index("sigma-0.7,keep_fraction=0.1,seed=1")])


def test_overall_and_flat_outcomes(study, tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "test", study, "--outcome", "accuracy_id", "--out", out, "--n-boot", 20,
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert "verdict: insufficient: fewer than two widths meet the minimum design and show an onset" in res.output
    assert "not determined" in res.output and "slope" not in res.output


def test_compare_is_an_alias_of_test(study, tmp_path):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "compare", study, "--out", out, "--name", "old", "--n-boot", 20, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "`percolate compare` is now `percolate test`" in res.output and "verdict:" in res.output
    assert set(list_results(out)["comparison"]) == {"old"}


@pytest.mark.parametrize("args,message", [
    (["--outcome", "loss"], "--outcome 'loss': the runs have no such per-run variable"),
    (["--overlap", "exact"], "--overlap 'exact': must be pixel"),
    (["--n-boot", 3], "--n-boot 3: give >= 20 bootstrap resamples"),
    (["--threshold", 2], "--threshold 2.0: must be in (0, 1)"),
])
def test_percolate_test_bad_input_is_one_line(study, tmp_path, args, message):
    out = tmp_path / "r.zarr"
    res = invoke("percolate", "test", study, *args, "--out", out, "--no-progress")
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and message in lines[0], res.output


def test_percolate_test_needs_a_study(tmp_path):
    res = invoke("percolate", "test", tmp_path, "--out", tmp_path / "r.zarr")
    assert res.exit_code == 2 and "not a study directory" in res.output


def test_percolate_design():
    res = invoke("percolate", "design", "--sigma", 0.3, 0.5, 0.1, "--image-size", 16, "--keep", 6)
    assert res.exit_code == 0, res.output
    # 16 x 16 lattice, pixel overlaps at 0.005: sigma 0.5 px has 12 neighbours and its sigmoid midpoint is
    # 0.28 +- 0.01 (the exact coverage graph of the quick dataset gives 0.277; see tests/percolation)
    line = next(ln for ln in res.output.splitlines() if ln.startswith("  sigma = 0.5 px"))
    assert "12 neighbours" in line
    lc = float(line.split("predicted lambda_c = ")[1].split()[0])
    assert lc == pytest.approx(0.28, abs=0.01)
    lam = [float(v) for v in line.split("keep fractions ")[1].split(", ")]
    assert len(lam) == 6 and min(lam) >= 0.03 and min(lam) < lc < max(lam)
    assert "sigma = 0.1 px: 0 neighbours, no predicted onset" in res.output and "never connects" in res.output
    assert '[[study.cases]]\nname = "sigma-0.5"\nset = { "data.sigma" = 0.5 }' in res.output
    assert min(lam) <= lc - 0.2 and max(lam) >= 0.75  # spans well below and above the onset
    for args, message in [(("--keep", 2), "error: --keep 2: give 6 to 40 keep fractions per width (the test needs "
                                          ">= 6 for a verdict)"),
                          (("--keep", 41), "error: --keep 41: give 6 to 40"),
                          (("--trials", 0), "error: --trials 0: must be >= 1"),
                          (("--trials", 10**6), "error: --trials 1000000: give 1 to 100000 Newman-Ziff passes")]:
        bad = invoke("percolate", "design", "--sigma", 0.5, "--image-size", 16, *args)
        assert bad.exit_code == 2 and bad.output.strip().startswith(message), bad.output
        assert "\n" not in bad.output.strip() and "Warning" not in bad.output


@pytest.mark.slow
def test_percolate_test_on_a_trained_study(tiny_study, tmp_path):
    """A real tiny study (one width, two keep fractions, trained and evaluated): one line of verdict, no crash."""
    out, study = tmp_path / "r.zarr", tmp_path / "study"
    shutil.copytree(tiny_study, study)  # the test is stored in the study: leave the shared one as it was
    res = invoke("percolate", "test", study, "--out", out, "--n-boot", 20, "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "comparison", "default")
    assert ds.attrs["verdict"] == "insufficient" and "one bump width only" in ds.attrs["reason"]
    assert ds.sizes["run"] == 4 and "verdict: insufficient" in res.output
