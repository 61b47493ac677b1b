"""open_study and study_grid on a real tiny study (2 keep fractions x 2 seeds, trained, evaluated, analysed)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import manifold_lens as ml
from manifold_lens.errors import ManifoldLensError
from manifold_lens.percolation import coverage_graph, largest_cluster
from manifold_lens.studies.collect import HEADLINE, coordinate_names


def results_of(study, run_id, kind):
    return ml.read_results(study / "runs" / run_id / "results.zarr", kind, "default")


def test_coordinates_and_attrs(tiny_study):
    ds = ml.open_study(tiny_study)
    assert ds.sizes["run"] == 4
    assert ds["keep_fraction"].values.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert ds["keep_fraction"].attrs["key"] == "data.keep_fraction"
    assert ds["seed"].values.tolist() == [0, 1, 0, 1]
    assert ds["case"].values.tolist() == [""] * 4
    assert ds["run_id"].values.tolist()[1] == "keep_fraction=0.5,seed=1"
    assert ds["status"].values.tolist() == ["done"] * 4
    assert ds.attrs["study"] == "tiny-study"
    assert ds.attrs["stages"]["evaluate"]["checkpoints"] == "all"
    assert ds.attrs["versions"] == {"manifold_lens": "test"}
    assert ds.attrs["notes"] == []


def test_coordinate_names_collide_to_full_keys():
    names = coordinate_names(["data.sigma", "model.sigma", "data.keep_fraction", "train.seed"])
    assert names == {"data.sigma": "data.sigma", "model.sigma": "model.sigma",
                     "data.keep_fraction": "keep_fraction", "train.seed": "train.seed"}


def test_accuracies_are_the_groups_last_checkpoint(tiny_study):
    ds = ml.open_study(tiny_study, percolation=False)
    for k, rid in enumerate(ds["run_id"].values):
        ev = results_of(tiny_study, rid, "evaluation")
        last = ev.isel(checkpoint=-1)
        for var in ("accuracy", "accuracy_id", "accuracy_ood"):
            assert ds[var].values[k] == pytest.approx(float(last[var]))
            np.testing.assert_allclose(ds[f"{var}_curve"].values[k], ev[var].values)
        assert int(ds["evaluation_step"][k]) == int(ev["checkpoint"][-1]) == 12
        for r in ev["region_name"].values:
            assert float(ds["accuracy_region"].sel(region_name=r)[k]) == pytest.approx(
                float(last["accuracy_region"].sel(region_name=r)))
    assert ds["checkpoint"].values.tolist() == [0, 1, 2, 6, 12]
    assert set(ds["region_name"].values) == {"train", "unsampled", "interior"}
    # keep_fraction 1 has no unsampled sites: its region is NaN, not 0
    assert np.isnan(ds["accuracy_region"].sel(region_name="unsampled").values[2:]).all()


def test_analysis_metrics_are_the_stored_ones(tiny_study):
    ds = ml.open_study(tiny_study, percolation=False)
    an = results_of(tiny_study, ds["run_id"].values[3], "analysis").isel(checkpoint=-1)
    for var in ("effective_dim", "factorization_score", "continuity_index", "x_on_y_orthogonality",
                "x_parallelism", "x_decoding_r2", "y_decoding_r2"):
        assert ds[var].dims == ("run", "timestep", "layer", "reference")
        got = ds[var].isel(run=3).transpose(*an[var].dims)
        np.testing.assert_allclose(got.values, an[var].values)
    assert ds["effective_dim"].sel(reference="learned", layer="bottleneck", timestep=50).notnull().all()
    assert set(HEADLINE) - set(ds.data_vars) <= {"betti_1", "betti_1_conclusive"}  # bump runs: no homology by default
    assert ds["analysis_step"].values.tolist() == [12] * 4


def test_percolation_is_the_largest_cluster_of_the_training_set(tiny_study):
    ds = ml.open_study(tiny_study, threshold=0.5)  # a high threshold: half-kept lattices fall apart
    assert ds.attrs["percolation_threshold"] == 0.5
    for k, rid in enumerate(ds["run_id"].values):
        dataset = ml.open_run(tiny_study / "runs" / rid / "run.zarr").dataset
        size = largest_cluster(coverage_graph(dataset, 0.5)).size
        kept = len(dataset.train_index)
        assert ds["largest_cluster_size"].values[k] == size
        assert ds["kept_sites"].values[k] == kept
        assert ds["largest_cluster_ratio"].values[k] == pytest.approx(size / kept)
        assert ds["largest_cluster_fraction"].values[k] == pytest.approx(size / ds["candidate_sites"].values[k])
    assert ds["largest_cluster_ratio"].values[0] < 1.0 == ds["largest_cluster_ratio"].values[2]
    default = ml.open_study(tiny_study)  # at 0.005 (sigma 1 px: radius 4.6 px) every training set is connected
    assert default["largest_cluster_ratio"].values.tolist() == [1.0] * 4


def test_failed_and_missing_runs_are_nan_with_their_status(failed_study):
    ds = ml.open_study(failed_study)
    assert ds["status"].values.tolist() == ["done"] * 4 + ["failed", "missing"]
    assert ds["error"].values[4] == "ValueError: boom"
    for var in ("accuracy", "accuracy_ood", "largest_cluster_ratio"):
        assert np.isnan(ds[var].values[4:]).all() and np.isfinite(ds[var].values[:4]).all()
    assert np.isnan(ds["effective_dim"].isel(run=[4, 5]).values).all()
    assert np.isnan(ds["accuracy_curve"].isel(run=[4, 5]).values).all()
    assert ds["evaluation_status"].values[4] == "absent"


def test_curves_omitted_when_schedules_differ(tiny_study, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root)
    rid = "keep_fraction=1,seed=1"
    ml.evaluate_run(root / "runs" / rid / "run.zarr", [0, 6], steps=2, samples_per_condition=1,
                    out=root / "runs" / rid / "results.zarr", name="default", replace=True, progress=False)
    ds = ml.open_study(root, percolation=False)
    assert "accuracy_curve" not in ds
    assert any("accuracy curves omitted" in n and rid in n for n in ds.attrs["notes"])
    assert int(ds["evaluation_step"][3]) == 6


def test_study_grid(tiny_study, failed_study):
    ds = ml.open_study(tiny_study, percolation=False)
    grid = ml.study_grid(ds)
    assert grid["accuracy"].dims == ("keep_fraction", "seed")
    assert grid["keep_fraction"].values.tolist() == [0.5, 1.0] and grid["seed"].values.tolist() == [0, 1]
    assert grid["run_id"].sel(keep_fraction=1.0, seed=0).item() == "keep_fraction=1,seed=0"
    assert grid["effective_dim"].dims[:2] == ("keep_fraction", "seed")
    assert float(grid["accuracy"].sel(keep_fraction=0.5, seed=1)) == float(ds["accuracy"][1])
    with pytest.raises(ManifoldLensError, match="incomplete, 3 runs for 4"):
        ml.study_grid(ds.isel(run=[0, 1, 2]))
    with pytest.raises(ManifoldLensError, match="share keep_fraction=0.5, seed=0"):
        ml.study_grid(ds.isel(run=[0, 0, 1, 2, 3]))
    # failed runs still fill their grid points (NaN)
    assert ml.study_grid(ml.open_study(failed_study, percolation=False))["accuracy"].shape == (3, 2)


def test_not_a_study(tmp_path):
    with pytest.raises(ManifoldLensError, match="not a study directory"):
        ml.open_study(tmp_path)


def test_claim_and_scale_attrs(tiny_study, tmp_path):
    ds = ml.open_study(tiny_study, percolation=False)
    assert ds.attrs["claim"] == "" and ds.attrs["scale"] == ""  # an old manifest: empty, not missing
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root)
    manifest = json.loads((root / "study.json").read_text())
    (root / "study.json").write_text(json.dumps({**manifest, "claim": "lesion", "scale": "cpu"}))
    ds = ml.open_study(root, percolation=False)
    assert ds.attrs["claim"] == "lesion" and ds.attrs["scale"] == "cpu"


def test_analysis_curves_over_checkpoints(tiny_study, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root)
    ds = ml.open_study(root, percolation=False)
    assert "effective_dim_curve" not in ds  # one analysed checkpoint: the headline metrics say it all
    assert ds["explained_variance_ratio"].dims[0] == "run" and "component" in ds["explained_variance_ratio"].dims
    ids = ds["run_id"].values.tolist()
    for rid in ids[:3]:  # the fourth run keeps its single analysed checkpoint: a prefix of the schedule
        ml.analyze_run(root / "runs" / rid / "run.zarr", root / "runs" / rid / "results.zarr", name="default",
                       checkpoints=[0, 6, 12], noise_draws=2, replace=True, progress=False)
    ds = ml.open_study(root, percolation=False)
    assert "analysis curves omitted" in " ".join(ds.attrs["notes"])  # [12] is not a prefix of [0, 6, 12]
    ml.analyze_run(root / "runs" / ids[3] / "run.zarr", root / "runs" / ids[3] / "results.zarr", name="default",
                   checkpoints=[0, 6], noise_draws=2, replace=True, progress=False)
    ds = ml.open_study(root, percolation=False)
    curve = ds["effective_dim_curve"]
    assert curve.dims[:2] == ("run", "analysis_checkpoint")
    assert ds["analysis_checkpoint"].values.tolist() == [0, 6, 12]
    for k, rid in enumerate(ids):
        an = results_of(root, rid, "analysis")
        for var in ("effective_dim", "explained_variance_top4", "x_on_y_orthogonality"):
            got = ds[f"{var}_curve"].isel(run=k).sel(analysis_checkpoint=an["checkpoint"].values)
            got = got.rename(analysis_checkpoint="checkpoint").transpose(*an[var].dims)
            np.testing.assert_allclose(got.values, an[var].values)
    assert np.isnan(curve.isel(run=3).sel(analysis_checkpoint=12)).all()  # beyond its committed checkpoints
    # the headline metrics stay the final analysed checkpoint's
    np.testing.assert_allclose(ds["effective_dim"].isel(run=0).values,
                               ds["effective_dim_curve"].isel(run=0, analysis_checkpoint=-1).values)
    ratio = ds["explained_variance_ratio"].isel(run=0).sel(reference="learned")
    assert "component" in ratio.dims and float(ratio.isel(component=0).max()) > 0
