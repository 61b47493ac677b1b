"""Results stores: xarray Datasets in one Zarr store, one group per (kind, name).

Layout of ``RESULTS.zarr``::

    attrs: schema = "manifold-lens.results", schema_version, versions
    evaluation/<name>/   generation accuracy (``manifold-lens evaluate``)
    analysis/<name>/     representation metrics (``manifold-lens analyze``)
    percolation/<name>/  largest-cluster curves (``manifold-lens percolate``)
    comparison/<name>/   predicted vs measured onsets (``percolate test``)

Writers never touch other groups, so evaluate, analyze and percolate share a
store without clobbering each other. A writer holds the store's lock
(:func:`~manifold_lens.stores.lock.store_lock`) for its whole command, so a
second writer is refused in one line naming the holder; a new store is
created without truncating anything already there. Names are letters,
digits, ``_``, ``-`` and ``.`` (:func:`check_result_name`).

Commit marks: readers never see half-written data. Every group records in
its attributes how much of it is complete; the marks are rewritten in one
atomic file write after the data they vouch for:

- groups streamed along ``checkpoint`` (evaluation, analysis;
  :func:`open_stream`, :func:`append_results`): ``committed`` (complete
  checkpoints), ``planned`` (checkpoints the command writes), ``complete``
  (0/1) and ``settings`` (what determines the values). Rows beyond
  ``committed`` are never read. A rerun of the same command continues an
  unfinished group from its last committed checkpoint.
- groups written whole (percolation, comparison; :func:`write_results`):
  ``complete`` is 0 while the data is written, then 1.
- groups written by older versions (no marks) count as complete.

Read everything with :func:`open_results` (an ``xarray.DataTree``) or one
group with :func:`read_results`; both show only committed checkpoints, mark
an unfinished group (attrs ``complete = 0``, ``status = "unfinished: 3 of 5
checkpoints"``) and decode attributes the same way
(:func:`~manifold_lens.stores.encoding.decode`). :func:`open_results` skips,
with a warning, a group that holds no complete checkpoint or cannot be read.
"""

from __future__ import annotations

from .groups import (DIM, KINDS, GroupStatus, check_result_name, check_results_store, ensure_results_store,
                     group_exists, group_status, require_new_group)
from .results_read import list_results, open_results, read_group, read_results
from .results_write import ResultsStream, append_results, open_stream, write_results, writing_results

__all__ = ["DIM", "KINDS", "GroupStatus", "ResultsStream", "append_results", "check_result_name", "check_results_store",
           "ensure_results_store", "group_exists", "group_status", "list_results", "open_results", "open_stream",
           "read_group", "read_results", "require_new_group", "write_results", "writing_results"]
