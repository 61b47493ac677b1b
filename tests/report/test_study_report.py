"""The study report: `manifold-lens report DIR` on a study directory (figures, runs table, links to run reports)."""

from __future__ import annotations

import json
import shutil

import pytest

import manifold_lens as ml
from manifold_lens.errors import ManifoldLensError
from tests.builders import invoke

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study_report(failed_study, tmp_path_factory):
    """The failed study (4 done, 1 failed, 1 missing run) with one run's own report, then the study's report."""
    root = tmp_path_factory.mktemp("report") / "study"
    shutil.copytree(failed_study, root)
    folder = root / "runs" / "keep_fraction=0.5,seed=0"
    ml.render_report(folder / "results.zarr", folder / "report", formats=("png",), dpi=50, progress=False)
    return root, ml.render_report(root, progress=False)


def test_figures_are_real_pngs(study_report):
    root, report = study_report
    assert report.out == root / "report" and report.index.is_file()
    stems = [f.stem for f in report.rendered]
    assert stems == ["01-accuracy_vs_keep_fraction", "02-accuracy_curves"] and not report.skipped
    for f in report.rendered:
        png = (report.out / f.files["png"]).read_bytes()
        assert png[:8] == PNG and len(png) > 10_000
        assert (report.out / f.files["pdf"]).read_bytes()[:4] == b"%PDF"
        assert f.size_px[0] > 500
    manifest = json.loads((report.out / "report.json").read_text())
    assert manifest["study"] == "tiny-study" and len(manifest["runs"]) == 6


def test_runs_table_and_links(study_report):
    root, report = study_report
    page = report.index.read_text()
    table = page.split("<table id='runs-table'>")[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    assert len(rows) == 6
    ds = ml.open_study(root, percolation=False)
    first = rows[0]
    assert "keep_fraction=0.5,seed=0" in first and "<td>done</td>" in first
    assert f"<td>{100 * float(ds['accuracy'][0]):.1f}%</td>" in first
    assert "href='../runs/keep_fraction=0.5,seed=0/report/index.html'" in first
    assert (report.out / "../runs/keep_fraction=0.5,seed=0/report/index.html").is_file()
    assert "href=" not in rows[1]  # no report rendered for that run
    assert "failed: ValueError: boom" in rows[4] and "n/a" in rows[4]
    assert "<td>missing: no run folder</td>" in rows[5]
    assert "4 done, 1 failed, 1 missing" in page


def test_accuracy_vs_key_draws_seed_means(tiny_study):
    ds = ml.open_study(tiny_study, percolation=False)
    fig = ml.plot.accuracy_vs_key(ds, "keep_fraction")
    assert len(fig.axes) == 3
    line = fig.axes[2].lines[0]
    assert line.get_xdata().tolist() == [0.5, 1.0]
    expected = [float(ds["accuracy_ood"].where(ds["keep_fraction"] == k).mean()) for k in (0.5, 1.0)]
    assert line.get_ydata().tolist() == pytest.approx(expected)
    with pytest.raises(ValueError, match="not a swept coordinate"):
        ml.plot.accuracy_vs_key(ds, "sigma")


def test_cli_report_on_a_study(tiny_study, tmp_path):
    res = invoke("report", tiny_study, "--out", tmp_path / "r", "--no-pdf", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "wrote 2 figures" in res.output
    assert sorted(p.name for p in (tmp_path / "r").glob("*.png")) == ["01-accuracy_vs_keep_fraction.png",
                                                                      "02-accuracy_curves.png"]
    with pytest.raises(ManifoldLensError, match="reported on its own"):
        ml.render_report([tiny_study, tiny_study / "runs" / "keep_fraction=1,seed=0" / "results.zarr"], tmp_path / "x")


def test_accuracy_curves_skipped_with_one_checkpoint():
    import xarray as xr

    from manifold_lens.report.study import _curves_skipped

    one = xr.Dataset({"accuracy_curve": (("run", "checkpoint"), [[0.5], [0.7]])}, coords={"checkpoint": [1000]})
    assert "one checkpoint only (step 1000)" in _curves_skipped(one, "")
    two = xr.Dataset({"accuracy_curve": (("run", "checkpoint"), [[0.1, 0.5]])}, coords={"checkpoint": [0, 1000]})
    assert _curves_skipped(two, "") == ""
    assert _curves_skipped(xr.Dataset(), "accuracy curves omitted: x") == "accuracy curves omitted: x"


def test_keys_fixed_by_the_case_are_not_swept_keys():
    import numpy as np
    import xarray as xr

    from manifold_lens.report.study import case_determined

    ds = xr.Dataset(coords={"run": np.arange(4), "case": ("run", ["a", "a", "b", "b"]),
                            "family": ("run", ["sos", "sos", "bump", "bump"]), "width": ("run", [3, 6, 3, 6])})
    assert case_determined(ds, "family") and not case_determined(ds, "width")
    assert not case_determined(ds.assign_coords(case=("run", ["", "", "", ""])), "family")
