import pytest
import torch

from manifold_lens.config import load_config
from manifold_lens.errors import ConfigError, ManifoldLensError
from manifold_lens.models import available_models, build_model, validate_model_params
from manifold_lens.trainers.unet import sinusoidal

SHAPES_8 = {  # documented in the README (N = 8, base 8, mult [1, 2, 2])
    "embed": (2, 32),
    "conv_in": (2, 8, 8, 8),
    "encoder.0": (2, 8, 8, 8),
    "down.0": (2, 8, 4, 4),
    "encoder.1": (2, 16, 4, 4),
    "down.1": (2, 16, 2, 2),
    "encoder.2": (2, 16, 2, 2),
    "down.2": (2, 16, 1, 1),
    "bottleneck": (2, 16, 1, 1),
    "up.0": (2, 16, 2, 2),
    "decoder.0": (2, 16, 2, 2),
    "up.1": (2, 16, 4, 4),
    "decoder.1": (2, 16, 4, 4),
    "up.2": (2, 16, 8, 8),
    "decoder.2": (2, 8, 8, 8),
    "out": (2, 1, 8, 8),
}


def tiny_model(size=8):
    return build_model("unet", {"base_channels": 8, "embed_dim": 32, "freq_dim": 8, "attention_resolutions": [4]},
                       size)


def test_registered_by_entry_point():
    assert "unet" in available_models()


def test_named_module_shapes():
    model = tiny_model()
    shapes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
             for n, m in model.named_modules() if n in SHAPES_8]
    out = model(torch.randn(2, 1, 8, 8), torch.tensor([3, 500]), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    for h in hooks:
        h.remove()
    assert out.shape == (2, 1, 8, 8)
    assert shapes == SHAPES_8
    names = dict(model.named_modules())
    assert names["encoder.1"].attention is not None  # 4x4 is in attention_resolutions
    assert names["encoder.0"].attention is None
    assert names["bottleneck"].attention is not None


def test_condition_changes_output():
    torch.manual_seed(0)
    model = tiny_model().eval()
    x = torch.randn(1, 1, 8, 8)
    t = torch.tensor([10])
    a = model(x, t, torch.tensor([[1.0, 1.0]]))
    b = model(x, t, torch.tensor([[6.0, 1.0]]))
    c = model(x, torch.tensor([900]), torch.tensor([[1.0, 1.0]]))
    assert (a - b).abs().max() > 1e-4 and (a - c).abs().max() > 1e-4


def test_sinusoidal_encoding():
    e = sinusoidal(torch.tensor([0.0, 3.0]), 8, 100.0)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    # the fastest feature has period 2 pi px: cos(3)
    assert e[1, 0].item() == pytest.approx(torch.cos(torch.tensor(3.0)).item(), abs=1e-6)


@pytest.mark.parametrize("preset", ["quick", "paper-bump"])
def test_preset_models_build(preset):
    cfg = load_config(preset)
    model = build_model(cfg.model.name, cfg.model.params, cfg.data.image_size)
    n = sum(p.numel() for p in model.parameters())
    assert 1e5 < n < 5e7


def test_factory_validates_its_parameters():
    params = validate_model_params("unet", {"base_channels": 8}, 16)
    assert params["base_channels"] == 8 and params["channel_mult"] == [1, 2, 2]  # defaults filled in
    for bad, fragment in [({"base_channels": 0}, "model.base_channels = 0: must be >= 1"),
                          ({"channel_mult": [1, 2]}, "model.channel_mult = [1, 2]: needs three"),
                          ({"groups": 3}, "model.groups = 3: every stage width"),
                          ({"freq_dim": 7}, "model.freq_dim = 7: must be an even number"),
                          ({"depth": 3}, "unknown key 'model.depth': valid keys in section [model] are base_channels")]:
        with pytest.raises(ConfigError) as e:
            validate_model_params("unet", bad, 16)
        assert fragment in str(e.value)
    with pytest.raises(ConfigError, match="data.image_size = 12: the UNet downsamples three times"):
        validate_model_params("unet", {}, 12)


def test_layer_aliases_are_declared_by_the_model():
    from manifold_lens.analysis import resolve_layers

    model = tiny_model()
    assert resolve_layers(model, "layer4") == ["encoder.2"] and resolve_layers(model) == ["bottleneck"]
    other = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU())  # a model without aliases
    with pytest.raises(ManifoldLensError, match="unknown layer 'layer4'"):
        resolve_layers(other, "layer4")
    other.layer_aliases, other.default_layers = {"hidden": "0"}, ("1",)  # any model may declare its own
    assert resolve_layers(other, "hidden") == ["0"] and resolve_layers(other) == ["1"]


def test_scale_shift_block_is_film():
    """With scale_shift the embedding scales and shifts the second GroupNorm's output: exactly (1 + s) norm + b."""
    from manifold_lens.trainers.unet import ResBlock

    torch.manual_seed(0)
    block = ResBlock(4, 4, embed_dim=3, groups=2, scale_shift=True).eval()
    assert block.emb.out_features == 8  # a scale and a shift per channel
    scale, shift = torch.tensor([0.5, -1.0, 2.0, 0.0]), torch.tensor([1.0, 0.0, -3.0, 0.25])
    with torch.no_grad():
        block.emb.weight.zero_()
        block.emb.bias.copy_(torch.cat([scale, shift]))
    h, emb = torch.randn(2, 4, 5, 5), torch.randn(2, 3)
    r = block.norm2(block.conv1(torch.nn.functional.silu(block.norm1(h))))
    expected = h + block.conv2(torch.nn.functional.silu(r * (1 + scale)[:, None, None] + shift[:, None, None]))
    torch.testing.assert_close(block(h, emb), expected)


def test_scale_shift_changes_only_the_embedding_projections():
    """Stores written before scale_shift existed build the additive model: same names, same shapes."""
    plain = tiny_model().state_dict()
    film = build_model("unet", {"base_channels": 8, "embed_dim": 32, "freq_dim": 8, "attention_resolutions": [4],
                                "scale_shift": True}, 8).state_dict()
    assert list(plain) == list(film)
    differ = {k for k in plain if plain[k].shape != film[k].shape}
    assert differ and all(k.endswith((".emb.weight", ".emb.bias")) for k in differ)
    assert all(film[k].shape[0] == 2 * plain[k].shape[0] for k in differ)
    assert validate_model_params("unet", {}, 16)["scale_shift"] is False  # the default stays additive
    assert load_config("quick").model.params["scale_shift"] is True
