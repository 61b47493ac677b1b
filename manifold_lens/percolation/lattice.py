"""Site percolation of the training lattice (docs/science.md, section 5).

Keeping each lattice site with probability lambda (``keep_fraction``) is site
percolation with an extended neighbourhood: every lattice offset whose bump
overlap (:mod:`~manifold_lens.percolation.overlap`) passes the threshold.
:func:`lattice_percolation` gives the largest-cluster curves and the threshold
estimate ``lambda_c`` (:mod:`~manifold_lens.percolation.kernels`) per bump
width; :func:`lattice_of_config` reads the lattice a run config trains on.

Finite lattices shift ``lambda_c`` by O(L^-3/4) (L sites per side): on 256 x
256 it gives 0.595 (nearest neighbours, exact 0.59274605) and 0.408 (with
diagonals, exact 0.40725395), within 0.003. The per-trial spread
(``lambda_c_std``) is the width of the finite-size transition. As a cross
check ``lambda_span`` is the mean keep fraction at which a cluster first joins
opposite edges of an open lattice (left-right or top-bottom); it approaches
the exact value from below (0.589 at 256 x 256) and is undefined (NaN) on
periodic lattices.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..config import DataConfig, RunConfig
from ..datasets import lattice as lattice_axis
from ..devices import available_memory
from ..errors import ConfigError
from ..stores import write_results, writing_results
from ..versions import package_versions
from .kernels import (
    ESTIMATOR,
    binomial_weights,
    canonical,
    largest_jump,
    newman_ziff,
    summarize_trials,
)
from .overlap import connection_radius, continuum_overlap, lattice_overlap_1d
from .settings import PercolationSettings, overlap_kind, renamed_keywords, retired_method

_P = PercolationSettings

DEFAULT_KEEP_FRACTIONS = np.round(np.arange(1, 101) / 100.0, 2)


class LatticeSpec(NamedTuple):
    """The lattice of bump centres a run trains on: widths (px), spacing (y, x) px, sites (ly, lx), torus or not."""

    sigma_x: float
    sigma_y: float
    spacing: tuple[float, float]
    lattice_side: tuple[int, int]
    periodic: bool
    note: str = ""

    @property
    def lattice(self) -> tuple[int, int]:
        """Deprecated: :attr:`lattice_side`."""
        warnings.warn("LatticeSpec.lattice is deprecated; use lattice_side", DeprecationWarning, stacklevel=2)
        return self.lattice_side


def lattice_of_config(config: RunConfig | DataConfig, spacing: float | None = None,
                      lattice_side: int | None = None) -> LatticeSpec:
    """The training lattice of a bump or periodic config: its frame's centres at its spacing.

    ``spacing`` and ``lattice_side`` (sites per side) override the config's.
    Other families have no lattice of bumps (their images overlap as stripes):
    a ConfigError says to use the coverage graph instead.
    """
    d = (config.data if isinstance(config, RunConfig) else config).resolved()
    if d.family not in ("bump", "periodic"):
        raise ConfigError(f"data.family = {d.family!r}: lattice percolation models bump overlaps; use a bump or "
                          "periodic config, or manifold_lens.coverage_graph for other families")
    dy, dx = (spacing, spacing) if spacing is not None else (float(d.spacing_y), float(d.spacing_x))
    n = d.image_size
    side = ((lattice_side, lattice_side) if lattice_side is not None else
            (len(lattice_axis(0, n - 1, dy)), len(lattice_axis(0, n - 1, dx))))
    periodic = d.family == "periodic"
    note = (f"note: the torus has side {side[1] * dx:g} px (L x d), not the {n} px frame"
            if periodic and abs(side[1] * dx - n) > 1e-9 else "")
    return LatticeSpec(float(d.sigma_x), float(d.sigma_y), (dy, dx), side, periodic, note)


# -- the lattice neighbourhood -----------------------------------------------

def _pair(v, name):
    if np.ndim(v) == 0:
        return float(v), float(v)
    if len(v) != 2:
        raise ConfigError(f"{name} = {v}: give one value or (y, x)")
    return float(v[0]), float(v[1])


def check_keep_fractions(keep_fractions, allow_zero: bool = False) -> np.ndarray:
    """The keep fractions as an array (default 0.01..1), or ConfigError if any lies outside (0, 1]."""
    if keep_fractions is None:
        return DEFAULT_KEEP_FRACTIONS.copy()
    lam = np.atleast_1d(np.asarray(keep_fractions, dtype=np.float64))
    low = (lam < 0) if allow_zero else (lam <= 0)
    if lam.size == 0 or (low | (lam > 1) | ~np.isfinite(lam)).any():
        bad = lam[low | (lam > 1) | ~np.isfinite(lam)]
        raise ConfigError(f"keep_fractions = {bad[0] if bad.size else '[]'}: give values in "
                          f"{'[0' if allow_zero else '(0'}, 1], the fraction of lattice sites kept")
    return lam


def check_lattice_inputs(sigma, spacing, threshold, lattice_side, overlap="pixel", periodic=False,
                         trials=1, memory=None) -> None:
    """Validate lattice percolation inputs before any work; one-line ConfigError each.

    Estimates memory: ~60 bytes per site for the union-find pass, plus the
    candidate box of lattice offsets (from the continuum connection radius
    with a 50% margin for pixel sampling) at 16 bytes per offset.
    """
    overlap = _P(threshold=threshold, overlap=overlap, trials=trials, lattice_side=lattice_side, spacing=spacing,
                 periodic=bool(periodic)).check().overlap
    sig = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    if sig.size == 0:
        raise ConfigError("sigma: give at least one bump width (pixels)")
    bad = ~((sig > 0) & np.isfinite(sig))
    if bad.any():
        raise ConfigError(f"sigma = {sig[bad][0]}: must be a finite number > 0 (pixels)")
    dy, dx = _pair(spacing, "spacing")
    ly, lx = (int(v) for v in _pair(lattice_side, "lattice_side"))
    if periodic and overlap == "pixel" and any(abs(k * d - round(k * d)) > 1e-9 for k, d in ((ly, dy), (lx, dx))):
        raise ConfigError(f"periodic pixel overlaps need a whole-pixel torus, but lattice_side x spacing = {lx * dx:g} "
                          "px: make lattice_side x spacing a whole number of pixels or use overlap='continuum'")
    memory = available_memory() if memory is None else memory
    sites = ly * lx * 60
    if sites > memory:
        raise ConfigError(
            f"lattice_side = {ly} x {lx}: needs ~{sites / 2**30:.1f} GiB, more than the {memory / 2**30:.1f} GiB "
            "available; use a smaller lattice_side"
        )
    r = connection_radius(float(sig.max()), threshold) * (1.5 if overlap == "pixel" else 1.0)
    kx = min(lx - 1, int(np.ceil(r / dx)) + 1)
    ky = min(ly - 1, int(np.ceil(r / dy)) + 1)
    box = (2 * kx + 1) * (2 * ky + 1) * 16
    if sites + box > memory:
        raise ConfigError(
            f"sigma = {sig.max()} at threshold {threshold}: a neighbourhood of up to ~{box // 16:.3g} lattice offsets "
            f"needs ~{(sites + box) / 2**30:.1f} GiB, more than the {memory / 2**30:.1f} GiB available; "
            "lower sigma, raise threshold or coarsen spacing"
        )


def lattice_neighbourhood(sigma, spacing=_P.default("spacing"), threshold: float = _P.default("threshold"),
                          lattice_side=_P.default("lattice_side"), overlap: str = _P.default("overlap"),
                          periodic: bool = _P.default("periodic"), **retired):
    """Lattice offsets (oy, ox) whose overlap passes the threshold, and those overlaps.

    ``sigma`` and ``spacing`` are one value or (y, x) pairs in pixels. Offsets
    run over the whole lattice (distinct wrapped offsets when periodic, with a
    period of ``lattice x spacing`` px); the neighbourhood is symmetric and
    excludes (0, 0). Works from 1D overlap factors, rendering no images.
    ``lattice=`` and ``method=`` are the retired names of ``lattice_side`` and
    ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "lattice_neighbourhood")
    lattice_side = renamed_keywords("lattice_neighbourhood", retired, {"lattice": "lattice_side"}).get(
        "lattice_side", lattice_side)
    sy, sx = _pair(sigma, "sigma")
    dy, dx = _pair(spacing, "spacing")
    ly, lx = (int(v) for v in _pair(lattice_side, "lattice_side"))
    check_lattice_inputs((sy, sx), (dy, dx), threshold, (ly, lx), overlap, periodic)
    return _neighbourhood(sy, sx, dy, dx, threshold, ly, lx, overlap, periodic)


def _neighbourhood(sy, sx, dy, dx, threshold, ly, lx, overlap, periodic):
    """:func:`lattice_neighbourhood` on checked inputs."""

    def axis(length, d, s):
        if periodic:
            k = np.arange(-((length - 1) // 2), length // 2 + 1)
            return k, lattice_overlap_1d(k, d, s, overlap, period=length * d)
        # overlap factors fall with distance; stop once they pass below threshold for a while
        k = np.arange(0, length)
        if overlap == "continuum":
            f = continuum_overlap(k * d, 0.0, s)
        else:
            r = connection_radius(s, threshold) * 1.5 + 2 * d + 3
            kk = k[k * d <= r + 10 * s]
            f = np.zeros(length)
            f[: len(kk)] = lattice_overlap_1d(kk, d, s, overlap)
        return np.concatenate([-k[:0:-1], k]), np.concatenate([f[:0:-1], f])

    kx, fx = axis(lx, dx, sx)
    ky, fy = axis(ly, dy, sy)
    kx, fx = kx[fx >= threshold], fx[fx >= threshold]
    ky, fy = ky[fy >= threshold], fy[fy >= threshold]
    w = fy[:, None] * fx[None, :]
    iy, ix = np.nonzero(w >= threshold)
    oy, ox, ov = ky[iy], kx[ix], w[iy, ix]
    keep = (oy != 0) | (ox != 0)
    return oy[keep].astype(np.int64), ox[keep].astype(np.int64), ov[keep]


def lattice_percolation(sigma, spacing=_P.default("spacing"), threshold: float = _P.default("threshold"),
                        lattice_side=_P.default("lattice_side"), trials: int = _P.default("trials"),
                        keep_fractions=_P.default("keep_fractions"), periodic: bool = _P.default("periodic"),
                        overlap: str = _P.default("overlap"), seed: int = _P.default("seed"), sigma_y=None,
                        offsets=None, progress: bool = True, **retired) -> xr.Dataset:
    """Largest-cluster curves of site percolation on a lattice, one row per bump width.

    Args:
        sigma: one or several bump widths (px) along x; ``sigma_y`` (same
            length) makes them anisotropic.
        spacing: lattice spacing (px), one value or (y, x).
        threshold: overlap at which two sites connect, in (0, 1).
        lattice_side: sites per side, one value or (ly, lx) (retired name: ``lattice``).
        trials: independent random orders (Newman-Ziff passes) per sigma.
        keep_fractions: lambda values of the canonical curves (default 0.01..1).
        periodic: wrap the lattice into a torus of side lattice_side x spacing px.
        overlap: ``continuum`` (closed form) or ``pixel`` (sampled bumps; retired:
            ``method="pixels"``).
        offsets: explicit (oy, ox) neighbourhood instead of the overlap one
            (e.g. nearest neighbours for the textbook check); sigma then only
            labels the rows.

    Returns an xr.Dataset with dims (``sigma``, ``keep_fraction``, ``trial``).
    A sigma whose threshold leaves no neighbours is not an error: its sites are
    isolated, its curve is S = 1, ``lambda_c`` is NaN and ``isolated`` is True.
    """
    overlap = overlap_kind(overlap, retired, "lattice_percolation")
    lattice_side = renamed_keywords("lattice_percolation", retired, {"lattice": "lattice_side"}).get(
        "lattice_side", lattice_side)
    settings = _P(threshold=threshold, overlap=overlap, trials=trials, keep_fractions=keep_fractions,
                  lattice_side=lattice_side, spacing=spacing, periodic=bool(periodic), seed=seed).check()
    sig = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    sig_y = sig if sigma_y is None else np.atleast_1d(np.asarray(sigma_y, dtype=np.float64))
    if sig_y.shape != sig.shape:
        raise ConfigError("sigma_y: give one value per sigma")
    dy, dx = _pair(spacing, "spacing")
    ly, lx = (int(v) for v in _pair(lattice_side, "lattice_side"))
    lam = check_keep_fractions(keep_fractions, allow_zero=True)
    check_lattice_inputs(np.concatenate([sig, sig_y]), (dy, dx), threshold, (ly, lx), overlap, periodic, trials)
    trials = int(trials)
    n_sites = ly * lx
    rng = np.random.default_rng(seed)
    ratio = np.zeros((len(sig), len(lam), trials))
    frac = np.zeros_like(ratio)
    lam_trial = np.full((len(sig), trials), np.nan)
    span_trial = np.full((len(sig), trials), np.nan)
    counts = np.zeros(len(sig), np.int64)
    weights = [binomial_weights(n_sites, float(p)) for p in lam]
    bar = tqdm(total=len(sig) * trials, desc="percolation", unit="trial", disable=not progress)
    for a, (s, s_y) in enumerate(zip(sig, sig_y)):
        if offsets is None:
            oy, ox, _ = _neighbourhood(s_y, s, dy, dx, threshold, ly, lx, overlap, periodic)
        else:
            oy, ox = (np.asarray(o, dtype=np.int64) for o in offsets)
        counts[a] = len(oy)
        for t in range(trials):
            order = rng.permutation(n_sites)
            largest, span = newman_ziff(order, (oy, ox), (ly, lx), periodic)
            ratio[a, :, t], frac[a, :, t] = canonical(largest, lam, weights)
            if len(oy):
                lam_trial[a, t] = largest_jump(largest)
                span_trial[a, t] = (span + 1) / n_sites if span >= 0 else np.nan
            bar.update()
    bar.close()
    summ = np.array([summarize_trials(v) for v in lam_trial])
    span_summ = np.array([summarize_trials(v) for v in span_trial])
    isolated = counts == 0
    ds = xr.Dataset(
        {
            "largest_cluster_ratio": (("sigma", "keep_fraction", "trial"), ratio, {
                "long_name": "largest cluster over kept sites", "units": "1",
                "description": "canonical mean of S/n at keep fraction lambda (S = largest cluster, n = kept sites)"}),
            "largest_cluster_fraction": (("sigma", "keep_fraction", "trial"), frac, {
                "long_name": "largest cluster over all sites", "units": "1",
                "description": "canonical mean of S/N (N = all lattice sites)"}),
            "lambda_c": ("sigma", summ[:, 0], {"long_name": "percolation threshold estimate", "units": "1",
                                               "description": ESTIMATOR}),
            "lambda_c_stderr": ("sigma", summ[:, 1], {"long_name": "standard error of lambda_c", "units": "1"}),
            "lambda_c_std": ("sigma", summ[:, 2], {
                "long_name": "spread of the per-trial threshold", "units": "1",
                "description": "standard deviation over trials: the finite-size width of the transition"}),
            "lambda_c_trial": (("sigma", "trial"), lam_trial, {
                "long_name": "per-trial threshold (largest jump of the largest cluster)", "units": "1"}),
            "lambda_span": ("sigma", span_summ[:, 0], {
                "long_name": "mean keep fraction at which a cluster first joins opposite edges", "units": "1",
                "description": "cross-check estimator of the threshold; NaN on periodic lattices"}),
            "lambda_span_stderr": ("sigma", span_summ[:, 1], {"long_name": "standard error of lambda_span",
                                                              "units": "1"}),
            "neighbour_count": ("sigma", counts, {"long_name": "lattice offsets in the neighbourhood",
                                                  "units": "1"}),
            "isolated": ("sigma", isolated, {"long_name": "no lattice offset passes the threshold",
                                             "description": "sites never connect: no percolation at any lambda"}),
            "connection_radius": ("sigma", [connection_radius(s, threshold) for s in sig], {
                "long_name": "continuum connection radius along x", "units": "px",
                "description": "2 sigma sqrt(ln(1/threshold))"}),
        },
        coords={
            "sigma": ("sigma", sig, {"long_name": "bump width along x", "units": "px"}),
            "sigma_y": ("sigma", sig_y, {"long_name": "bump width along y", "units": "px"}),
            "keep_fraction": ("keep_fraction", lam, {"long_name": "fraction of lattice sites kept (lambda)",
                                                     "units": "1"}),
            "trial": ("trial", np.arange(trials)),
        },
        attrs={
            "description": "site percolation of the training lattice with the overlap neighbourhood (Newman-Ziff)",
            **settings.attrs(), "spacing_x": dx, "spacing_y": dy, "lattice": [ly, lx], "n_sites": n_sites,
            "overlap": overlap if offsets is None else "explicit offsets",
            "method": retired_method(overlap) if offsets is None else "explicit offsets",
            "estimator": ESTIMATOR,
            "isolated_sigmas": [float(s) for s in sig[isolated]],
            "note": ("no neighbours at threshold for sigma = " + ", ".join(f"{s:g}" for s in sig[isolated])
                     + ": sites are isolated, the largest cluster is one site at every lambda") if isolated.any()
            else "",
            "versions": package_versions(),
        },
    )
    return ds


def percolate(sigma=(), *, spacing: float | None = None, lattice_side: int | None = None,
              periodic: bool = _P.default("periodic"), config: RunConfig | None = None,
              threshold: float = _P.default("threshold"), trials: int = _P.default("trials"),
              keep_fractions=_P.default("keep_fractions"), overlap: str = _P.default("overlap"),
              seed: int = _P.default("seed"), source: str = "", out=None, name: str = "default",
              replace: bool = False, progress: bool = True, **retired) -> xr.Dataset:
    """:func:`lattice_percolation` of given widths, or of a run config's training lattice; optionally stored.

    Without ``config``: ``sigma`` (px, one or several) on a ``lattice_side``
    (default 256) square lattice of ``spacing`` (default 1) px. With
    ``config`` (bump or periodic): its widths, spacing and frame
    (:func:`lattice_of_config`); given values override them; ``source``
    names where the config came from (a preset, a file). ``out``,
    ``name``, ``replace``: write ``percolation/<name>`` to that results store
    (holding its lock throughout), refused before any work if it exists,
    unless ``replace``. ``method=`` is the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "percolate")
    renamed_keywords("percolate", retired, {})
    sig, sig_y, note = [float(v) for v in np.atleast_1d(sigma)], None, ""
    d = _P.default("spacing") if spacing is None else spacing
    side = _P.default("lattice_side") if lattice_side is None else lattice_side
    side = (side, side) if np.ndim(side) == 0 else tuple(side)
    spacing_yx = (d, d)
    if config is not None:
        spec = lattice_of_config(config, spacing, lattice_side)
        spacing_yx, side, note, periodic = spec.spacing, spec.lattice_side, spec.note, periodic or spec.periodic
        if not sig:
            sig, sig_y = [spec.sigma_x], [spec.sigma_y]
    elif not sig:
        raise ConfigError("sigma: give bump widths in px, e.g. sigma=(0.5, 1, 2), or take them from config")
    with writing_results(out=out, kind="percolation", name=name, replace=replace):  # the lock, held throughout
        ds = lattice_percolation(sig, spacing_yx, threshold, side, trials=trials, keep_fractions=keep_fractions,
                                 periodic=periodic, overlap=overlap, seed=seed, sigma_y=sig_y, progress=progress)
        ds.attrs["lattice_note"] = note
        if config is not None:
            ds.attrs.update({"config": config.to_dict(), "source": source or "config"})
        if out is not None:
            write_results(ds, out=out, kind="percolation", name=name, replace=replace)
    return ds
