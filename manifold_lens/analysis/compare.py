"""The learned code measured beside its references: one call per code, or per checkpoint of a run.

:func:`references_for` measures one code (a layer at one timestep) and the
references of :mod:`~manifold_lens.analysis.references` on the same
conditions (pixels, the untrained network, a label-shuffled null, the ideal
codes) and stacks their summary metrics along a ``reference`` dim, learned
first (docs/science.md, section 6). :func:`analyze_run` does the same for
every checkpoint with :func:`fixed_references` (measured once per run) and
:func:`checkpoint_metrics`.
"""

from __future__ import annotations

import xarray as xr

from .measure import measure
from .references import SHUFFLE_SEED_OFFSET, ideal_codes, pixel_code, shuffled_code, stack_references

__all__ = ["checkpoint_metrics", "fixed_references", "references_for"]


def references_for(code: xr.DataArray, images=None, init: xr.DataArray | None = None, *, seed: int = 0,
                   embed=("pca",), homology: bool | None = None, loop_rule: dict | None = None) -> xr.Dataset:
    """:func:`~manifold_lens.measure` of ``code`` with its summary metrics beside those of the references.

    Args:
        code: activations (condition, unit) or (condition, draw, unit) with ``x``, ``y`` on condition.
        images: the ground-truth images of the conditions (condition, row, col), for ``pixels``
            (None: NaN there).
        init: the same layer of the untrained network, extracted alike (None: NaN there).
        seed: seeds measure; the shuffled null permutes with ``seed + SHUFFLE_SEED_OFFSET``.
        embed, homology: as for :func:`~manifold_lens.measure` (the references get no embeddings;
            the shuffled null no homology: its points are the learned code's).
        loop_rule: the loop count's settings (:meth:`MeasureSettings.loop_rule`; None: measure's defaults).

    Returns:
        The learned code's Dataset, its summary metrics along ``reference``
        (learned, pixels, init, shuffled, torus3d, clifford, plane).
    """
    kw = {"embed": (), "seed": seed, "homology": homology, **(loop_rule or {})}
    template = code.isel(draw=0, drop=True) if "draw" in code.dims else code
    others = {name: measure(v, **kw) for name, v in ideal_codes(template).items()}
    others["pixels"] = None if images is None else measure(pixel_code(images, template), **kw)
    others["init"] = None if init is None else measure(init, **kw)
    others["shuffled"] = measure(shuffled_code(code, seed + SHUFFLE_SEED_OFFSET), embed=(), seed=seed,
                                 homology=False)
    return stack_references(measure(code, embed=embed, seed=seed, homology=homology, **(loop_rule or {})), others)


def checkpoint_metrics(acts: dict[str, xr.DataArray], embed, step: int, seed: int,
                            notes: dict[str, None], fixed: dict | None = None, homology=None,
                            loop_rule: dict | None = None) -> xr.Dataset:
    """Measure every (timestep, layer) and stack to dims (checkpoint, timestep, layer, ...).

    ``notes`` collects measure's notes (skipped parts) across calls, in order.
    ``fixed`` maps (timestep, layer) to the measured references that do not
    change with the checkpoint (pixels, init, ideal codes); with it, the
    summary metrics gain the ``reference`` dim, the shuffled null measured
    here from this checkpoint's code (:mod:`manifold_lens.analysis.references`).
    """
    per_t = []
    for t in next(iter(acts.values()))["timestep"].values:
        per_layer = []
        for name, da in acts.items():
            code = da.sel(timestep=t, drop=True)
            m = measure(code, embed=embed, seed=seed, homology=homology, **(loop_rule or {}))
            notes.update(dict.fromkeys(n for n in m.attrs.get("notes", "").split("; ") if n))
            if fixed is not None:
                # the same points under other labels: homology would repeat the learned code's, so it is off
                shuffled = measure(shuffled_code(code, seed + SHUFFLE_SEED_OFFSET), embed=(), seed=seed,
                                   homology=False)
                m = stack_references(m, {**fixed[(int(t), name)], "shuffled": shuffled})
            m["n_units"] = xr.Variable((), da.sizes["unit"], {"long_name": "units of the layer",
                                                               "description": "activations measured per condition",
                                                               "units": "units"})
            per_layer.append(m.expand_dims(layer=[name]))
        per_t.append(xr.concat(per_layer, "layer", coords="minimal", compat="override",
                               combine_attrs="drop_conflicts").expand_dims(timestep=[int(t)]))
    ds = xr.concat(per_t, "timestep", coords="minimal", compat="override", combine_attrs="drop_conflicts")
    # coordinates on other dims (x, y on condition, ...) stay free of the new dims
    for name in list(ds.coords):
        c = ds[name]
        if name not in ds.dims and {"timestep", "layer"} & set(c.dims):
            ds = ds.assign_coords({name: c.isel(timestep=0, layer=0, missing_dims="ignore", drop=True)})
    return ds.expand_dims(checkpoint=[int(step)])


def fixed_references(acts: dict[str, xr.DataArray], acts0: dict[str, xr.DataArray] | None, images, seed: int,
                     notes: dict[str, None], homology=None, loop_rule: dict | None = None) -> dict:
    """The references that do not change with the checkpoint, measured once: {(timestep, layer): {name: ds}}.

    ``acts``: any checkpoint's activations (their conditions, coordinates and
    attrs are copied); ``acts0``: the step-0 checkpoint's (None when the run
    has none: ``init`` is NaN, with a note); ``images``: the ground-truth
    images of the conditions (``pixels``). The ideal codes come from
    :func:`~manifold_lens.analysis.references.ideal_codes`.
    """
    template = next(iter(acts.values())).isel(timestep=0, drop=True)
    kw = {"embed": (), "seed": seed, "homology": homology, **(loop_rule or {})}
    once = {"pixels": measure(pixel_code(images, template), **kw),
            **{k: measure(v, **kw) for k, v in ideal_codes(template).items()}}
    if acts0 is None:
        notes["init reference is NaN: the run has no step-0 checkpoint"] = None
    out = {}
    for layer, da in acts.items():
        for t in da["timestep"].values:
            init = None if acts0 is None else measure(acts0[layer].sel(timestep=t, drop=True), **kw)
            out[(int(t), layer)] = {**once, "init": init}
    return out
