"""The ``manifold-lens percolate`` command group, through typer's test runner."""

import numpy as np
import pytest

from manifold_lens.percolation.onset import logistic
from manifold_lens.stores import list_results, open_results, read_results, write_results
from tests.builders import QUIET, fake_evaluation, invoke, make_run


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
    assert ds.attrs["lattice"] == [48, 48] and ds.attrs["trials"] == 3 and ds.attrs["method"] == "continuum"
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
    (["--sigma", 1, "--threshold", 0], "threshold = 0.0: must be in (0, 1)"),
    (["--sigma", 1, "--threshold", 1.2], "threshold = 1.2: must be in (0, 1)"),
    (["--sigma", 1, -2], "sigma = -2.0: must be a finite number > 0"),
    (["--sigma", 0], "sigma = 0.0: must be a finite number > 0"),
    (["--sigma", 1, "--lattice", 1], "lattice = 1: needs at least 2 sites"),
    (["--sigma", 1, "--lattice", 10**6], "use a smaller --lattice"),
    (["--sigma", "abc"], "--sigma 'abc': give numbers"),
    (["--sigma", 1, "--keep-fractions", 0.5, 2], "keep_fractions = 2.0"),
    (["--lattice", 8], "--sigma: give bump widths"),
    (["--sigma", 1, "--method", "exact"], "method = 'exact'"),
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
    assert res.exit_code == 0 and "compare" in res.output and "--sigma" in res.output


def test_compare(tmp_path):
    runs, out = [], tmp_path / "results.zarr"
    for k, keep in enumerate([0.1, 0.2, 0.4, 0.8]):
        run = make_run(tmp_path / f"run{k}.zarr", 1.0, keep)
        write_results(out, "evaluation", f"run{k}", fake_evaluation(run, logistic(keep, 0.95, 0.25, 0.03)))
        runs.append(run)
    # evaluations default to the --out store, matched to runs by source_run
    res = invoke("percolate", "compare", *runs, "--out", out, "--trials", 4, "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "comparison", "default")
    assert float(ds.lambda_c_measured[0]) == pytest.approx(0.25, abs=1e-3)
    assert "predicted lambda_c" in res.output and " ok" in res.output
    # one store per run after --evaluations, space-separated
    stores = []
    for k, run in enumerate(runs):
        s = tmp_path / f"ev{k}.zarr"
        write_results(s, "evaluation", "ddim50", fake_evaluation(run, 0.0))
        stores.append(s)
    res = invoke("percolate", "compare", *runs, "--evaluations", *stores, "--out", out, "--name", "flat",
                 "--trials", 2, "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "comparison", "flat")
    assert np.isnan(float(ds.lambda_c_measured[0])) and "no onset" in str(ds.fit_status.values[0])
    assert "no onset" in res.output
    res = invoke("percolate", "compare", *runs[:2], "--evaluations", *stores[:3], "--out", out, "--name", "x")
    assert res.exit_code == 2 and "one results store per run" in res.output
    res = invoke("percolate", "compare", *runs[:2], "--out", out, "--threshold", 2)
    assert res.exit_code == 2 and "threshold" in res.output
    assert set(list_results(out)["comparison"]) == {"default", "flat"}


@pytest.mark.slow
def test_cli_end_to_end_with_trained_runs(tmp_path):
    """Real tiny training and the real evaluate module feed `percolate compare`."""
    from manifold_lens.config import load_config
    from manifold_lens.evaluation import evaluate_run
    from trainers.train import train

    tiny = ["data.image_size=8", "model.base_channels=8", "model.embed_dim=32", "model.freq_dim=8",
            "train.batch_size=8", "train.warmup_steps=1", "train.steps=2", "train.early_checkpoints=0",
            "train.checkpoint_every=2"]
    runs, out = [], tmp_path / "results.zarr"
    for k, keep in enumerate([0.25, 0.5, 1.0]):
        cfg = load_config("quick", overrides=tiny + [f"data.keep_fraction={keep}"])
        path = tmp_path / f"run{k}.zarr"
        train(cfg, path, **QUIET)
        evaluate_run(path, "last", steps=2, samples_per_condition=1, device="cpu", out=out, name=f"run{k}",
                     progress=False)
        runs.append(path)
    res = invoke("percolate", "compare", *runs, "--out", out, "--trials", 4, "--no-progress")
    assert res.exit_code == 0, res.output
    ds = read_results(out, "comparison", "default")
    assert ds.sizes["run"] == 3 and np.all(ds.terminal_step.values == ds.run_last_step.values)
    acc = read_results(out, "evaluation", "run2").accuracy.values[-1]
    assert float(ds.terminal_accuracy.sel(run=2)) == pytest.approx(float(acc))
    assert np.isfinite(float(ds.lambda_c_predicted[0]))
