"""``render_report`` and ``manifold-lens report``: files, index page, key numbers, skipping, --out refusal."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from manifold_lens.errors import ManifoldLensError
from manifold_lens.report import render_report
from manifold_lens.report.page import MANIFEST
from manifold_lens.stores import write_results
from tests.builders import synthetic_analysis, synthetic_comparison, synthetic_evaluation, synthetic_percolation

runner = CliRunner()
DPI = 40


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.images = set(), set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.add(a["href"])
        if tag == "img":
            self.images.add(a["src"])


def links_of(index: Path) -> _Links:
    p = _Links()
    p.feed(index.read_text())
    return p


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.fixture(scope="module")
def full_store(tiny_run, tmp_path_factory):
    """A results store with every kind of group; the evaluation and analysis name the tiny run as source."""
    root = tmp_path_factory.mktemp("report")
    store = root / "results.zarr"
    ev = synthetic_evaluation(source_run=str(Path(tiny_run).resolve()))
    write_results(store, "evaluation", "ddim50", ev)
    write_results(store, "analysis", "default",
                  synthetic_analysis(embed=("pca", "isomap"), source_run=str(Path(tiny_run).resolve())))
    write_results(store, "percolation", "default", synthetic_percolation())
    write_results(store, "comparison", "default", synthetic_comparison(root))
    return store, ev


def test_full_report(full_store, tmp_path):
    store, ev = full_store
    out = tmp_path / "report"
    rep = render_report([store], out, dpi=DPI, progress=False)
    assert rep.skipped == []
    keys = [re.sub(r"^\d+-", "", f.stem).split("-")[0] for f in rep.rendered]
    assert keys == ["dataset", "loss", "accuracy_curve", "accuracy_map", "effective_dim", "metrics", "pca_spectrum",
                    "embedding_pca", "embedding_isomap", "chord_histograms", "similarity", "persistence_diagram",
                    "percolation_curves", "neighbour_overlap", "onset_comparison"]
    manifest = json.loads((out / MANIFEST).read_text())
    page = links_of(rep.index)
    for f, m in zip(rep.rendered, manifest["figures"]):
        png, pdf = out / f.files["png"], out / f.files["pdf"]
        w, h = png_size(png)
        assert (w, h) == tuple(m["size_px"]) == tuple(f.size_px)
        assert 200 <= w <= 1000 and 150 <= h <= 600  # figures are 5-16 in wide, 4-7 in high at 40 dpi
        data = pdf.read_bytes()
        assert data[:5] == b"%PDF-" and b"%%EOF" in data[-32:]
        assert f.files["png"] in page.images and f.files["pdf"] in page.links and f.files["png"] in page.links
    # nothing else was written
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [n for f in rep.rendered for n in f.files.values()] + ["index.html", MANIFEST])
    # key numbers come from the results, at their last checkpoint
    text = rep.index.read_text()
    last = ev.isel(checkpoint=-1)
    for q in ("accuracy", "accuracy_id", "accuracy_ood"):
        assert f"{100 * float(last[q]):.1f}%" in text
    numbers = {k.quantity: k.value for k in rep.key_numbers}
    assert set(numbers) >= {"final accuracy, overall", "final accuracy, in-distribution",
                            "final accuracy, out-of-distribution", "effective_dim", "factorization_score",
                            "continuity_index", "lambda_c (percolation threshold)", "lambda_c predicted / measured"}
    an = synthetic_analysis(embed=("pca", "isomap"))
    final = an.factorization_score[-1, 0, 0]
    assert numbers["factorization_score"] == f"{float(final.sel(reference='learned')):.4g}"
    refs = {k.quantity: k.references for k in rep.key_numbers}["factorization_score"]
    assert refs.startswith(f"pixels {float(final.sel(reference='pixels')):.4g} · init ")
    # periodic data: the tori are the ideals, then the entangled-but-smooth conjunctive code
    assert "clifford 1 · conjunctive " in refs and "plane" not in refs
    assert "references (same grid, layer, t)" in text
    assert "<table>" in text and "Key numbers" in text


def test_cli_report_and_rerender(tmp_path):
    store = tmp_path / "small.zarr"
    write_results(store, "evaluation", "ddim50", synthetic_evaluation())
    write_results(store, "percolation", "default", synthetic_percolation())
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(store), "--out", str(out), "--dpi", str(DPI), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"open {out / 'index.html'}" in res.output and "final accuracy, overall" in res.output
    first = {p.name for p in out.iterdir()}
    # an earlier report is replaced without --overwrite; its stale figures go
    res = runner.invoke(app, ["report", str(store), "--out", str(out), "--dpi", str(DPI), "--no-pdf",
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    now = {p.name for p in out.iterdir()}
    assert not any(n.endswith(".pdf") for n in now) and now < first


def test_out_dir_with_other_files_is_refused(full_store, tmp_path):
    store, _ = full_store
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    res = runner.invoke(app, ["report", str(store), "--out", str(out), "--no-progress"])
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "notes.txt" in res.output
    assert any(flag in res.output for flag in ("--replace", "--overwrite", "replace=True"))  # the CLI names its flag
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    with pytest.raises(ManifoldLensError, match="pass replace=True"):
        render_report([store], out, progress=False)
    rep = render_report([store], out, replace=True, dpi=DPI, formats=("png",), progress=False)
    assert (out / "notes.txt").read_text() == "keep me" and rep.index.exists()
    with pytest.warns(DeprecationWarning, match="replace"):  # the former keyword still works
        render_report([store], out, overwrite=True, dpi=DPI, formats=("png",), progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(ManifoldLensError, match="is a file"):
        render_report([store], tmp_path / "file", progress=False)


def test_skips_say_why(tmp_path, tiny_run):
    """Only percolation results, a one-checkpoint evaluation of a moved run, an analysis without chord
    statistics or embeddings: those figures are skipped with a reason, on the console and the page."""
    store = tmp_path / "partial.zarr"
    write_results(store, "percolation", "default", synthetic_percolation())
    rep = render_report([store], tmp_path / "a", dpi=DPI, progress=False)
    reasons = {f.title: f.skipped for f in rep.skipped}
    assert "manifold-lens evaluate" in reasons["Accuracy vs step"]
    assert "manifold-lens analyze" in reasons["PCA spectrum"]
    assert "percolate test" in reasons["Predicted vs measured onset"]
    assert "no run store" in reasons["Dataset gallery and coverage map"]
    assert [f.stem.split("-", 1)[1] for f in rep.rendered] == ["percolation_curves-percolation-default",
                                                                "neighbour_overlap-percolation-default"]
    page = rep.index.read_text()
    for title, why in reasons.items():
        assert "\n" not in why and html.escape(why) in page

    store2 = tmp_path / "odd.zarr"
    ev = synthetic_evaluation(steps=(500,), source_run=str(tmp_path / "moved.zarr"))
    write_results(store2, "evaluation", "one", ev)
    an = synthetic_analysis(steps=(0, 100)).drop_vars(["embedding_pca", "embedding_pca_2d", "x_on_x_cos_hist"])
    write_results(store2, "analysis", "bare", an)
    res = runner.invoke(app, ["report", str(store2), str(tiny_run), "--out", str(tmp_path / "b"), "--dpi",
                              str(DPI), "--no-pdf", "--no-progress"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "skipped Accuracy vs step (evaluation/one): needs at least 2 checkpoints, these results have 1 " \
           "(step 500); manifold-lens evaluate with --checkpoints all" in out
    assert "skipped 3-D views" in out and "--embed pca,umap" in out
    assert "skipped Orthogonality and parallelism" in out and "x_on_x_cos_hist" in out
    # the run given directly is drawn; the moved one is named with why it is missing
    assert "skipped Dataset and training loss:" in out and "moved.zarr: no such run store" in out
    assert any("-dataset-tiny.png" in p.name for p in (tmp_path / "b").iterdir())


def test_bad_inputs_are_one_line(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no such results store or run store" in res.output
    (tmp_path / "plain").mkdir()
    res = runner.invoke(app, ["report", str(tmp_path / "plain"), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "neither a manifold-lens results store nor a run store" in res.output
    assert not (tmp_path / "r").exists()
