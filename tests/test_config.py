import pytest

from manifold_lens.config import RunConfig, list_presets, load_config, load_preset, valid_keys
from manifold_lens.errors import ConfigError


def test_presets_exist_and_validate():
    assert {"quick", "paper-bump", "paper-torus"} <= set(list_presets())
    for name in list_presets():
        load_preset(name).validate()
    assert load_preset("quick").data.image_size == 16
    assert load_preset("paper-torus").data.family == "periodic"


def test_required_keys_exist():
    for section, key in [("data", "family"), ("data", "image_size"), ("data", "sigma"), ("data", "keep_fraction"),
                         ("model", "base_channels"), ("train", "steps"), ("train", "batch_size"), ("train", "seed")]:
        assert key in valid_keys(section)


def test_overrides_are_typed():
    c = load_config("quick", overrides=["data.sigma=2", "train.steps=7", "data.family=sos",
                                        "model.channel_mult=[1,1,2]", "train.channels_last=false",
                                        "data.holdout.kind=cross", "data.holdout.width=3"])
    assert c.data.sigma == 2.0 and isinstance(c.data.sigma, float)
    assert c.train.steps == 7 and c.data.family == "sos"
    assert c.model.channel_mult == [1, 1, 2] and c.train.channels_last is False
    assert c.data.holdout.kind == "cross"
    # resolved per-axis values and the automatic checkpoint interval
    assert c.data.sigma_x == c.data.sigma_y == 2.0


def test_mixture_override_into_table():
    c = load_config("quick", overrides=["data.family=mixture", "data.mix.bump=1", "data.mix.stripes=0.5"])
    assert c.data.mix == {"bump": 1.0, "stripes": 0.5}


def test_json_round_trip():
    c = load_config("paper-bump")
    assert RunConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize("override, fragment", [
    ("data.sigma=0", "data.sigma"),
    ("data.sigma=-1", "data.sigma"),
    ("data.keep_fraction=0", "data.keep_fraction"),
    ("data.keep_fraction=1.5", "data.keep_fraction"),
    ("data.image_size=12", "data.image_size"),
    ("data.image_size=4", "data.image_size"),
    ("data.family=blob", "data.family"),
    ("data.sigma=abc", "data.sigma"),
    ("train.steps=ten", "train.steps"),
    ("train.steps=1.5", "train.steps"),
    ("model.base_channels=x", "model.base_channels"),
    ("train.nope=1", "valid keys in section [train] are steps"),
    ("nope=1", "valid keys in the top level"),
    ("data.holdout.kind=square", "data.holdout.kind"),
])
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as e:
        load_config("quick", overrides=[override])
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_holdout_larger_than_frame():
    with pytest.raises(ConfigError, match="larger than the 16 px frame"):
        load_config("quick", overrides=["data.holdout.kind=interior", "data.holdout.width=20"])


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="quick"):
        load_config("nope")


def test_config_file(tmp_path):
    p = tmp_path / "exp.toml"
    p.write_text('[data]\nfamily = "sos"\nimage_size = 8\n[train]\nsteps = 3\n')
    c = load_config(config=p)
    assert c.data.family == "sos" and c.train.steps == 3 and c.model.base_channels == 64
    p.write_text("[data\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(config=p)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(config=tmp_path / "missing.toml")


def test_unknown_key_is_reported_before_other_errors():
    with pytest.raises(ConfigError, match="unknown key 'train.nope': valid keys in section"):
        load_config("quick", overrides=["data.family=mixture", "train.nope=1"])  # the mixture lacks data.mix too
    with pytest.raises(ConfigError, match="data.sigma is a value, not a section"):
        load_config("quick", overrides=["data.sigma.x=1"])


def test_choices_are_listed_plainly_whatever_their_number():
    """pydantic words three or more choices as "'a', 'b' or 'c'": every one is listed without quotes."""
    from manifold_lens.config import load_config
    from manifold_lens.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config("quick", overrides=["data.family=blob"])
    assert str(err.value) == "data.family = 'blob': must be one of bump, periodic, sos, stripes, mixture"
    with pytest.raises(ConfigError) as err:
        load_config("quick", overrides=["data.holdout.position=middle"])
    assert str(err.value) == "data.holdout.position = 'middle': must be one of corner, edge"
