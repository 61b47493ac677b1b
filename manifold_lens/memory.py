"""What a run needs before it allocates: memory for its dataset, model and training, and disk for its store.

Sizes are estimated from the config alone, without building anything real:
the candidate lattice is counted arithmetically, and the model is built on
PyTorch's ``meta`` device (shapes, no storage), where one forward pass of a
single image records the size of every intermediate tensor. A run that needs
more than the machine has is refused with one line naming the keys that drive
the largest part, instead of failing deep inside numpy or torch (or being
killed by the kernel). The estimates are upper bounds of the right order
(within a factor of about 2), not exact figures.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from .config import DataConfig, RunConfig
from .devices import available_memory
from .errors import ConfigError
from .models import build_model

GIB = 2**30
BYTES_PER_CONDITION = 200   # x, y, family, region, masks and their temporaries while the lattice is built
RENDER_BYTES_PER_PIXEL = 12  # float64 rendering plus the float32 training copy
TRAINING_COPIES = 5          # weights, gradients, two AdamW moments, EMA
BACKWARD_FACTOR = 2          # saved activations plus their gradients
MAX_CHECKPOINTS = 100_000    # rows per run store; each holds every weight


def gib(n: float) -> str:
    """Bytes as GiB with sensible precision: '0.02 GiB', '74.5 GiB', '3.6e+05 GiB'."""
    g = n / GIB
    return f"{g:.2g} GiB" if g < 1 else f"{g:.1f} GiB" if g < 1e4 else f"{g:.2g} GiB"


def lattice_counts(data: DataConfig) -> tuple[int, int]:
    """(candidate conditions, expected training examples) of a data section, counted without building it."""
    d = data.resolved()
    n = d.image_size
    per_axis = [np.floor((n - 1) / s + 1e-9) + 1 for s in (d.spacing_x, d.spacing_y)]
    frame = float(per_axis[0] * per_axis[1])
    fams = dict(d.mix) if d.family == "mixture" else {d.family: 1.0}
    candidates = train = 0.0
    for fam in fams:
        keep = d.keep_fractions.get(fam, d.keep_fraction)
        count = frame
        if fam == "stripes":
            wide = [a + 2 * np.floor(d.margin / s + 1e-9) for a, s in zip(per_axis, (d.spacing_x, d.spacing_y))]
            count = float(wide[0] * wide[1])
        candidates += count
        train += count * keep
    return int(min(candidates, 2**62)), int(min(train, 2**62))


class _TensorBytes(TorchDispatchMode):
    """Sums the bytes of every new tensor an operation returns (on the meta device: sizes only)."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        if not (returns and returns[0].alias_info is not None):  # views and in-place results hold no new memory
            self.total += sum(t.numel() * t.element_size() for t in tree_flatten(out)[0]
                              if isinstance(t, torch.Tensor))
        return out


@dataclass(frozen=True)
class ModelSize:
    """A model's size: parameter count and bytes of intermediate tensors per image in one forward pass."""

    parameters: int
    forward_bytes_per_image: int

    @property
    def weight_bytes(self) -> int:
        return 4 * self.parameters


def model_size(name: str, params: dict, image_size: int, forward: bool = True) -> ModelSize:
    """Measure a model built on the meta device (no memory used); ``forward`` also runs one image through it."""
    with torch.device("meta"):
        model = build_model(name, params, image_size)
    n_params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    per_image = 0
    if forward:
        x = torch.zeros(1, 1, image_size, image_size, device="meta")
        t = torch.zeros(1, dtype=torch.long, device="meta")
        cond = torch.zeros(1, 2, device="meta")
        counter = _TensorBytes()
        try:
            with torch.no_grad(), counter:
                model(x, t, cond)
            per_image = counter.total
        except (NotImplementedError, RuntimeError):  # a model whose ops have no meta kernel: weights only
            per_image = 0
    return ModelSize(int(n_params), int(per_image))


def _refuse(what: str, need: float, have: float, fix: str) -> ConfigError:
    return ConfigError(f"{what} needs about {gib(need)} but this machine has {gib(have)} available; {fix}")


def check_dataset_memory(data: DataConfig, available: int | None = None) -> None:
    """Refuse a dataset whose lattice and rendered training images would not fit in memory."""
    have = available_memory() if available is None else available
    d = data
    candidates, train = lattice_counts(data)
    need = candidates * BYTES_PER_CONDITION + train * float(d.image_size) ** 2 * RENDER_BYTES_PER_PIXEL
    if need > have:
        raise _refuse(f"data.image_size = {d.image_size}, data.spacing = {d.spacing:g}: the dataset "
                      f"({candidates:,} conditions, about {train:,} training images)", need, have,
                      "lower data.image_size or data.keep_fraction, or raise data.spacing")


def check_model_memory(config: RunConfig, available: int | None = None, what: str = "the model") -> ModelSize:
    """Refuse a model whose weights alone would not fit in memory (e.g. a crafted store's config)."""
    have = available_memory() if available is None else available
    size = model_size(config.model.name, config.model.params, config.data.image_size, forward=False)
    if size.weight_bytes > have:
        raise _refuse(f"{what} ({config.model.name}, {size.parameters:,} parameters)", size.weight_bytes, have,
                      "lower model.base_channels or model.embed_dim")
    return size


def checkpoint_count(config: RunConfig) -> int:
    """Checkpoints a run of ``config`` stores (regular, early and the last), counted without listing them."""
    t = config.resolved().train
    every = max(1, t.checkpoint_every)
    return 1 + t.steps // every + (t.steps % every != 0) + min(t.early_checkpoints, every - 1)


def check_run_resources(config: RunConfig, out: str | Path, device: torch.device | str = "cpu",
                        available: int | None = None) -> None:
    """Refuse, before anything is allocated, a run that cannot fit: dataset, model and training memory,
    the number of checkpoints, and the disk its store needs."""
    check_dataset_memory(config.data, available)
    dev = torch.device(device)
    have = available_memory() if available is None else available
    if dev.type == "cuda":
        have = min(have, torch.cuda.mem_get_info(dev)[0]) if available is None else have
    size = model_size(config.model.name, config.model.params, config.data.image_size)
    t = config.train
    weights = TRAINING_COPIES * size.weight_bytes
    activations = float(t.batch_size) * size.forward_bytes_per_image * BACKWARD_FACTOR
    if weights + activations > have:
        if weights >= activations:
            raise _refuse(f"the model ({size.parameters:,} parameters, with gradients, optimizer state and EMA)",
                          weights + activations, have, "lower model.base_channels or model.embed_dim")
        raise _refuse(f"train.batch_size = {t.batch_size}: training ({gib(size.forward_bytes_per_image)} of "
                      f"activations per {config.data.image_size} x {config.data.image_size} image)",
                      weights + activations, have, "lower train.batch_size (or data.image_size)")
    n_ckpt = checkpoint_count(config)
    if n_ckpt > MAX_CHECKPOINTS:
        every = config.resolved().train.checkpoint_every
        raise ConfigError(f"train.steps = {t.steps} with train.checkpoint_every = {every} makes {n_ckpt:,} checkpoints"
                          f" (at most {MAX_CHECKPOINTS:,}); raise train.checkpoint_every "
                          "or lower train.steps")
    copies = 2 if t.ema_decay > 0 else 1
    _, train = lattice_counts(config.data)
    store = n_ckpt * copies * size.weight_bytes + train * float(config.data.image_size) ** 2 * 4
    parent = Path(out).resolve().parent
    while not parent.exists():
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if store > free:
        raise ConfigError(f"{out}: the run store needs about {gib(store)} of disk ({n_ckpt:,} checkpoints of "
                          f"{size.parameters:,} weights) but {parent} has {gib(free)} free; raise "
                          "train.checkpoint_every or free disk space")
