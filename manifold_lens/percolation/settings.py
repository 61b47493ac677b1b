"""The settings of the percolation stages: the curves (:class:`PercolationSettings`) and the test
(:class:`PercolationTestSettings`), each declared once with its defaults, checks and result attrs.

Every function of :mod:`manifold_lens.percolation` reads its defaults from
these classes (``PercolationSettings.default("threshold")``), and checks its
values with :func:`check_threshold`, :func:`check_overlap` and the classes'
``check()``; errors name the parameter (``trials = 0: must be >= 1``).

One vocabulary: ``overlap`` is ``"pixel"`` (overlaps of the rendered images)
or ``"continuum"`` (closed form for Gaussian bumps); the retired keyword
``method=`` and value ``"pixels"`` still work for one release with a
``DeprecationWarning`` (:func:`overlap_kind`, :func:`renamed_keywords`).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..errors import ConfigError
from ..settings import StageSettings, setting

OVERLAPS = ("pixel", "continuum")
RETIRED_OVERLAPS = {"pixels": "pixel"}  # retired value -> the one word


def check_threshold(threshold) -> float:
    """``threshold`` as a float, or ConfigError unless 0 < threshold < 1 (an overlap)."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = np.nan
    if not 0 < value < 1:
        raise ConfigError(f"threshold = {threshold}: must be in (0, 1), an overlap (default "
                          f"{PercolationSettings.default('threshold'):g})")
    return value


def check_overlap(overlap: str, *, stacklevel: int = 2) -> str:
    """The overlap kind, ``"pixel"`` or ``"continuum"``; the retired ``"pixels"`` warns and gives ``"pixel"``."""
    if isinstance(overlap, str) and overlap in RETIRED_OVERLAPS:
        warnings.warn(f"overlap = {overlap!r} is deprecated; use {RETIRED_OVERLAPS[overlap]!r}", DeprecationWarning,
                      stacklevel=stacklevel)
        return RETIRED_OVERLAPS[overlap]
    if overlap not in OVERLAPS:
        raise ConfigError(f"overlap = {overlap!r}: must be pixel (overlaps of the rendered images) or continuum "
                          "(closed form)")
    return overlap


def retired_method(overlap: str) -> str:
    """The retired word for ``overlap`` ("pixels" for "pixel"), written as a results' ``method`` attr beside
    ``overlap`` for one release so readers of earlier stores keep working."""
    return {v: k for k, v in RETIRED_OVERLAPS.items()}.get(overlap, overlap)


def renamed_keywords(func: str, given: dict, renames: dict[str, str]) -> dict:
    """The values of retired keywords in ``given`` under their new names, each with a DeprecationWarning.

    ``func`` names the function for the messages; a keyword not in ``renames``
    is a TypeError, as Python gives for an unknown keyword.
    """
    out = {}
    for old, value in given.items():
        if old not in renames:
            raise TypeError(f"{func}() got an unexpected keyword argument {old!r}")
        warnings.warn(f"{func}({old}=...) is deprecated; use {renames[old]}=", DeprecationWarning, stacklevel=3)
        out[renames[old]] = value
    return out


def overlap_kind(overlap: str, given: dict, func: str) -> str:
    """The checked overlap kind from ``overlap`` or a retired ``method=`` in ``given`` (popped; warns)."""
    if "method" in given:
        warnings.warn(f"{func}(method=...) is deprecated; use overlap=", DeprecationWarning, stacklevel=3)
        overlap = given.pop("method")
    return check_overlap(overlap, stacklevel=4)


def _whole(name: str, value, low: int) -> int:
    try:
        whole = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ConfigError(f"{name} = {value!r}: must be a whole number")
    if int(value) < low:
        raise ConfigError(f"{name} = {value}: must be >= {low}")
    return int(value)


def _pair(name: str, value) -> tuple[float, float]:
    try:
        v = np.atleast_1d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        v = np.zeros(0)
    if v.size not in (1, 2):
        raise ConfigError(f"{name} = {value}: give one value or (y, x)")
    return (float(v[0]), float(v[-1]))


def _shown(pair: tuple[float, float]) -> str:
    """One value, or "y x x" where the two differ."""
    return f"{pair[0]:g}" if pair[0] == pair[1] else f"{pair[0]:g} x {pair[1]:g}"


@dataclasses.dataclass(frozen=True)
class PercolationSettings(StageSettings):
    """Largest-cluster curves of site percolation (:func:`~manifold_lens.percolation.lattice_percolation`,
    :func:`~manifold_lens.percolation.percolate`, :func:`~manifold_lens.percolation.dataset_percolation`)."""

    stage = "percolation"

    threshold: float = setting(0.005, "overlap at which two training images connect, in (0, 1)", units="1")
    overlap: str = setting("pixel", "pixel (overlaps of the rendered images) or continuum (closed form)")
    trials: int = setting(20, "Newman-Ziff passes (random site orders) per bump width")
    keep_fractions: object = setting(None, "keep fractions lambda of the curves, in [0, 1] (none: 0.01 .. 1)",
                                     units="1", resume=False)  # the results hold them as a coordinate
    lattice_side: object = setting(256, "sites per side of the lattice, one value or (y, x)", units="sites")
    spacing: object = setting(1.0, "lattice spacing, one value or (y, x)", units="px")
    periodic: bool = setting(False, "wrap the lattice into a torus of side lattice_side x spacing")
    seed: int = setting(0, "seed of the random site orders")

    def check(self, **context) -> PercolationSettings:
        """The settings with ``overlap`` normalised; ConfigError naming the first bad parameter."""
        check_threshold(self.threshold)
        overlap = check_overlap(self.overlap, stacklevel=4)
        _whole("trials", self.trials, 1)
        _whole("seed", self.seed, 0)
        if self.keep_fractions is not None:
            lam = np.atleast_1d(np.asarray(self.keep_fractions, dtype=np.float64))
            bad = lam[(lam < 0) | (lam > 1) | ~np.isfinite(lam)]
            if lam.size == 0 or bad.size:
                raise ConfigError(f"keep_fractions = {bad[0] if bad.size else '[]'}: give values in [0, 1], the "
                                  "fraction of lattice sites kept")
        sides = _pair("lattice_side", self.lattice_side)
        if min(sides) < 2 or not all(float(s).is_integer() for s in sides):
            raise ConfigError(f"lattice_side = {_shown(sides)}: needs at least 2 sites per side, a whole number")
        spacing = _pair("spacing", self.spacing)
        if not all(d > 0 and np.isfinite(d) for d in spacing):
            raise ConfigError(f"spacing = {_shown(spacing)}: must be a finite number > 0 (px)")
        return self.replace(overlap=overlap) if overlap != self.overlap else self

    def attrs(self) -> dict:
        """As :meth:`StageSettings.attrs`, without ``keep_fractions`` (the results hold them as a coordinate)."""
        out = super().attrs()
        out.pop("keep_fractions")
        return out


@dataclasses.dataclass(frozen=True)
class PercolationTestSettings(StageSettings):
    """The percolation test (:func:`~manifold_lens.percolation.percolation_test`): its outcome, bootstrap and the
    overlap of its predictions (threshold and overlap default to :class:`PercolationSettings`')."""

    stage = "percolation_test"

    outcome: str = setting("accuracy_ood", "per-run variable whose onset is measured (a fraction in [0, 1])")
    threshold: float = setting(PercolationSettings.default("threshold"), PercolationSettings.help("threshold"),
                               units="1")
    overlap: str = setting(PercolationSettings.default("overlap"), PercolationSettings.help("overlap"))
    n_boot: int = setting(1000, "draws of each width's onset from its profile likelihood (the regression across "
                          "widths reads them)")
    level: float = setting(0.95, "confidence level of the percentile intervals, in (0, 1)", units="1")
    trials: int = setting(100, "Newman-Ziff passes of an ensemble prediction (its realisations)")
    seed: int = setting(0, "seed of the onset draws and the Newman-Ziff passes")
    min_train_accuracy: float = setting(0.9, "a run counts as converged (and enters the test) when its accuracy on "
                                        "its own training conditions (accuracy_id) reaches this", units="1")
    min_keep_fractions: int = setting(6, "fewest keep fractions (with converged runs) a width needs for the verdict "
                                      "(docs/science.md, section 5: the calibration)")
    min_seeds: int = setting(3, "fewest converged runs per keep fraction (median over keep fractions) a width needs "
                             "for the verdict")

    def check(self, **context) -> PercolationTestSettings:
        """The settings with ``overlap`` normalised; ConfigError naming the first bad parameter."""
        if not isinstance(self.outcome, str) or not self.outcome:
            raise ConfigError(f"outcome = {self.outcome!r}: name a per-run variable, e.g. accuracy_ood")
        check_threshold(self.threshold)
        overlap = check_overlap(self.overlap, stacklevel=4)
        if isinstance(self.n_boot, bool) or not float(self.n_boot).is_integer() or int(self.n_boot) < 20:
            raise ConfigError(f"n_boot = {self.n_boot}: give >= 20 bootstrap resamples (1000 for 95% intervals)")
        if not 0 < float(self.level) < 1:
            raise ConfigError(f"level = {self.level}: must be in (0, 1), e.g. 0.95 for 95% intervals")
        _whole("trials", self.trials, 1)
        _whole("seed", self.seed, 0)
        if isinstance(self.min_train_accuracy, bool) or not 0 <= float(self.min_train_accuracy) <= 1:
            raise ConfigError(f"min_train_accuracy = {self.min_train_accuracy}: must be in [0, 1], e.g. 0.9")
        _whole("min_keep_fractions", self.min_keep_fractions, 3)
        _whole("min_seeds", self.min_seeds, 2)
        return self.replace(overlap=overlap, n_boot=int(self.n_boot), trials=int(self.trials), seed=int(self.seed))
