"""Extract activations of chosen layers over a grid of conditions, one per noise draw.

For every condition (x, y), timestep t, layer and each of ``noise_draws``
noise draws with fixed seeds, one activation is kept (dim ``draw``). The study
averages over noise (docs/science.md, section 3); keeping the draws lets
:func:`manifold_lens.measure` do better than measure the average: with two or
more draws its inner products are taken across different draws, so
independent noise cancels instead of biasing cosines toward 0 (docs/science.md,
section 6, "Noise"); ``.mean("draw")`` gives the plain average. Two ways to
reach the state x_t the network sees:

``noised`` (default)
    the ground-truth image of the condition, forward-noised to t with
    q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, then one forward.
``trajectory``
    the model's own reverse sampling trajectory: deterministic DDIM (eta = 0,
    x0 clipped as the schedule says) from pure noise over ``sampling_steps`` steps with
    :func:`manifold_lens.diffusion.sample`; the states x_t it passes through at
    the requested timesteps are fed to one hooked forward each (the same call
    the sampler made there). Timesteps must be ones DDIM visits
    (:func:`manifold_lens.diffusion.ddim_timesteps` of the schedule).

Noise draw k uses seed ``seed + k`` and one noise field shared by every
condition ("common random numbers"): in ``noised`` mode eps_k, in
``trajectory`` mode the start noise x_T of every condition's trajectory.
Differences between conditions within a draw then come from the condition
alone, not from different noise (with a noise field per condition an
untrained network looks like a code with no continuity at all).

Spatial maps (B, C, H, W) are flattened to ``unit`` = C x H x W (channel
slowest, then row, column), or averaged over space with ``pool=True`` (unit =
channel). Other shapes are flattened after the batch dimension.

The result is one ``xarray.DataArray`` per layer with dims
(``timestep``, ``condition``, ``draw``, ``unit``) and coordinates x, y,
region, in_train (and family) on ``condition``: ``acts[layer].sel(timestep=50)``
is ready for :func:`manifold_lens.measure`. Memory grows with the draws:
timesteps x conditions x draws x units x 4 bytes per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import xarray as xr
from torch import nn
from tqdm.auto import tqdm

from ..devices import resolve_device
from ..diffusion import NoiseSchedule, run_sampler
from ..coords import coord_attrs
from ..errors import ManifoldLensError
from ..stores import Run, open_run
from .grid import condition_grid, render_grid
from .hooks import LayerInfo, capture, hookable_names, list_layers, select_names
from .settings import DEFAULT_TIMESTEP_FRACTION, MODES, ExtractionSettings, default_timesteps

__all__ = ["DEFAULT_LAYERS", "DEFAULT_TIMESTEP_FRACTION", "MODES", "ExtractionSettings", "default_timesteps",
           "default_layers", "extract_activations", "extract_checked", "extract_run", "feature_attrs",
           "layer_aliases", "resolve_layers", "run_layers"]

DEFAULT_LAYERS = ("bottleneck",)

Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_E = ExtractionSettings.default


def layer_aliases(model: nn.Module) -> dict[str, str]:
    """The model's own names for some of its layers (``model.layer_aliases``, e.g. ``layer4`` -> ``encoder.2``)."""
    return dict(getattr(model, "layer_aliases", {}) or {})


def default_layers(model: nn.Module) -> list[str]:
    """The layers analysed when none are named: ``model.default_layers``, else ``bottleneck``."""
    return list(getattr(model, "default_layers", None) or DEFAULT_LAYERS)


def resolve_layers(model: nn.Module, layers: str | Sequence[str] | None = None) -> list[str]:
    """Layer names after the model's aliases (the bundled UNet: ``layer4`` -> ``encoder.2``).

    Default: :func:`default_layers`. Each name must be an exact dotted module
    name of the model, a glob pattern or an alias the model declares; an
    unknown one raises ManifoldLensError listing the available names.
    """
    layers = default_layers(model) if layers is None else ([layers] if isinstance(layers, str) else list(layers))
    known = set(hookable_names(model))
    aliases = layer_aliases(model)
    out: list[str] = []
    for name in layers:
        name = aliases[name] if name not in known and name in aliases else name
        for n in select_names(model, name):
            if n not in out:
                out.append(n)
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


def _image_shape(model: nn.Module, conditions: xr.Dataset, images, mode: str):
    """The checked ground-truth images (condition, C, H, W) tensor (or None) and the shape of one image."""
    for c in ("x", "y"):
        if c not in conditions.coords and c not in conditions:
            raise ManifoldLensError(f"conditions: missing coordinate {c!r} on dim 'condition'")
    n = conditions.sizes["condition"]
    if images is not None:
        x0 = torch.as_tensor(np.asarray(images, dtype=np.float32))
        x0 = x0[:, None] if x0.dim() == 3 else x0
        if x0.shape[0] != n:
            raise ManifoldLensError(f"images: {x0.shape[0]} images for {n} conditions")
        return x0, tuple(x0.shape[1:])
    if mode == "noised":
        raise ManifoldLensError("mode 'noised' needs the ground-truth images of the conditions")
    size = getattr(model, "image_size", None)
    if size is None:
        raise ManifoldLensError("mode 'trajectory' needs images (for their shape) or model.image_size")
    return None, (1, int(size), int(size))


def extract_activations(model: nn.Module, conditions: xr.Dataset, images: np.ndarray | None,
                        schedule: NoiseSchedule, *, forward: Forward | None = None,
                        layers: str | Sequence[str] | None = None, timesteps: Sequence[int] | None = _E("timesteps"),
                        mode: str = _E("mode"), noise_draws: int = _E("noise_draws"), seed: int = _E("seed"),
                        pool: bool = _E("pool"), batch_size: int = _E("batch_size"),
                        sampling_steps: int = _E("sampling_steps"), device: str | torch.device = "auto",
                        progress: bool = True) -> dict[str, xr.DataArray]:
    """Activations {layer: DataArray(timestep, condition, draw, unit)} of any model.

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
        forward: ``forward(x_t, t, cond) -> output`` (eps, v or x0: the schedule's prediction_type), running the
            model on a batch (cond = (B, 2) float32 (x, y)); default ``model``
            itself, as the bundled UNet is called.
        layers: names, globs or the model's aliases (``layer4``); default :func:`default_layers`.
        timesteps: default :func:`default_timesteps`.
        mode, noise_draws, seed, pool, sampling_steps: see the module docstring.
        batch_size: images per forward pass.
        progress: a progress bar over noise draws, timesteps and batches.

    The settings are checked by :meth:`ExtractionSettings.check` (a bad value
    is a one-line ConfigError naming the parameter).
    """
    settings = ExtractionSettings(mode, timesteps, noise_draws, seed, pool, sampling_steps,
                                  batch_size).check(schedule=schedule)
    dev = resolve_device(device)
    model = model.to(dev).eval()
    return extract_checked(model, conditions, images, schedule, settings, resolve_layers(model, layers),
                           forward=forward, device=dev, progress=progress)


def extract_checked(model: nn.Module, conditions: xr.Dataset, images, schedule: NoiseSchedule,
                    settings: ExtractionSettings, names: list[str], *, forward: Forward | None = None,
                    device: torch.device = torch.device("cpu"), progress: bool = False) -> dict[str, xr.DataArray]:
    """:func:`extract_activations` on checked settings and resolved layer ``names`` (model on ``device``, eval)."""
    mode, ts = settings.mode, settings.timesteps
    x0_all, img_shape = _image_shape(model, conditions, images, mode)
    forward = model if forward is None else forward
    n = conditions.sizes["condition"]
    cond_all = torch.as_tensor(np.stack([conditions["x"].values, conditions["y"].values], 1), dtype=torch.float32)
    per_draw: dict[str, np.ndarray] = {}
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
            else:  # one start noise for every condition (the sampler's images have one channel)
                start = torch.randn((1, 1, img_shape[-1], img_shape[-1]), generator=gen)
                _, states = run_sampler(forward, schedule, cond_all, settings.sampler_plan(schedule),
                                        image_size=img_shape[-1], generator=gen, batch_size=settings.batch_size,
                                        device=device, states_at=ts, start=start)
            for ti, t in enumerate(ts):
                for sl in batches:
                    c = cond_all[sl].to(device)
                    tt = torch.full((c.shape[0],), t, dtype=torch.long, device=device)
                    if states is None:
                        x0 = x0_all[sl].to(device)
                        x_t = schedule.q_sample(x0, tt, eps.to(device).expand_as(x0))
                    else:
                        x_t = states[t][sl].to(device)
                    if not shapes:
                        with capture(model, names, transform=lambda a: torch.tensor(a.shape)) as cache:
                            forward(x_t[:1], tt[:1], c[:1])
                        shapes.update({key: tuple(int(v) for v in val.tolist()) for key, val in cache.items()})
                    with capture(model, names, transform=flatten) as cache:
                        forward(x_t, tt, c)
                    for name in names:
                        a = cache[name].numpy()
                        if name not in per_draw:
                            per_draw[name] = np.zeros((len(ts), n, settings.noise_draws, a.shape[1]),
                                                      dtype=np.float32)
                        per_draw[name][ti, sl, k] = a
                    bar.update()
    bar.close()

    coords = {k: ("condition", conditions[k].values, conditions[k].attrs)
              for k in conditions.coords if conditions[k].dims == ("condition",)}
    out = {}
    for name in names:
        if name not in per_draw:
            raise ManifoldLensError(f"layer {name!r} was not called by the forward pass (or returned no tensor)")
        da = xr.DataArray(
            per_draw.pop(name), dims=("timestep", "condition", "draw", "unit"),
            coords={"timestep": ("timestep", np.asarray(ts), coord_attrs("timestep")), **coords,
                    "draw": ("draw", np.arange(settings.noise_draws),
                             {"long_name": "noise draw", "description": "draw k: seed + k, one noise field "
                              "shared by every condition"}),
                    **_unit_coords(shapes.get(name, ()), settings.pool)},
            name="activation",
            attrs={"long_name": f"activation of {name}", "units": "activation",
                   "description": f"output of module {name!r} for each of {settings.noise_draws} noise draws "
                                  "(dim draw; .mean('draw') is the average over noise)",
                   "layer": name, "output_shape": list(shapes.get(name, ())), **settings.attrs()},
        )
        out[name] = da
    return out


def extract_run(run, step: int | None = None, *, ema: bool | None = None, x=None, y=None,
                layers: str | Sequence[str] | None = None, timesteps: Sequence[int] | None = _E("timesteps"),
                mode: str = _E("mode"), noise_draws: int = _E("noise_draws"), seed: int = _E("seed"),
                pool: bool = _E("pool"), batch_size: int = _E("batch_size"),
                sampling_steps: int = _E("sampling_steps"), device: str | torch.device = "auto",
                model: nn.Module | None = None, progress: bool = True) -> dict[str, xr.DataArray]:
    """Activations of one checkpoint of a run, per noise draw (see :func:`extract_activations`).

    ``run`` is a :class:`~manifold_lens.stores.Run` or a path; ``step``
    None = the last committed checkpoint. Conditions default to every
    candidate condition of the run's stored dataset; ``x``/``y`` give a grid
    instead (see :func:`~manifold_lens.analysis.grid.condition_grid`). The step
    is recorded as a ``checkpoint`` attribute.
    """
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


def run_layers(run, step: int | None = None) -> tuple[list[LayerInfo], dict[str, str], list[str]]:
    """The hookable layers of a run's model with their output shapes for one input (batch of 1),
    the model's layer aliases and its default layers."""
    run = run if isinstance(run, Run) else open_run(run)
    model = run.load_model(step)
    ds = run.dataset
    x0 = torch.as_tensor(ds.render_conditions([0]))[:, None]
    cond = torch.tensor([[ds.x[0], ds.y[0]]], dtype=torch.float32)
    infos = list_layers(model, (x0, torch.zeros(1, dtype=torch.long), cond))
    return infos, layer_aliases(model), default_layers(model)


def feature_attrs(dataset) -> dict:
    """``periodic`` (and ``period``, px) attrs that tell :func:`manifold_lens.measure` how x, y wrap."""
    if dataset.periodic:
        return {"periodic": 1, "period": [float(dataset.image_size), float(dataset.image_size)]}
    return {"periodic": 0}
