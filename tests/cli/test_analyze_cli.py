"""End to end through the CLI: train a tiny run, list its layers, analyse it, open the results."""

import numpy as np
import pytest

from manifold_lens import open_results, open_run
from manifold_lens.analysis.extract import extract_run
from manifold_lens.analysis.measure import measure
from tests.builders import TINY, invoke, set_args


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A tiny run trained through `manifold-lens train` (shared by this module).

    The same settings as conftest's ``tiny_run`` (8 x 8 images, width-8 UNet, 12 steps), trained by the CLI.
    """
    path = tmp_path_factory.mktemp("cli") / "run.zarr"
    res = invoke("train", "--preset", "quick", "--out", path, *set_args(TINY), "--no-progress")
    assert res.exit_code == 0, res.output
    return path


def test_layers_command(cli_run):
    res = invoke("layers", cli_run)
    assert res.exit_code == 0, res.output
    lines = {ln.split()[0]: ln for ln in res.output.splitlines()}
    assert "(1, 16, 1, 1) (default)" in lines["bottleneck"]
    assert "(1, 16, 2, 2) (alias layer4)" in lines["encoder.2"]
    assert "Conv2d" in lines["conv_in"] and "(1, 8, 8, 8)" in lines["conv_in"]


def test_analyze_end_to_end(cli_run, tmp_path):
    out = tmp_path / "results.zarr"
    res = invoke("analyze", cli_run, "--out", out, "--layers", "bottleneck,layer4", "--timesteps", "0,100",
                 "--noise-draws", "2", "--device", "cpu", "--embed", "pca,isomap", "--no-progress")
    assert res.exit_code == 0, res.output
    run = open_run(cli_run)
    assert f"{len(run.steps)} checkpoints x 2 timesteps x 2 layers, 64 conditions" in res.output
    assert "bottleneck @ t=0: effective_dim" in res.output and "continuity_index" in res.output

    tree = open_results(out)
    ds = tree["analysis/default"].to_dataset()
    assert list(ds.checkpoint.values) == run.steps
    assert list(ds.layer.values) == ["bottleneck", "encoder.2"]
    assert ds.embedding_isomap.dims == ("checkpoint", "timestep", "layer", "condition", "embed_dim")
    # ranges that hold for any representation, so a tiny model can be checked honestly
    eff = ds.effective_dim.sel(reference="learned").values
    assert (eff >= 1).all() and (eff <= ds.n_units.values).all()
    assert "pixels: effective_dim" in res.output.replace("   ", "")  # the references, printed after the learned
    fs = ds.factorization_score.values
    assert ((fs >= 0) & (fs <= 1)).all()
    # the stored numbers are the library's numbers for that checkpoint
    acts = extract_run(run, run.steps[-1], layers="bottleneck", timesteps=[100], noise_draws=2, device="cpu")
    direct = measure(acts["bottleneck"].sel(timestep=100), embed=("pca", "isomap"))
    got = ds.sel(checkpoint=run.steps[-1], timestep=100, layer="bottleneck", reference="learned")
    for v in ("effective_dim", "factorization_score", "continuity_index"):
        np.testing.assert_allclose(float(got[v]), float(direct[v]), rtol=1e-5)

    # a second analysis without --replace is refused in one line; with --name both are kept
    res = invoke("analyze", cli_run, "--out", out, "--checkpoints", "last", "--no-progress")
    assert res.exit_code == 2 and "pass --replace" in res.output
    res = invoke("analyze", cli_run, "--out", out, "--checkpoints", "last", "--name", "traj",
                 "--mode", "trajectory", "--noise-draws", "1", "--device", "cpu", "--no-progress")
    assert res.exit_code == 0, res.output
    traj = open_results(out)["analysis/traj"].to_dataset()
    assert list(traj.timestep.values) == [41] and traj.attrs["extraction_mode"] == "trajectory"


@pytest.mark.parametrize("args, message", [
    (["--layers", "middle"], "error: unknown layer 'middle' in ConditionalUNet: available layers are embed, "),
    (["--timesteps", "0,1000"], "error: --timesteps [1000]: outside [0, 1000)"),
    (["--timesteps", "fifty"], "error: --timesteps 'fifty': give integers"),
    (["--x", "0:40"], "error: --x [8.0, 9.0, 10.0, 11.0, 12.0] outside the canvas [0, 7] px"),
    (["--checkpoints", "5000"], "error: --checkpoints: no checkpoint at step 5000"),
    (["--embed", "tsne"], "error: --embed 'tsne': choose among pca, isomap, umap"),
    (["--mode", "sample"], "error: --mode 'sample': choose one of noised, trajectory"),
    (["--noise-draws", "0"], "error: --noise-draws 0: must be an integer >= 1"),
])
def test_bad_input_one_line(cli_run, tmp_path, args, message):
    res = invoke("analyze", cli_run, "--out", tmp_path / "r.zarr", "--device", "cpu", "--no-progress", *args)
    assert res.exit_code == 2
    assert res.output.strip().startswith(message), res.output
    assert len(res.output.strip().splitlines()) == 1


def test_not_a_run(tmp_path):
    res = invoke("layers", tmp_path / "missing.zarr")
    assert res.exit_code == 2 and "no such run store" in res.output
