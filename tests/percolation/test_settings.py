"""The percolation settings: defaults written once, checks naming the parameter, attrs, and the retired names.

Every retired keyword or value (``method=``, ``"pixels"``, ``lattice=``,
``n=``) must still work, warn, and give the same numbers as the new one.
"""

import contextlib
import inspect

import numpy as np
import pytest
import xarray as xr

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError
from manifold_lens.percolation import (PercolationSettings, PercolationTestSettings, coverage_graph,
                                       dataset_percolation, design_keep_fractions, lattice_neighbourhood,
                                       lattice_of_config, lattice_percolation, neighbour_overlap_curve, percolate,
                                       percolation_test, pixel_overlap)
from manifold_lens.percolation.design import lattice_curves
from manifold_lens.percolation.overlap import check_method, condition_edges, lattice_overlap_1d

P, T = PercolationSettings, PercolationTestSettings


@contextlib.contextmanager
def retired(*fragments):
    """Expect DeprecationWarnings whose messages hold every fragment."""
    with pytest.warns(DeprecationWarning) as w:
        yield
    text = " | ".join(str(x.message) for x in w)
    for f in fragments:
        assert f in text, text


def test_defaults_are_declared_once_and_read_by_every_signature():
    assert (P.default("threshold"), P.default("overlap"), P.default("trials"), P.default("lattice_side")) == \
        (0.005, "pixel", 20, 256)
    assert (T.default("threshold"), T.default("overlap")) == (P.default("threshold"), P.default("overlap"))
    assert (T.default("outcome"), T.default("n_boot"), T.default("level"), T.default("trials")) == \
        ("accuracy_ood", 1000, 0.95, 100)
    for fn in (lattice_percolation, lattice_neighbourhood, percolate, coverage_graph, dataset_percolation,
               design_keep_fractions, lattice_curves, condition_edges, percolation_test):
        params = inspect.signature(fn).parameters
        assert params["threshold"].default == P.default("threshold"), fn.__name__
        assert params["overlap"].default == P.default("overlap"), fn.__name__
    for fn in (lattice_percolation, dataset_percolation, percolate):
        assert inspect.signature(fn).parameters["trials"].default == P.default("trials")
    for fn in (percolation_test, lattice_percolation, percolate, dataset_percolation, design_keep_fractions):
        assert inspect.signature(fn).parameters["progress"].default is True, fn.__name__
    assert P.help("threshold").startswith("overlap at which two") and P.units("lattice_side") == "sites"


@pytest.mark.parametrize("cls,kwargs,message", [
    (P, {"threshold": 0}, "threshold = 0: must be in (0, 1)"),
    (P, {"threshold": "x"}, "threshold = x: must be in (0, 1)"),
    (P, {"overlap": "exact"}, "overlap = 'exact': must be pixel"),
    (P, {"trials": 0}, "trials = 0: must be >= 1"),
    (P, {"trials": 2.5}, "trials = 2.5: must be a whole number"),
    (P, {"seed": -1}, "seed = -1: must be >= 0"),
    (P, {"keep_fractions": [0.5, 1.5]}, "keep_fractions = 1.5: give values in [0, 1]"),
    (P, {"lattice_side": 1}, "lattice_side = 1: needs at least 2 sites per side, a whole number"),
    (P, {"lattice_side": (4, 1)}, "lattice_side = 4 x 1: needs at least 2 sites per side"),
    (P, {"spacing": 0}, "spacing = 0: must be a finite number > 0 (px)"),
    (P, {"spacing": "wide"}, "spacing = wide: give one value or (y, x)"),
    (P, {"overlap": ["pixel"]}, "overlap = ['pixel']: must be pixel"),
    (T, {"outcome": ""}, "outcome = '': name a per-run variable"),
    (T, {"n_boot": 5}, "n_boot = 5: give >= 20 bootstrap resamples"),
    (T, {"level": 1.0}, "level = 1.0: must be in (0, 1)"),
    (T, {"trials": 0}, "trials = 0: must be >= 1"),
    (T, {"threshold": 2}, "threshold = 2: must be in (0, 1)"),
])
def test_bad_values_are_one_line_errors_naming_the_parameter(cls, kwargs, message):
    with pytest.raises(ConfigError) as e:
        cls(**kwargs).check()
    assert str(e.value).startswith(message) and "\n" not in str(e.value) and "--" not in str(e.value)


def test_from_mapping_attrs_and_resume_equality():
    with pytest.raises(ConfigError, match=r"\[percolate\] unknown key 'lattice': valid keys are threshold, overlap"):
        P.from_mapping({"lattice": 16}, where="[percolate]")
    s = P.from_mapping({"lattice_side": 16, "trials": 3})
    assert s.attrs() == {"threshold": 0.005, "overlap": "pixel", "trials": 3, "lattice_side": 16, "spacing": 1.0,
                         "periodic": 0, "seed": 0}
    assert s.differs({"trials": 3, "threshold": 0.005}) == []
    assert s.differs({"trials": 5}) == ["trials = 5 stored, 3 now"]
    t = T.from_mapping({"n_boot": 50.0})
    assert t.n_boot == 50 and isinstance(t.n_boot, int) and t.attrs()["level"] == 0.95


def test_the_retired_overlap_value_warns_and_means_pixel():
    with retired("overlap = 'pixels' is deprecated; use 'pixel'"):
        assert P(overlap="pixels").check().overlap == "pixel"
    with retired("check_method is deprecated"):
        assert check_method("continuum") == "continuum"


def test_retired_keywords_warn_and_give_the_same_numbers():
    new = lattice_percolation([0.6], 1.0, 0.005, lattice_side=16, trials=3, overlap="pixel", progress=False)
    with retired("lattice_percolation(lattice=...) is deprecated; use lattice_side=",
                 "lattice_percolation(method=...) is deprecated; use overlap=", "overlap = 'pixels' is deprecated"):
        old = lattice_percolation([0.6], 1.0, 0.005, lattice=16, trials=3, method="pixels", progress=False)
    xr.testing.assert_identical(old, new)
    assert new.attrs["overlap"] == "pixel" and new.attrs["method"] == "pixels" and new.attrs["lattice_side"] == 16

    with retired("lattice_neighbourhood"):
        old = lattice_neighbourhood(0.6, 1.0, 0.005, lattice=32, method="continuum")
    for a, b in zip(old, lattice_neighbourhood(0.6, 1.0, 0.005, lattice_side=32, overlap="continuum")):
        np.testing.assert_array_equal(a, b)
    with retired("lattice_overlap_1d"):
        np.testing.assert_array_equal(lattice_overlap_1d([1, 2], 1.0, 0.6, method="pixels"),
                                      lattice_overlap_1d([1, 2], 1.0, 0.6, "pixel"))
    with retired("lattice_curves"):
        old, _ = lattice_curves(0.5, 8, method="pixels", keep_fractions=[0.3, 0.6], trials=4)
    np.testing.assert_array_equal(old, lattice_curves(0.5, 8, keep_fractions=[0.3, 0.6], trials=4)[0])

    cfg = load_config("quick", overrides=["data.image_size=16", "data.sigma=0.5"])
    data = SyntheticDataset(cfg)
    with retired("coverage_graph"):
        g_old = coverage_graph(data, method="pixels")
    g_new = coverage_graph(data)
    assert sorted(g_old.edges) == sorted(g_new.edges) and g_new.graph["overlap"] == "pixel"
    with retired("condition_edges"):
        old = condition_edges(data, data.train_index, method="pixels")
    for a, b in zip(old, condition_edges(data, data.train_index)):
        np.testing.assert_array_equal(a, b)
    with retired("dataset_percolation"):
        old = dataset_percolation(cfg, keep_fractions=[0.5], trials=2, method="pixels", progress=False)
    xr.testing.assert_identical(old, dataset_percolation(cfg, keep_fractions=[0.5], trials=2, progress=False))
    with retired("percolate"):
        old = percolate([0.6], lattice_side=16, trials=2, method="pixels", progress=False)
    new = percolate([0.6], lattice_side=16, trials=2, progress=False)
    xr.testing.assert_identical(old.drop_attrs(), new.drop_attrs())

    with retired("neighbour_overlap_curve(n=...) is deprecated; use image_size="):
        old = neighbour_overlap_curve([0.5, 1.0], [0.0, 1.0, 2.0], n=24)
    xr.testing.assert_identical(old, neighbour_overlap_curve([0.5, 1.0], [0.0, 1.0, 2.0], image_size=24))
    with retired("pixel_overlap"):
        old = pixel_overlap("bump", 5.0, 5.0, 6.0, 5.0, n=16, sigma_x=1.0)
    assert old == pixel_overlap("bump", 5.0, 5.0, 6.0, 5.0, 16, 1.0) == pytest.approx(np.exp(-0.25), rel=1e-3)

    spec = lattice_of_config(cfg)
    with retired("LatticeSpec.lattice is deprecated"):
        assert spec.lattice == spec.lattice_side == (16, 16)


def test_an_unknown_keyword_is_still_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'latice'"):
        lattice_percolation([0.6], latice=16, progress=False)
