import pytest

from manifold_lens.config import RunConfig, list_presets, load_config, load_preset, valid_keys
from manifold_lens.errors import ConfigError


def test_presets_exist_and_are_checked():
    assert {"quick", "paper-bump", "paper-torus"} <= set(list_presets())
    for name in list_presets():
        load_preset(name).checked()
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
    with pytest.raises(ConfigError, match=r"^config = .*missing.toml: no such file$"):
        load_config(config=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="^give either preset or config, not both$"):
        load_config("quick", config=p)
    with pytest.raises(ConfigError, match="^override 'train.steps': expected key=value, e.g. train.steps=500$"):
        load_config("quick", overrides=["train.steps"])


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


def test_checked_fills_the_model_defaults_and_validate_is_its_deprecated_alias():
    cfg = RunConfig.from_dict({"model": {"name": "unet", "base_channels": 8}})
    checked = cfg.checked()
    assert checked.model.base_channels == 8 and "embed_dim" in checked.model.params
    assert "embed_dim" not in cfg.model.params  # checked() returns a copy
    with pytest.warns(DeprecationWarning, match=r"RunConfig.checked\(\)"):
        assert cfg.validate() == checked
    # on the class, validate is pydantic's own (deprecated) classmethod again, no longer shadowed
    with pytest.warns(DeprecationWarning, match="model_validate"):
        assert RunConfig.validate({"train": {"steps": 7}}).train.steps == 7


def test_the_config_modules_import_no_model_lazily():
    """config and memory import the model registry at module level (no function-level import of the package)."""
    import ast
    import inspect

    import manifold_lens.config.files as files
    import manifold_lens.config.schema as schema
    import manifold_lens.memory as memory

    for module in (files, schema, memory):
        for fn in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(fn, ast.FunctionDef):
                assert not [n for n in ast.walk(fn) if isinstance(n, ast.ImportFrom) and n.level], fn.name
