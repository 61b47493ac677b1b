"""``manifold-lens quickstart`` end to end on tiny settings, and its pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from manifold_lens.cli import app
from manifold_lens.config import load_config
from manifold_lens.errors import ManifoldLensError
from manifold_lens.percolation import lattice_percolation
from manifold_lens.quickstart import check_out_dir, percolation_of
from manifold_lens.stores import list_results, read_results
from tests.builders import TINY, set_args

runner = CliRunner()


def test_quickstart_end_to_end(tmp_path):
    """Train, evaluate, analyse, percolate and report through the CLI; every figure of a single run renders."""
    out = tmp_path / "qs"
    args = ["quickstart", str(out), *set_args(TINY), "--samples-per-condition", "1",
            "--sampler-steps", "2", "--noise-draws", "1", "--trials", "2", "--embed", "pca,isomap",
            "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert f"open {out / 'report' / 'index.html'}" in res.output
    for stage in ("[1/5] training", "[2/5] evaluating 5 checkpoint(s)", "[3/5] analysing", "[4/5] percolation",
                  "[5/5] rendering", "final accuracy, overall", "effective_dim", "lambda_c"):
        assert stage in res.output
    groups = list_results(out / "results.zarr")
    assert groups == {"evaluation": ["default"], "analysis": ["default"], "percolation": ["default"]}
    ev = read_results(out / "results.zarr", "evaluation")
    assert ev.sizes["checkpoint"] == 5 and ev.attrs["sampler_steps"] == 2 and ev.attrs["samples_per_condition"] == 1
    an = read_results(out / "results.zarr", "analysis")
    assert "embedding_isomap" in an and an.sizes["checkpoint"] == 5
    # the report: every figure a single run supports; only the multi-run comparison is skipped
    manifest = json.loads((out / "report" / "report.json").read_text())
    skipped = [f["title"] for f in manifest["figures"] if f["skipped"]]
    assert skipped == ["Predicted vs measured onset"]
    drawn = [f for f in manifest["figures"] if not f["skipped"]]
    assert len(drawn) == 13
    for f in drawn:
        for name in f["files"].values():
            assert (out / "report" / name).stat().st_size > 1000
    # the same directory again: refused in one line, nothing touched
    res = runner.invoke(app, ["quickstart", str(out), "--set", "train.steps=1", "--no-progress"])
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0
    assert res.output.startswith(f"error: OUT {out}: already holds files")
    assert "pass --replace to write over" in res.output


def test_percolation_of_a_bump_config_is_the_lattice_curve():
    cfg = load_config("quick", overrides=["data.sigma=0.6", "data.spacing=1"])
    ds = percolation_of(cfg, trials=3, progress=False)
    want = lattice_percolation([0.6], (1.0, 1.0), 0.005, (16, 16), trials=3, progress=False)
    np.testing.assert_allclose(ds.largest_cluster_ratio, want.largest_cluster_ratio)
    assert float(ds.lambda_c[0]) == pytest.approx(float(want.lambda_c[0]))
    # the neighbour-overlap curve at the same sigma: 1 at d = 0, the continuum closed form at d > 0
    assert ds.overlap_pixels.dims == ("sigma", "spacing") and float(ds.overlap_pixels[0, 0]) == pytest.approx(1.0)
    d = ds.spacing.values
    np.testing.assert_allclose(ds.overlap_continuum[0], np.exp(-d ** 2 / (4 * 0.6 ** 2)), rtol=1e-12)


def test_percolation_of_other_families_uses_the_coverage_graph():
    cfg = load_config("quick", overrides=["data.image_size=8", "data.family=sos"])
    ds = percolation_of(cfg, trials=2, progress=False)
    assert ds.largest_cluster_ratio.dims == ("sigma", "keep_fraction", "trial") and ds.lambda_c.dims == ("sigma",)
    assert ds.attrs["n_sites"] == 64 and ds.attrs["spacing_x"] == 1.0


def test_out_checks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("")
    with pytest.raises(ManifoldLensError, match="already holds files.*pass replace=True"):
        check_out_dir(tmp_path / "a", replace=False)
    (tmp_path / "b" / "run.zarr").mkdir(parents=True)
    with pytest.raises(ManifoldLensError, match="run.zarr is not a manifold-lens run store"):
        check_out_dir(tmp_path / "b", replace=True)
    with pytest.raises(ManifoldLensError, match="holds x.txt, which the quickstart did not write"):
        check_out_dir(tmp_path / "a", replace=True)  # replace writes over only the quickstart's own outputs
    (tmp_path / "c").write_text("")
    with pytest.raises(ManifoldLensError, match="is a file"):
        check_out_dir(tmp_path / "c", replace=False)
    check_out_dir(tmp_path / "new", replace=False)  # a new directory is fine


def test_overwrite_is_the_deprecated_name_of_replace(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_text("")
    with pytest.warns(DeprecationWarning, match="overwrite= is deprecated; use replace="):
        with pytest.raises(ManifoldLensError, match="holds x.txt, which the quickstart did not write"):
            check_out_dir(tmp_path / "a", overwrite=True)  # the old keyword still means replace=True
    res = runner.invoke(app, ["quickstart", str(tmp_path / "a"), "--overwrite", "--set", "data.image_size=12"])
    assert res.exit_code == 2 and "note: --overwrite is deprecated and will be removed; use --replace" in res.stderr


def test_bad_override_fails_before_training(tmp_path):
    res = runner.invoke(app, ["quickstart", str(tmp_path / "q"), "--set", "data.image_size=12"])
    assert res.exit_code == 2 and "data.image_size" in res.output
    assert not (tmp_path / "q").exists()
