"""The verdict of the percolation test, in words.

- ``consistent``: at least two widths have an onset on both sides, at every
  such width the intervals (95% by default) of the predicted and measured
  onsets overlap, the slope interval of measured on predicted contains 1 and
  the intercept interval contains 0. It says the data do not contradict percolation; it
  does not prove that percolation causes the onset (another quantity that
  moves with sigma the same way would pass too), and wide intervals pass
  easily: read them.
- ``inconsistent``: some measured onset misses the predicted one beyond both
  intervals, or the slope or intercept interval excludes 1 or 0.
- ``insufficient``: one width only, fewer than two widths with an onset
  within the measured keep fractions on both sides (fewer than three keep
  fractions, a flat outcome, a complete coverage graph), or an undetermined
  regression; no number is then offered as a result.
"""

from __future__ import annotations

import numpy as np

from .settings import PercolationTestSettings


def _iv(lo, hi) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def judge(sigmas, pc, mc, pint, mint, status, complete, n_keep, slope, slope_iv, intercept, intercept_iv,
          outcome: str, level: float = PercolationTestSettings.default("level")) -> tuple[str, str, np.ndarray]:
    """(verdict, reason, intervals-overlap per width) from the per-width onsets and the regression; ``level`` is
    the intervals' confidence level (for the words)."""
    usable = np.isfinite(pc) & np.isfinite(mc) & np.all(np.isfinite(pint), 1) & np.all(np.isfinite(mint), 1)
    overlap = usable & (np.maximum(pint[:, 0], mint[:, 0]) <= np.minimum(pint[:, 1], mint[:, 1]))
    left_out = [f"sigma {s:g} px: {st}" for s, st, u in zip(sigmas, status, usable) if not u]
    if len(sigmas) == 1:
        return "insufficient", (f"one bump width only (sigma = {sigmas[0]:g} px): the test compares onsets across "
                                "widths; sweep data.sigma over widths whose onsets are spread out (manifold-lens "
                                "percolate design)"), overlap
    if all(complete):
        return "insufficient", ("the coverage graph is complete at every width (every kept image overlaps the "
                                "others, e.g. SOS stripes or mixtures with stripes): percolation predicts no onset "
                                "here, so there is nothing to test"), overlap
    if usable.sum() < 2:
        few = [f"sigma {s:g} px has {k} keep fractions" for s, k in zip(sigmas, n_keep) if k < 3]
        return "insufficient", ("fewer than two widths show an onset within the measured keep fractions on both sides"
                                + (" (" + "; ".join(few) + ")" if few else "") + ": " + "; ".join(left_out)), overlap
    if not (np.all(np.isfinite(slope_iv)) and np.all(np.isfinite(intercept_iv))):
        return "insufficient", "the regression across widths is undetermined (bootstrap onsets missing)", overlap
    misses = [f"sigma {s:g} px: measured {m:.3f} {_iv(*mi)} vs predicted {p:.3f} {_iv(*pi)}"
              for s, p, m, pi, mi, u, o in zip(sigmas, pc, mc, pint, mint, usable, overlap) if u and not o]
    if not slope_iv[0] <= 1 <= slope_iv[1]:
        misses.append(f"slope {slope:.2f} {_iv(*slope_iv)} excludes 1")
    if not intercept_iv[0] <= 0 <= intercept_iv[1]:
        misses.append(f"intercept {intercept:.3f} {_iv(*intercept_iv)} excludes 0")
    note = (" (left out: " + "; ".join(left_out) + ")") if left_out else ""
    if misses:
        return "inconsistent", (f"the measured onsets of {outcome} miss the predicted ones: " + "; ".join(misses)
                                + note), overlap
    return "consistent", (f"at {int(usable.sum())} widths the measured onsets of {outcome} agree with the predicted "
                          f"within their {100 * level:g}% intervals; slope {slope:.2f} {_iv(*slope_iv)} contains 1, "
                          f"intercept {intercept:.3f} {_iv(*intercept_iv)} contains 0" + note), overlap
