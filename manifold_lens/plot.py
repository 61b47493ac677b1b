"""``manifold_lens.plot``: every figure as a function of xarray results (the report's figures, by stage).

The figures live in :mod:`manifold_lens.report.figures` (``data``,
``generation``, ``representations``, ``percolation``); this module is their
public name, e.g. ``manifold_lens.plot.accuracy_curve(results)``.
"""

from .report.figures import *  # noqa: F401,F403
from .report.figures import __all__  # noqa: F401
