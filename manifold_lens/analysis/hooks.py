"""Forward hooks on any ``torch.nn.Module`` by dotted module name.

In the style of TransformerLens's ``run_with_cache``, but as a context
manager, so no hook outlives the block that needs it::

    with capture(model, names=["bottleneck", "encoder.*"]) as cache:
        model(x_t, t, cond)
    cache["bottleneck"]            # output tensor, detached, on CPU
    cache.inputs["bottleneck"]     # only with inputs=True

Names are those of ``model.named_modules()`` (``encoder.2``, ``down_blocks.1``
in a diffusers UNet, ...). The names filter is an exact name, a glob pattern
(``encoder.*``; as in fnmatch, ``*`` also matches dots, so it selects nested
modules too, ``encoder.?`` only direct children), a list of those, or a
callable ``name -> bool``. An exact
name the model does not have raises :class:`ManifoldLensError` listing the
names it does have.

Which tensor is captured when a module returns (or takes) more than a tensor:
the first tensor found depth-first, i.e. the tensor itself; else the first
tensor of a tuple/list (recursively, so a diffusers down block's
``(hidden_states, res_samples)`` gives ``hidden_states``); else the first
tensor value of a dict or ``ModelOutput`` in insertion order (``sample``).
For inputs, positional arguments come before keyword arguments. A module that
is called several times in one forward keeps its *last* call;
``cache.calls[name]`` counts the calls.

Captured tensors are detached and moved to ``device`` (CPU by default). A
tensor that would still share memory with the model's own output is cloned,
so a later in-place operation in the model (``ReLU(inplace=True)``) cannot
change what was captured. An optional ``transform`` (e.g. mean over space)
runs on the model's device before the copy, so only what is kept is moved.
"""

from __future__ import annotations

import contextlib
import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from ..errors import ManifoldLensError

NamesFilter = str | Iterable[str] | Callable[[str], bool] | None

_GLOB_CHARS = set("*?[")
_MAX_LISTED = 40


def hookable_names(model: nn.Module) -> list[str]:
    """Dotted names of every submodule (the root module, named '', is excluded)."""
    return [name for name, _ in model.named_modules() if name]


def _available(names: list[str]) -> str:
    """Comma-separated names, truncated after the first ``_MAX_LISTED``."""
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f", ... ({more} more; see `manifold-lens layers`)" if more > 0 else "")


def select_names(model: nn.Module, names: NamesFilter = None) -> list[str]:
    """Resolve a names filter to the matching module names, in module order.

    ``None`` selects every submodule. Exact names and glob patterns that match
    nothing raise ManifoldLensError listing the available names.
    """
    available = hookable_names(model)
    if names is None:
        return available
    if callable(names):
        return [n for n in available if names(n)]
    patterns = [names] if isinstance(names, str) else list(names)
    if not patterns:
        raise ManifoldLensError("layer names: the list is empty; give at least one module name")
    chosen: set[str] = set()
    known = set(available)
    for pat in patterns:
        if not isinstance(pat, str):
            raise ManifoldLensError(f"layer name {pat!r}: must be a string (dotted module name or glob pattern)")
        if _GLOB_CHARS & set(pat):
            hits = fnmatch.filter(available, pat)
        else:
            hits = [pat] if pat in known else []
        if not hits:
            raise ManifoldLensError(
                f"unknown layer {pat!r} in {type(model).__name__}: available layers are {_available(available)}"
            )
        chosen.update(hits)
    return [n for n in available if n in chosen]


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The tensor a hook captures from a module's output or inputs (see module docstring)."""
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = first_tensor(item)
            if t is not None:
                return t
    return None


class ActivationCache(Mapping):
    """Captured outputs by module name (a read-only mapping), plus ``inputs`` and ``calls``."""

    def __init__(self) -> None:
        self.outputs: dict[str, torch.Tensor] = {}
        self.inputs: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self.outputs[name]
        except KeyError:
            captured = _available(list(self.outputs)) or "none"
            raise KeyError(f"{name!r}: no captured output; captured: {captured}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def clear(self) -> None:
        self.outputs.clear()
        self.inputs.clear()
        self.calls.clear()

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self.outputs.items())
        return f"ActivationCache({shapes})"


def _keep(t: torch.Tensor | None, transform, device) -> torch.Tensor | None:
    if t is None:
        return None
    with torch.no_grad():
        kept = t.detach()
        if transform is not None:
            kept = transform(kept)
        if kept.device != device:
            return kept.to(device)
        if kept.untyped_storage().data_ptr() == t.untyped_storage().data_ptr():
            return kept.clone()  # never alias the model's own buffer
        return kept


@contextlib.contextmanager
def capture(model: nn.Module, names: NamesFilter = None, *, inputs: bool = False, outputs: bool = True,
            transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
            device: str | torch.device = "cpu") -> Iterator[ActivationCache]:
    """Capture module outputs (and inputs with ``inputs=True``) during the block.

    Args:
        model: any ``nn.Module``.
        names: exact dotted names, glob patterns, a list of those, or a
            callable ``name -> bool``; ``None`` hooks every submodule.
        inputs, outputs: what to capture.
        transform: applied to each captured tensor on the model's device before
            it is moved (e.g. ``lambda a: a.mean((-2, -1))`` to pool space).
        device: where captured tensors are kept (default CPU).

    Every hook is removed when the block exits, also when it raises.
    """
    selected = select_names(model, names)
    modules = dict(model.named_modules())
    cache = ActivationCache()
    dev = torch.device(device)
    handles = []

    def make_hook(name: str):
        def hook(module, args, kwargs, output):
            cache.calls[name] = cache.calls.get(name, 0) + 1
            if outputs:
                out = _keep(first_tensor(output), transform, dev)
                if out is not None:
                    cache.outputs[name] = out
            if inputs:
                inp = _keep(first_tensor([args, kwargs]), transform, dev)
                if inp is not None:
                    cache.inputs[name] = inp
        return hook

    try:
        for name in selected:
            handles.append(modules[name].register_forward_hook(make_hook(name), with_kwargs=True))
        yield cache
    finally:
        for h in handles:
            h.remove()
        handles.clear()


def run_with_cache(model: nn.Module, *args, names: NamesFilter = None, inputs: bool = False,
                   transform=None, device: str | torch.device = "cpu", **kwargs) -> tuple[Any, ActivationCache]:
    """Run ``model(*args, **kwargs)`` once under :func:`capture`; return (output, cache)."""
    with torch.no_grad(), capture(model, names, inputs=inputs, transform=transform, device=device) as cache:
        out = model(*args, **kwargs)
    return out, cache


class LayerInfo(NamedTuple):
    """One hookable module: its dotted name, class name and captured output shape (None if not called)."""

    name: str
    module_type: str
    output_shape: tuple[int, ...] | None


def list_layers(model: nn.Module, example_inputs: Any = None) -> list[LayerInfo]:
    """Every hookable module name with its type and, given an example input, its output shape.

    ``example_inputs`` is a tuple of positional arguments, a dict of keyword
    arguments, or a callable ``run(model)`` that performs a forward pass. Only
    shapes are kept, so this is cheap in memory even for big models. Modules
    the forward pass does not call (or that return no tensor) get shape None.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    if example_inputs is not None:
        with torch.no_grad(), capture(model, None, transform=lambda a: torch.tensor(a.shape)) as cache:
            if callable(example_inputs):
                example_inputs(model)
            elif isinstance(example_inputs, Mapping):
                model(**example_inputs)
            elif isinstance(example_inputs, tuple):
                model(*example_inputs)
            else:
                model(example_inputs)
        shapes = {k: tuple(int(s) for s in v.tolist()) for k, v in cache.items()}
    return [LayerInfo(name, type(mod).__name__, shapes.get(name)) for name, mod in model.named_modules() if name]
