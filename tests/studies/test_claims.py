"""A study's claim computations: computed once into the study's results store, read by the report (which never
computes them), and the percolation test's table of runs read from columns, not from a study directory."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import manifold_lens as ml
from manifold_lens import plot
from manifold_lens.errors import ConfigError, StoreError
from manifold_lens.percolation.table import run_table
from manifold_lens.stores import write_results
from manifold_lens.studies import claims, layout
from tests.report import study_datasets as sd


def _as_claim(tiny_study, tmp_path, claim: str):
    root = tmp_path / "study"
    shutil.copytree(tiny_study, root, ignore=shutil.ignore_patterns("report"))
    manifest = json.loads((root / "study.json").read_text())
    (root / "study.json").write_text(json.dumps({**manifest, "claim": claim, "scale": "cpu"}))
    return root


def test_stored_fits_are_read_back_and_absent_ones_say_how(tmp_path):
    root = tmp_path / "study"
    root.mkdir()
    assert claims.read_claim(root, layout.SCALING) is None
    assert claims.claim_note(root, layout.PERCOLATION_TEST) == \
        f"not computed: run `manifold-lens percolate test {root}`"
    fits = claims.scaling_fits(sd.scaling_study(noise=False), bootstrap=20)
    write_results(fits, out=layout.study_results(root), kind=layout.CLAIMS_KIND, name=layout.SCALING)
    assert claims.has_claim(root, layout.SCALING)
    back = claims.read_claim(root, layout.SCALING)
    assert back["group"].values.tolist() == ["case 2d", "case 2d+stripes"]
    np.testing.assert_allclose(back["exponent"].values, [2.0, 1.0], atol=1e-6)
    assert back.attrs["level"] == 0.6 and back.attrs["accuracy"] == "accuracy_ood"
    fig = plot.scaling_size(back)  # drawn from the stored fits as they are
    assert "case 2d: exponent 2.00" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()][2]


def test_compute_claims_records_what_a_study_cannot_support(tiny_study, tmp_path):
    root = _as_claim(tiny_study, tmp_path, "scaling")
    done = claims.compute_claims(root)
    assert done == {"scaling": "size for accuracy: the study does not sweep data.image_size (a scaling study sweeps "
                               "data.keep_fraction and data.image_size)"}
    assert layout.read_claims_status(root) == done and not claims.has_claim(root, layout.SCALING)
    report = ml.render_report(root, progress=False, formats=("png",), dpi=40)
    size = next(f for f in report.figures if f.stem.endswith("scaling_size"))
    assert size.skipped == f"scaling fits not computed ({done['scaling']}): run `manifold-lens study run STUDY " \
        f"--out {root} (it fits after the runs)`"
    assert claims.compute_claims(_as_claim(tiny_study, tmp_path / "b", "lesion")) == {}  # nothing to compute


def test_percolation_test_stored_in_the_study_and_drawn_from_there(tiny_study, tmp_path):
    root = _as_claim(tiny_study, tmp_path, "percolation")
    test = claims.study_percolation_test(root, outcome="accuracy", n_boot=20)
    assert test.attrs["verdict"] in ("consistent", "inconsistent", "insufficient")
    assert test["run_id"].values.tolist() == [f"keep_fraction={k},seed={s}" for k in (0.5, 1) for s in (0, 1)]
    with pytest.raises(StoreError, match="already exist"):  # refused before any work
        claims.study_percolation_test(root, outcome="accuracy", n_boot=20)
    stored = claims.read_claim(root, layout.PERCOLATION_TEST)
    np.testing.assert_allclose(stored["predicted_cluster"].values, test["predicted_cluster"].values)
    report = ml.render_report(root, progress=False, formats=("png",), dpi=40)
    assert f"Percolation test verdict: <b>{test.attrs['verdict']}</b>" in report.index.read_text()
    saved = json.loads((report.out / "report.json").read_text())
    assert saved["claim_verdict"]["verdict"] == test.attrs["verdict"]


def test_run_table_reads_columns_not_study_directories(tiny_study):
    runs = ml.open_study(tiny_study)
    assert runs["run_store"].values.tolist() == [str(layout.run_store(tiny_study, r)) for r in runs["run_id"].values]
    table = run_table(runs, "accuracy")
    cfg = json.loads(str(runs["run_config"].values[0]))
    assert table["sigma"].tolist() == [cfg["data"]["sigma_x"]] * 4 and table["image_size"].tolist() == [8] * 4
    assert table["keep_fraction"].tolist() == [0.5, 0.5, 1.0, 1.0] and len(table["paths"]) == 4
    bare = runs.drop_vars(["run_config", "run_store"])  # a table without the columns: a one-line refusal
    with pytest.raises(ConfigError, match="no sigma, image_size per run"):
        run_table(bare.assign_attrs(study_dir=str(tiny_study)), "accuracy")  # the directory is not read
