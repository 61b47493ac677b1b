"""analyze_run: metrics over (checkpoint, timestep, layer), streamed into the results store."""

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import analyze_run
from manifold_lens.errors import ManifoldLensError
from manifold_lens.analysis.extract import extract_run
from manifold_lens.analysis.measure import measure
from manifold_lens.stores import list_results, read_results, write_results
from manifold_lens.stores import open_run

HEADLINE = ("effective_dim", "factorization_score", "continuity_index")


@pytest.fixture(scope="module")
def analysed(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "results.zarr"
    write_results(xr.Dataset({"accuracy": ("checkpoint", [0.5])}), out=out, kind="evaluation", name="default")
    ds = analyze_run(tiny_run, out=out, layers=["bottleneck", "layer4"], timesteps=[0, 200], noise_draws=2,
                     device="cpu", progress=False, keep_activations=True)
    return out, ds


def test_dims_variables_and_attrs(tiny_run, analysed):
    out, ds = analysed
    run = open_run(tiny_run)
    assert list(ds.checkpoint.values) == run.steps
    assert list(ds.timestep.values) == [0, 200]
    assert list(ds.layer.values) == ["bottleneck", "encoder.2"]
    assert list(ds.reference.values) == ["learned", "pixels", "init", "shuffled", "torus3d", "clifford", "plane",
                                         "conjunctive"]
    for v in HEADLINE:
        assert ds[v].dims == ("checkpoint", "timestep", "layer", "reference")
        assert ds[v].attrs["long_name"] and ds[v].attrs["description"]
        if v != "continuity_index":
            assert np.isfinite(ds[v].values).all()
    # continuity uses cross-draw inner products: NaN where a code does not vary with x or y beyond its noise
    # (here the 12-step FiLM model's 1x1 bottleneck at t = 200: signal-to-noise about 0.1); finite elsewhere
    noisy = ds["signal_to_noise"] < 1  # NaN (the ideal references, which have no noise) compares False
    assert np.isfinite(ds["continuity_index"].values[~noisy.values]).all() and float((~noisy).mean()) > 0.5
    assert not noisy.sel(reference=["pixels", "torus3d", "clifford", "plane"]).any()  # never noise-dominated
    assert ds["explained_variance_ratio"].dims == ("checkpoint", "timestep", "layer", "reference", "component")
    assert ds.x.dims == ("condition",) and "region" in ds.coords
    assert ds.attrs["source_run"] == str(run.path)
    assert ds.attrs["layers"] == ["bottleneck", "encoder.2"]
    assert ds.attrs["extraction_noise_draws"] == 2 and ds.attrs["checkpoints"] == run.steps
    assert ds.attrs["source_config"]["data"]["image_size"] == 8
    assert "torch" in ds.attrs["versions"]
    assert int(ds.n_units.sel(layer="bottleneck").isel(checkpoint=0, timestep=0)) == 16
    # other groups of the store are untouched
    assert list_results(out) == {"evaluation": ["default"], "analysis": ["default"]}
    assert float(read_results(out, "evaluation").accuracy[0]) == 0.5


def test_streamed_values_equal_direct_measurement(tiny_run, analysed):
    """Each appended checkpoint holds exactly what measure() gives on that checkpoint's activations."""
    _, ds = analysed
    run = open_run(tiny_run)
    for step in (run.steps[1], run.steps[-1]):
        acts = extract_run(run, step, layers="layer4", timesteps=[200], noise_draws=2, device="cpu")
        direct = measure(acts["encoder.2"].sel(timestep=200), embed=("pca",))
        got = ds.sel(checkpoint=step, timestep=200, layer="encoder.2", reference="learned")
        for v in HEADLINE + ("explained_variance_top4",):
            np.testing.assert_allclose(float(got[v]), float(direct[v]), rtol=1e-5, err_msg=v)
        assert direct.attrs["draws"] == 2 and direct.attrs["estimator"] == "cross-draw"  # measure gets the draws
        np.testing.assert_allclose(got["activations_encoder.2"].values,  # kept: the mean over draws
                                   acts["encoder.2"].sel(timestep=200).mean("draw").values, rtol=1e-6)
    # the dynamics are one selection away, and checkpoints differ (the weights changed)
    dyn = ds.effective_dim.sel(layer="bottleneck", timestep=0, reference="learned")
    assert dyn.dims == ("checkpoint",) and len(np.unique(dyn.values)) > 1


def test_existing_group_refused_then_replaced_or_renamed(tiny_run, analysed):
    out, _ = analysed
    kw = dict(checkpoints="last", noise_draws=1, device="cpu", progress=False)
    with pytest.raises(ManifoldLensError, match=r"results 'analysis/default' already exist; pass replace=True"):
        analyze_run(tiny_run, out=out, **kw)
    other = analyze_run(tiny_run, out=out, name="last_only", **kw)
    assert other.sizes["checkpoint"] == 1 and other.sizes["layer"] == 1
    replaced = analyze_run(tiny_run, out=out, name="last_only", replace=True, timesteps=[10, 20], **kw)
    assert list(replaced.timestep.values) == [10, 20]
    assert list_results(out)["analysis"] == ["default", "last_only"]


def test_select_checkpoints(tiny_run):
    run = open_run(tiny_run)
    assert run.select_checkpoints("all") == run.steps
    assert run.select_checkpoints("last") == [run.steps[-1]]
    assert run.select_checkpoints(f"{run.steps[-1]},{run.steps[0]}") == [run.steps[0], run.steps[-1]]
    assert run.select_checkpoints([run.steps[1]]) == [run.steps[1]]
    with pytest.raises(ManifoldLensError, match=r"no checkpoint at step 7777 .*available steps: 0"):
        run.select_checkpoints("7777")
    with pytest.raises(ManifoldLensError, match="use all, last or a comma-separated list"):
        run.select_checkpoints("first")


def test_bad_embed_and_layer_fail_before_writing(tiny_run, tmp_path):
    out = tmp_path / "r.zarr"
    with pytest.raises(ManifoldLensError, match="embed = 'tsne': choose among pca, isomap, umap"):
        analyze_run(tiny_run, out=out, embed="tsne", progress=False)
    with pytest.raises(ManifoldLensError, match="unknown layer 'mid'.*available layers are"):
        analyze_run(tiny_run, out=out, layers=["mid"], progress=False, device="cpu")
    assert not out.exists() or "analysis" not in list_results(out)


def test_references_beside_the_learned_code(tiny_run, analysed):
    """init is the step-0 network measured the same way: at checkpoint 0 it equals the learned code exactly;
    pixels and the ideal codes do not change over training; the shuffled null does."""
    _, ds = analysed
    sel = ds.sel(timestep=200, layer="encoder.2")
    for v in HEADLINE + ("x_on_x_orthogonality", "x_decoding_r2"):
        np.testing.assert_allclose(sel[v].sel(checkpoint=0, reference="init"),
                                   sel[v].sel(checkpoint=0, reference="learned"), rtol=1e-6, err_msg=v)
        for ref in ("pixels", "init", "torus3d", "clifford", "plane", "conjunctive"):
            assert np.ptp(sel[v].sel(reference=ref).values) == 0, (v, ref)
    assert np.ptp(sel.factorization_score.sel(reference="shuffled").values) > 0
    ideal = sel.isel(checkpoint=-1)
    assert float(ideal.factorization_score.sel(reference="clifford")) == pytest.approx(1.0, abs=1e-9)
    assert float(ideal.effective_dim.sel(reference="plane")) == pytest.approx(2.0, abs=1e-9)  # an 8 x 8 square
    assert ds.attrs["references"][0] == "learned" and ds.attrs["shuffle_seed"] == 7919
    assert ds.embedding_pca.dims == ("checkpoint", "timestep", "layer", "condition", "embed_dim")  # learned only


def test_shared_coordinates_carry_one_unit_each(analysed):
    """checkpoint, timestep, x and y take their long name and unit from manifold_lens.coords."""
    from manifold_lens.coords import COORDS

    _, ds = analysed
    for name in ("checkpoint", "timestep", "x", "y"):
        assert {k: ds[name].attrs[k] for k in ("long_name", "units")} == COORDS[name], name
    assert ds.checkpoint.attrs["units"] == "optimiser steps"
