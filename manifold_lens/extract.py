"""Extract mean activations of chosen layers over a grid of conditions.

For every condition (x, y), timestep t and layer, the activation is averaged
over ``noise_draws`` noise draws with fixed seeds (SCIENCE.md section 3:
"activations ... at chosen timesteps, averaged over noise"). Two ways to reach
the state x_t the network sees:

``noised`` (default)
    the ground-truth image of the condition, forward-noised to t with
    q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, then one forward.
``trajectory``
    the model's own reverse sampling trajectory: deterministic DDIM (eta = 0,
    x0 clipped to [-1, 1]) from pure noise over ``sampling_steps`` steps with
    :func:`manifold_lens.sampling.sample`; the states x_t it passes through at
    the requested timesteps are fed to one hooked forward each (the same call
    the sampler made there). Timesteps must be ones DDIM visits
    (:func:`manifold_lens.sampling.ddim_timesteps`).

Noise draw k uses seed ``seed + k``. In ``noised`` mode one noise field eps_k
is shared by every condition ("common random numbers"): differences between
conditions then come from the condition alone, not from different noise, so
K = 4 draws already give a clean grid. In ``trajectory`` mode each condition
starts from its own noise (the sampler draws one field per sample). The study
only says "averaged over noise"; these are our documented defaults.

Spatial maps (B, C, H, W) are flattened to ``unit`` = C x H x W (channel
slowest, then row, column), or averaged over space with ``pool=True`` (unit =
channel). Other shapes are flattened after the batch dimension.

The result is one ``xarray.DataArray`` per layer with dims
(``timestep``, ``condition``, ``unit``) and coordinates x, y, region,
in_train (and family) on ``condition``: ``acts[layer].sel(timestep=50)`` is
ready for :func:`manifold_lens.measure`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from .errors import ManifoldLensError
from .hooks import capture, hookable_names, select_names
from .sampling import ddim_timesteps, resolve_device, sample
from .schedule import NoiseSchedule

MODES = ("noised", "trajectory")
DEFAULT_LAYERS = ("bottleneck",)
# The study's names for layers of the bundled UNet.
LAYER_ALIASES = {"layer4": "encoder.2"}
# Default timestep as a fraction of T: low noise, the image is still clearly
# visible (t = 50 of T = 1000: sqrt(abar) = 0.985, noise std 0.17).
DEFAULT_TIMESTEP_FRACTION = 0.05

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def default_timesteps(T: int, mode: str = "noised", sampling_steps: int = 50) -> list[int]:
    """Default analysis timesteps: [round(0.05 T)] (50 for T = 1000).

    In trajectory mode, the DDIM-visited timestep nearest to it (41 for
    T = 1000 and 50 steps).
    """
    t = int(round(DEFAULT_TIMESTEP_FRACTION * T))
    if mode == "trajectory":
        t = min(ddim_timesteps(T, min(sampling_steps, T)), key=lambda v: (abs(v - t), v))
    return [t]


def resolve_layers(model: nn.Module, layers: str | Sequence[str] | None = None) -> list[str]:
    """Layer names after aliases (``layer4`` -> ``encoder.2``); default ``bottleneck``.

    Each name must be an exact dotted module name of the model or a glob
    pattern; an unknown one raises ManifoldLensError listing the available names.
    """
    layers = list(DEFAULT_LAYERS) if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    known = set(hookable_names(model))
    out: list[str] = []
    for name in layers:
        name = LAYER_ALIASES[name] if name not in known and name in LAYER_ALIASES else name
        for n in select_names(model, name):
            if n not in out:
                out.append(n)
    return out


@dataclass
class ExtractionSettings:
    """How activations were extracted; recorded in every output's attrs."""

    mode: str = "noised"
    timesteps: list[int] = field(default_factory=list)
    noise_draws: int = 4
    seed: int = 0
    pool: bool = False
    sampling_steps: int = 50
    batch_size: int = 256

    def validate(self, schedule: NoiseSchedule) -> "ExtractionSettings":
        if self.mode not in MODES:
            raise ManifoldLensError(f"--mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if not self.timesteps:
            raise ManifoldLensError("--timesteps: give at least one timestep")
        self.timesteps = schedule.check_timesteps(self.timesteps, "--timesteps")
        if len(set(self.timesteps)) != len(self.timesteps):
            raise ManifoldLensError(f"--timesteps {self.timesteps}: each timestep once")
        if self.noise_draws < 1:
            raise ManifoldLensError(f"--noise-draws {self.noise_draws}: must be >= 1")
        if self.batch_size < 1:
            raise ManifoldLensError(f"batch_size {self.batch_size}: must be >= 1")
        if self.sampling_steps < 1:
            raise ManifoldLensError(f"sampling_steps {self.sampling_steps}: must be >= 1")
        return self

    def attrs(self) -> dict:
        d = asdict(self)
        d["pool"] = int(d["pool"])
        d["noise"] = "one noise field per draw, shared by all conditions (seed + draw)"
        return d


# -- conditions ------------------------------------------------------------

def _parse_axis(values, name: str) -> np.ndarray:
    """A list of numbers or a 'lo:hi[:step]' string (inclusive) -> float array."""
    if isinstance(values, str):
        parts = values.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ManifoldLensError(f"--{name} {values!r}: use numbers, e.g. 0:31:2 or 3,5,7") from None
        if len(parts) not in (2, 3) or (len(parts) == 3 and nums[2] <= 0) or nums[1] < nums[0]:
            raise ManifoldLensError(f"--{name} {values!r}: a range is lo:hi or lo:hi:step with lo <= hi and step > 0")
        step = nums[2] if len(parts) == 3 else 1.0
        return nums[0] + step * np.arange(int(np.floor((nums[1] - nums[0]) / step + 1e-9)) + 1)
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.size == 0:
        raise ManifoldLensError(f"--{name}: give at least one value")
    return arr


def condition_grid(dataset, x=None, y=None) -> xr.Dataset:
    """Conditions to extract at, for a :class:`~manifold_lens.datasets.SyntheticDataset`.

    With ``x = y = None``: every candidate condition (training and held out)
    with its region. Otherwise the grid of all (x, y) pairs of the given values
    (lists or 'lo:hi[:step]' strings, inclusive, in pixels); a grid point that
    is a candidate keeps its region and train mask, others get region
    ``off_lattice``. Points outside the canvas (the span of the candidate
    lattice) raise ManifoldLensError. Adds ``condition_index`` (-1 off lattice).
    """
    cands = dataset.conditions_dataset()
    idx_all = np.arange(cands.sizes["condition"])
    if x is None and y is None:
        return cands.assign_coords(condition_index=("condition", idx_all))
    cx, cy = np.asarray(dataset.x), np.asarray(dataset.y)
    xs = np.unique(cx) if x is None else _parse_axis(x, "x")
    ys = np.unique(cy) if y is None else _parse_axis(y, "y")
    for name, vals, c in (("x", xs, cx), ("y", ys, cy)):
        bad = vals[(vals < c.min() - 1e-9) | (vals > c.max() + 1e-9)]
        if bad.size:
            raise ManifoldLensError(
                f"--{name} {bad[:5].tolist()} outside the canvas [{c.min():g}, {c.max():g}] px of this run's dataset"
            )
    gx, gy = np.meshgrid(xs, ys)  # y slow, x fast, as the dataset's lattice
    gx, gy = gx.ravel(), gy.ravel()
    match = (np.abs(gx[:, None] - cx[None]) < 1e-6) & (np.abs(gy[:, None] - cy[None]) < 1e-6)
    found = match.any(axis=1)
    index = np.where(found, match.argmax(axis=1), -1)
    region = np.where(found, cands["region"].values[index], "off_lattice").astype(str)
    family = np.where(found, cands["family"].values[index], dataset.components[0].family).astype(str)
    in_train = np.where(found, cands["in_train"].values[index], False)
    ds = xr.Dataset(coords={
        "x": ("condition", gx, cands["x"].attrs),
        "y": ("condition", gy, cands["y"].attrs),
        "family": ("condition", family),
        "region": ("condition", region),
        "in_train": ("condition", in_train.astype(bool), cands["in_train"].attrs),
        "condition_index": ("condition", index),
    })
    ds.attrs = dict(cands.attrs)
    return ds


def render_grid(dataset, conditions: xr.Dataset) -> np.ndarray:
    """Ground-truth images (condition, 1, N, N) for conditions from :func:`condition_grid`."""
    idx = conditions["condition_index"].values
    out = np.empty((len(idx), 1, dataset.image_size, dataset.image_size), dtype=np.float32)
    on = idx >= 0
    if on.any():
        out[on, 0] = dataset.render_conditions(idx[on])
    for fam in np.unique(conditions["family"].values[~on]):
        sel = ~on & (conditions["family"].values == fam)
        out[sel, 0] = dataset.render(conditions["x"].values[sel], conditions["y"].values[sel], fam)
    return out


# -- extraction --------------------------------------------------------------

def _flatten(pool: bool):
    def f(a: torch.Tensor) -> torch.Tensor:
        if pool and a.dim() > 2:
            a = a.mean(dim=tuple(range(2, a.dim())))
        return a.reshape(a.shape[0], -1).float()
    return f


def _unit_coords(shape: tuple[int, ...], pool: bool) -> dict:
    """channel (and row, col for unpooled spatial maps) of each unit."""
    if len(shape) < 2:
        return {}
    if pool or len(shape) == 2:
        return {"channel": ("unit", np.arange(shape[1]))}
    if len(shape) == 4:
        c, h, w = shape[1:]
        ch, r, col = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
        return {"channel": ("unit", ch.ravel()), "row": ("unit", r.ravel()), "col": ("unit", col.ravel())}
    return {}


def extract_activations(model: nn.Module, conditions: xr.Dataset, images: np.ndarray | None,
                        schedule: NoiseSchedule, *, forward: Forward | None = None,
                        layers: str | Sequence[str] | None = None, timesteps: Sequence[int] | None = None,
                        mode: str = "noised", noise_draws: int = 4, seed: int = 0, pool: bool = False,
                        batch_size: int = 256, sampling_steps: int = 50, device: str | torch.device = "auto",
                        progress: bool = False) -> dict[str, xr.DataArray]:
    """Mean activations {layer: DataArray(timestep, condition, unit)} of any model.

    Args:
        model: the ``nn.Module`` whose submodules are hooked (moved to ``device``
            and put in eval mode).
        conditions: xr.Dataset with dim ``condition`` and coords x, y (px);
            other condition coords (region, in_train, ...) are carried over.
        images: ground-truth x_0 per condition, (condition, N, N) or
            (condition, C, H, W) in the model's pixel range; needed for
            ``mode="noised"`` only (the trajectory mode starts from noise; it
            takes N from ``images`` if given, else from ``model.image_size``,
            and, like the sampler, assumes one channel).
        schedule: the forward process (its T bounds the timesteps).
        forward: ``forward(x_t, t, cond) -> predicted noise``, running the
            model on a batch (cond = (B, 2) float32 (x, y)); default ``model``
            itself, as the bundled UNet is called.
        layers: names, globs or aliases (``layer4``); default ``bottleneck``.
        timesteps: default :func:`default_timesteps`.
        mode, noise_draws, seed, pool, sampling_steps: see the module docstring.
        batch_size: images per forward pass.
    """
    settings = ExtractionSettings(mode, list(default_timesteps(schedule.T, mode, sampling_steps) if timesteps is None
                                               else timesteps),
                                  int(noise_draws), int(seed), bool(pool), int(sampling_steps),
                                  int(batch_size)).validate(schedule)
    for c in ("x", "y"):
        if c not in conditions.coords and c not in conditions:
            raise ManifoldLensError(f"conditions: missing coordinate {c!r} on dim 'condition'")
    dev = resolve_device(device)
    model = model.to(dev).eval()
    forward = model if forward is None else forward
    names = resolve_layers(model, layers)
    n = conditions.sizes["condition"]
    cond_all = torch.as_tensor(np.stack([conditions["x"].values, conditions["y"].values], 1), dtype=torch.float32)
    if images is not None:
        x0_all = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if x0_all.dim() == 3:
            x0_all = x0_all[:, None]
        if x0_all.shape[0] != n:
            raise ManifoldLensError(f"images: {x0_all.shape[0]} images for {n} conditions")
        img_shape = tuple(x0_all.shape[1:])
    elif mode == "noised":
        raise ManifoldLensError("mode 'noised' needs the ground-truth images of the conditions")
    else:
        size = getattr(model, "image_size", None)
        if size is None:
            raise ManifoldLensError("mode 'trajectory' needs images (for their shape) or model.image_size")
        img_shape = (1, int(size), int(size))

    ts = settings.timesteps
    if mode == "trajectory":
        visited = set(ddim_timesteps(schedule.T, min(settings.sampling_steps, schedule.T)))
        off = [t for t in ts if t not in visited]
        if off:
            near = sorted(visited, key=lambda v: abs(v - off[0]))[:2]
            raise ManifoldLensError(
                f"--timesteps {off}: not visited by DDIM with {settings.sampling_steps} steps; in trajectory mode "
                f"use visited ones (nearest: {', '.join(map(str, sorted(near)))}; see sampling.ddim_timesteps)"
            )
    sums: dict[str, np.ndarray] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    flatten = _flatten(settings.pool)
    batches = [slice(i, min(i + settings.batch_size, n)) for i in range(0, n, settings.batch_size)]
    bar = tqdm(total=settings.noise_draws * len(ts) * len(batches), desc=f"extract ({mode})",
               disable=not progress, leave=False, unit="batch")
    with torch.no_grad():
        for k in range(settings.noise_draws):
            gen = torch.Generator().manual_seed(settings.seed + k)
            if mode == "noised":
                eps = torch.randn((1, *img_shape), generator=gen)
                states = None
            else:
                _, states = sample(forward, schedule, cond_all, image_size=img_shape[-1], sampler="ddim",
                                   steps=min(settings.sampling_steps, schedule.T), generator=gen,
                                   batch_size=settings.batch_size, device=dev, return_states_at=ts,
                                   progress=False)
            for ti, t in enumerate(ts):
                for sl in batches:
                    c = cond_all[sl].to(dev)
                    tt = torch.full((c.shape[0],), t, dtype=torch.long, device=dev)
                    if states is None:
                        x0 = x0_all[sl].to(dev)
                        x_t = schedule.q_sample(x0, tt, eps.to(dev).expand_as(x0))
                    else:
                        x_t = states[t][sl].to(dev)
                    if not shapes:
                        with capture(model, names, transform=lambda a: torch.tensor(a.shape)) as cache:
                            forward(x_t[:1], tt[:1], c[:1])
                        shapes.update({key: tuple(int(v) for v in val.tolist()) for key, val in cache.items()})
                    with capture(model, names, transform=flatten) as cache:
                        forward(x_t, tt, c)
                    for name in names:
                        a = cache[name].numpy()
                        if name not in sums:
                            sums[name] = np.zeros((len(ts), n, a.shape[1]), dtype=np.float64)
                        sums[name][ti, sl] += a
                    bar.update()
    bar.close()

    coords = {k: ("condition", conditions[k].values, conditions[k].attrs)
              for k in conditions.coords if conditions[k].dims == ("condition",)}
    out = {}
    for name in names:
        if name not in sums:
            raise ManifoldLensError(f"layer {name!r} was not called by the forward pass (or returned no tensor)")
        mean = (sums.pop(name) / settings.noise_draws).astype(np.float32)
        da = xr.DataArray(
            mean, dims=("timestep", "condition", "unit"),
            coords={"timestep": ("timestep", np.asarray(ts), {"long_name": "diffusion timestep"}), **coords,
                    **_unit_coords(shapes.get(name, ()), settings.pool)},
            name="activation",
            attrs={"long_name": f"mean activation of {name}", "units": "activation",
                   "description": f"output of module {name!r} averaged over {settings.noise_draws} noise draws",
                   "layer": name, "output_shape": list(shapes.get(name, ())), **settings.attrs()},
        )
        out[name] = da
    return out


def extract_run(run, step: int | None = None, *, ema: bool | None = None, x=None, y=None,
                layers: str | Sequence[str] | None = None, timesteps: Sequence[int] | None = None,
                mode: str = "noised", noise_draws: int = 4, seed: int = 0, pool: bool = False,
                batch_size: int = 256, sampling_steps: int = 50, device: str | torch.device = "auto",
                model: nn.Module | None = None, progress: bool = False) -> dict[str, xr.DataArray]:
    """Mean activations of one checkpoint of a run (see :func:`extract_activations`).

    ``run`` is a :class:`~manifold_lens.runstore.Run` or a path; ``step``
    None = the last committed checkpoint. Conditions default to every
    candidate condition of the run's dataset; ``x``/``y`` give a grid instead
    (see :func:`condition_grid`). The step is recorded as a ``checkpoint``
    attribute.
    """
    from .runstore import Run, open_run

    run = run if isinstance(run, Run) else open_run(run)
    conditions = condition_grid(run.dataset, x, y)
    images = render_grid(run.dataset, conditions) if mode == "noised" else None
    dev = resolve_device(device)
    if model is None:
        model = run.load_model(step, ema=ema, device=dev)
    acts = extract_activations(model, conditions, images, run.schedule, layers=layers, timesteps=timesteps,
                               mode=mode, noise_draws=noise_draws, seed=seed, pool=pool, batch_size=batch_size,
                               sampling_steps=sampling_steps, device=dev, progress=progress)
    ck = run.steps[-1] if step is None or step == -1 else int(step)
    for da in acts.values():
        da.attrs.update({"checkpoint": ck, "source_run": str(run.path), **feature_attrs(run.dataset)})
    return acts


def feature_attrs(dataset) -> dict:
    """``periodic`` (and ``period``, px) attrs that tell :func:`manifold_lens.measure` how x, y wrap."""
    if dataset.periodic:
        return {"periodic": 1, "period": [float(dataset.image_size), float(dataset.image_size)]}
    return {"periodic": 0}
