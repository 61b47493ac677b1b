"""The stripes rim, two definitions (data.rim_kind): stripes just outside the frame, or 2D examples on its edge."""

import numpy as np
import pytest

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError


def stripes(*overrides, size=8):
    return SyntheticDataset(load_config("quick", overrides=[f"data.image_size={size}", "data.family=stripes",
                                                            "data.margin=3", "data.rim=1", *overrides]).data)


def in_frame(d, n=8):
    return (d.x >= 0) & (d.x <= n - 1) & (d.y >= 0) & (d.y <= n - 1)


def test_outside_rim_is_todays_default():
    d = stripes()
    assert d.config.rim_kind == "outside"
    assert len(d) == 14 * 14 - 4 * 9 - 64  # every 1D example, rim included
    assert not d.train[in_frame(d)].any()


def test_edge_rim_trains_the_frames_border_and_leaves_out_the_stripes_just_outside():
    d = stripes("data.rim_kind=edge")
    frame = in_frame(d)
    trained_2d = frame & d.train
    # rim 1 px: the outer ring of the 8 x 8 frame, 8 * 8 - 6 * 6 = 28 2D examples
    assert trained_2d.sum() == 28
    ring = np.minimum(np.minimum(d.x, 7 - d.x), np.minimum(d.y, 7 - d.y)) == 0
    np.testing.assert_array_equal(trained_2d, frame & ring)
    assert (d.region[frame & ~ring] == "frame_2d").all() and (frame & ~ring).sum() == 36
    # the stripes one pixel outside the frame are not trained: the edge is the only compositional data
    assert (d.region == "rim").sum() == 4 * 8 and not d.train[d.region == "rim"].any()
    # the rim's definition is recorded with the run's config
    assert d.conditions_dataset().sizes["condition"] == d.n_conditions and d.config.rim_kind == "edge"


def test_without_the_rim_both_kinds_give_the_same_training_set():
    a = stripes("data.include_rim=false")
    b = stripes("data.include_rim=false", "data.rim_kind=edge")
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.region, b.region)
    assert not (in_frame(a) & a.train).any()


def test_wider_edge_rim():
    d = stripes("data.rim_kind=edge", "data.rim=2", size=16)
    assert (in_frame(d, 16) & d.train).sum() == 16 * 16 - 12 * 12


def test_edge_rim_in_a_mixture_is_the_in_frame_family():
    d = SyntheticDataset(load_config("quick", overrides=["data.image_size=8", "data.family=mixture",
                                                         "data.mix.bump=1", "data.mix.stripes=1", "data.margin=3",
                                                         "data.rim=1", "data.rim_kind=edge"]).data)
    frame = in_frame(d)
    assert (d.family[frame] == "bump").all() and frame.sum() == 64  # no stripes condition inside the frame


@pytest.mark.parametrize("overrides, message", [
    (["data.rim_kind=edge", "data.rim=0"], "data.rim = 0.0: with data.rim_kind = 'edge'"),
    (["data.rim_kind=edge", "data.rim=4"], "give 0 < rim < 4"),
    (["data.rim_kind=corner"], "data.rim_kind = 'corner': must be one of outside, edge"),
])
def test_bad_rim_settings_are_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_config("quick", overrides=["data.image_size=8", "data.family=stripes", *overrides])
    assert "\n" not in str(e.value)
