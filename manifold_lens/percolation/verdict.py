"""The verdict of the percolation test, in words.

- ``consistent``: at least two widths meet the minimum design and have an
  onset on both sides, and at every such width the intervals (95% by default)
  of the predicted and measured onsets overlap. The regression of measured on
  predicted onsets across widths (slope, intercept) is reported beside it but
  does not decide: with three or four widths its two extra tests raised the
  false ``inconsistent`` rate on consistent tables to about 17% in the
  calibration (benchmarks/percolation_calibration.py). It says the data do not contradict percolation; it
  does not prove that percolation causes the onset (another quantity that
  moves with sigma the same way would pass too), and wide intervals pass
  easily: read them.
- ``inconsistent``: some measured onset misses the predicted one beyond both
  intervals.
- ``insufficient``: one width only, fewer than two widths that meet the
  minimum design (keep fractions and converged seeds, the test's
  ``min_keep_fractions`` and ``min_seeds``) with an onset within the measured
  keep fractions on both sides (a flat outcome, a complete coverage graph), or
  an undetermined regression; no number is then offered as a result.
"""

from __future__ import annotations

import numpy as np

from .settings import PercolationTestSettings


def _iv(lo, hi) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def judge(sigmas, pc, mc, pint, mint, status, complete, n_keep, slope, slope_iv, intercept, intercept_iv,
          outcome: str, level: float = PercolationTestSettings.default("level"),
          design=None) -> tuple[str, str, np.ndarray]:
    """(verdict, reason, intervals-overlap per width) from the per-width onsets and the regression; ``level`` is
    the intervals' confidence level (for the words); ``design``: per width why it is below the minimum design
    (empty: it is not), such a width gives no verdict."""
    design = [""] * len(sigmas) if design is None else list(design)
    usable = (np.isfinite(pc) & np.isfinite(mc) & np.all(np.isfinite(pint), 1) & np.all(np.isfinite(mint), 1)
              & np.array([not d for d in design], bool))
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
        return "insufficient", ("fewer than two widths meet the minimum design and show an onset within the measured "
                                "keep fractions on both sides"
                                + (" (" + "; ".join(few) + ")" if few else "") + ": " + "; ".join(left_out)), overlap
    if not (np.all(np.isfinite(slope_iv)) and np.all(np.isfinite(intercept_iv))):
        return "insufficient", "the regression across widths is undetermined (onset draws missing)", overlap
    misses = [f"sigma {s:g} px: measured {m:.3f} {_iv(*mi)} vs predicted {p:.3f} {_iv(*pi)}"
              for s, p, m, pi, mi, u, o in zip(sigmas, pc, mc, pint, mint, usable, overlap) if u and not o]
    trend = (f"slope {slope:.2f} {_iv(*slope_iv)} ({'contains' if slope_iv[0] <= 1 <= slope_iv[1] else 'excludes'}"
             f" 1), intercept {intercept:.3f} {_iv(*intercept_iv)} "
             f"({'contains' if intercept_iv[0] <= 0 <= intercept_iv[1] else 'excludes'} 0)")
    note = (" (left out: " + "; ".join(left_out) + ")") if left_out else ""
    if misses:
        return "inconsistent", (f"the measured onsets of {outcome} miss the predicted ones: " + "; ".join(misses)
                                + f"; {trend}" + note), overlap
    return "consistent", (f"at {int(usable.sum())} widths the measured onsets of {outcome} agree with the predicted "
                          f"within their {100 * level:g}% intervals; {trend}" + note), overlap
