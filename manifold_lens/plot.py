"""``manifold_lens.plot``: every figure as a function of xarray results (the report's figures, by stage).

The figures live in :mod:`manifold_lens.report.figures`: ``data``,
``generation``, ``representations``, ``topology``, ``percolation``, and the
study figures ``study``, ``claims``, ``scaling`` and ``torus``; this module is
their public name, e.g. ``manifold_lens.plot.accuracy_curve(results)`` or
``manifold_lens.plot.pca_spectrum(manifold_lens.measure(acts))``. Each takes
``ax=`` or ``fig=`` to draw into an existing figure and returns the Figure.
"""

from .report.figures import *  # noqa: F401,F403
from .report.figures import __all__  # noqa: F401
