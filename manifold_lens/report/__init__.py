"""Reports: every figure the results support (PNG and PDF), an index page with captions and key numbers.

``sources`` (results and run stores to draw from), ``plan`` (which figures,
or why one is skipped), ``figures`` (the figures by stage, public as
:mod:`manifold_lens.plot`), ``numbers`` (key numbers), ``page`` (the index
page and the report directory), ``output`` (the :class:`Report` and saving a
figure), ``study`` and ``claim_plan`` (a study directory's report, drawn from
its stored claim computations) and ``render`` (:func:`render_report`). The
report reads results; it computes none.
"""

from .render import FORMATS, Report, render_report

__all__ = ["FORMATS", "Report", "render_report"]
