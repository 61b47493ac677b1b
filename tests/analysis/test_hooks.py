"""Hooks: capture by dotted name, filters, removal (also on error), no memory growth."""

import gc
import warnings
import weakref

import pytest
import torch
from torch import nn

from manifold_lens.errors import ManifoldLensError
from manifold_lens.analysis.hooks import capture, first_tensor, list_layers, run_with_cache, select_names


class Block(nn.Module):
    """Returns a tuple (main, skip) like a diffusers down block."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.act = nn.SiLU()

    def forward(self, x, scale=1.0):
        h = self.act(self.conv(x)) * scale
        return h, (x,)


class DictOut(nn.Module):
    def forward(self, x):
        return {"aux": None, "sample": x * 2, "other": x * 3}


class Nested(nn.Module):
    """A custom model with nested names: encoder.0.conv, encoder.1.act, head, ..."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.encoder = nn.ModuleList([Block(4), Block(4)])
        self.head = DictOut()
        self.unused = nn.Linear(3, 3)

    def forward(self, x, scale=1.0):
        h = self.stem(x)
        for blk in self.encoder:
            h, _ = blk(h, scale=scale)
        return self.head(h)["sample"]


def all_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def seq():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def test_sequential_outputs_match_manual_forward(seq):
    x = torch.randn(4, 5)
    out, cache = run_with_cache(seq, x, names=["0", "2"])
    torch.testing.assert_close(cache["0"], seq[0](x))
    torch.testing.assert_close(cache["2"], out)
    assert set(cache) == {"0", "2"}
    assert not cache["0"].requires_grad and cache["0"].device.type == "cpu"
    assert all_hooks(seq) == 0


def test_inplace_op_after_capture_does_not_alter_it():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 16), nn.ReLU(inplace=True))
    x = torch.randn(8, 5)
    with torch.no_grad(), capture(m, "0") as cache:
        m(x)
    # the Linear output has negative entries; an aliased capture would show ReLU's zeros instead
    assert (cache["0"] < 0).any()
    torch.testing.assert_close(cache["0"], m[0](x))


def test_nested_names_glob_callable_and_inputs():
    torch.manual_seed(0)
    m = Nested()
    x = torch.randn(2, 1, 6, 6)
    assert "encoder.1.conv" in select_names(m)
    assert select_names(m, "encoder.*.conv") == ["encoder.0.conv", "encoder.1.conv"]
    assert select_names(m, lambda n: n.endswith("act")) == ["encoder.0.act", "encoder.1.act"]
    with torch.no_grad(), capture(m, ["encoder.0", "encoder.1.act", "head"], inputs=True) as cache:
        y = m(x, scale=0.5)
    # tuple output -> first element; dict output -> first tensor value ("sample")
    stem = m.stem(x)
    h0 = m.encoder[0].act(m.encoder[0].conv(stem)) * 0.5
    torch.testing.assert_close(cache["encoder.0"], h0)
    torch.testing.assert_close(cache.inputs["encoder.0"], stem)
    torch.testing.assert_close(cache["head"], y)
    torch.testing.assert_close(cache["head"], cache.inputs["head"] * 2)
    assert cache.calls == {"encoder.0": 1, "encoder.1.act": 1, "head": 1}
    assert all_hooks(m) == 0


def test_first_tensor_rules():
    a, b = torch.zeros(1), torch.ones(1)
    assert first_tensor(a) is a
    assert first_tensor((None, [b, a])) is b
    assert first_tensor({"x": None, "sample": a, "b": b}) is a
    assert first_tensor([None, {}]) is None


def test_unknown_name_lists_available(seq):
    with pytest.raises(ManifoldLensError, match=r"unknown layer 'bottleneck'.*available layers are 0, 1, 2"):
        with capture(seq, ["0", "bottleneck"]):
            pass
    with pytest.raises(ManifoldLensError, match="unknown layer 'dec.*'"):
        select_names(seq, "dec.*")
    assert all_hooks(seq) == 0


def test_long_name_list_is_truncated():
    m = nn.Sequential(*[nn.Identity() for _ in range(100)])
    with pytest.raises(ManifoldLensError) as e:
        select_names(m, "nope")
    msg = str(e.value)
    assert "\n" not in msg and "(60 more" in msg and len(msg) < 400


def test_hooks_removed_after_exception():
    m = Nested()
    with pytest.raises(RuntimeError):
        with capture(m, None, inputs=True):
            assert all_hooks(m) == len(select_names(m))  # every submodule hooked inside
            m(torch.randn(1, 2, 6, 6))  # wrong channel count: the stem raises
    assert all_hooks(m) == 0
    for mod in m.modules():
        assert not mod._forward_hooks and not mod._forward_hooks_with_kwargs


def test_hooks_removed_when_user_code_raises(seq):
    with pytest.raises(KeyError):
        with capture(seq, "1"):
            raise KeyError("boom")
    assert all_hooks(seq) == 0


def test_transform_pools_before_copy():
    m = Nested()
    with torch.no_grad(), capture(m, "stem", transform=lambda a: a.mean((-2, -1))) as cache:
        m(torch.randn(3, 1, 6, 6))
    assert cache["stem"].shape == (3, 4)


def test_list_layers_shapes():
    m = Nested()
    infos = list_layers(m, (torch.randn(2, 1, 6, 6),))
    by = {i.name: i for i in infos}
    assert by["stem"].output_shape == (2, 4, 6, 6)
    assert by["encoder.0"].module_type == "Block" and by["encoder.0"].output_shape == (2, 4, 6, 6)
    assert by["unused"].output_shape is None  # never called
    assert list_layers(m)[0].output_shape is None  # no example input: names and types only
    assert all_hooks(m) == 0


def test_repeated_captures_do_not_grow_memory():
    """Captured tensors die with their cache; the model keeps no reference to them."""
    torch.manual_seed(0)
    m = Nested()
    x = torch.randn(4, 1, 6, 6)
    refs = []

    def n_tensors():
        gc.collect()
        with warnings.catch_warnings():  # isinstance() pokes deprecated torch proxies
            warnings.simplefilter("ignore")
            return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    for i in range(30):
        with torch.no_grad(), capture(m, None, inputs=True) as cache:
            m(x)
        refs.extend(weakref.ref(t) for t in cache.values())
        del cache
        if i == 4:
            baseline = n_tensors()
    gc.collect()
    assert refs and all(r() is None for r in refs)
    assert n_tensors() <= baseline
    assert all_hooks(m) == 0
