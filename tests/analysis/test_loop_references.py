"""The loop rule's settings (MeasureSettings) and the torus3d reference's loop count on coarse grids."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import topology as topo
from manifold_lens.analysis.references import mask_torus3d_loops, stack_references, torus3d_loop_problem
from manifold_lens.analysis.settings import MeasureSettings
from manifold_lens.errors import ConfigError


def test_loop_rule_defaults_are_declared_once_and_checked():
    m = MeasureSettings().check()
    assert m.loop_rule() == {"homology_neighbors": topo.NEIGHBORS, "homology_null_draws": topo.NULL_DRAWS,
                             "betti_min_ratio": topo.MIN_DEATH_BIRTH_RATIO}
    key = m.resume_key()
    assert key["homology_null_draws"] == 19 and key["betti_min_ratio"] == 2.5 and key["homology_neighbors"] == 8
    for kw, match in (({"homology_neighbors": 0}, "homology_neighbors = 0: must be an integer >= 1"),
                      ({"homology_null_draws": 1.5}, "homology_null_draws = 1.5"),
                      ({"betti_min_ratio": 1.2}, "betti_min_ratio = 1.2: must be a number >= 1.5")):
        with pytest.raises(ConfigError, match=match):
            MeasureSettings(**kw).check()


@pytest.mark.parametrize("nx, ny, ok", [(16, 16, True), (24, 12, True), (32, 32, True), (12, 12, False),
                                        (16, 8, False), (8, 16, False), (12, 24, False)])
def test_torus3d_loop_count_is_trusted_only_on_calibrated_grids(nx, ny, ok):
    # calibrated (R = 2 r, even angle grid): 16 x 16, 24 x 12 right; 12 x 12 and 16 x 8 one loop, 8 x 16 eight,
    # 12 x 24 thirteen (more tube than ring samples: the outer meridians close as loops)
    assert (torus3d_loop_problem(nx, ny) == "") is ok


def _summary(betti, nx, ny):
    return xr.Dataset({"betti_1": ((), float(betti), {"note": ""}), "betti_1_band": (("rule_setting",), [betti] * 2),
                       "effective_dim": ((), 3.0)}, attrs={"n_x_values": nx, "n_y_values": ny, "notes": ""})


def test_coarse_torus3d_reference_reports_nan_with_the_reason():
    coarse = mask_torus3d_loops(_summary(1, 10, 10))
    assert np.isnan(float(coarse.betti_1)) and bool(coarse.betti_1_band.isnull().all())
    assert float(coarse.effective_dim) == 3.0  # the other metrics stay
    assert "10 x 10 grid" in coarse.betti_1.attrs["note"] and coarse.betti_1.attrs["note"] in coarse.attrs["notes"]
    fine = _summary(2, 16, 16)
    assert mask_torus3d_loops(fine) is fine
    out = stack_references(_summary(2, 10, 10), {"torus3d": _summary(1, 10, 10), "clifford": _summary(2, 10, 10)})
    assert out.betti_1.sel(reference="torus3d").isnull() and float(out.betti_1.sel(reference="clifford")) == 2
    assert "ideal 3-D torus" in out.attrs["reference_notes"]


def test_study_figure_marks_inconclusive_loop_counts():
    from tests.report.study_datasets import torus_study

    from manifold_lens import plot

    study = torus_study()
    conclusive = xr.ones_like(study["betti_1"])
    conclusive.loc[{"reference": "learned"}] = np.where(np.arange(study.sizes["run"]) == 0, 0.0, 1.0).reshape(
        conclusive.sel(reference="learned").shape[:1] + (1,) * (conclusive.sel(reference="learned").ndim - 1))
    study["betti_1_conclusive"] = conclusive
    fig = plot.torus_references(study)
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert any("inconclusive\n(1 run)" in t for t in texts) and sum("inconclusive" in t for t in texts) == 1
