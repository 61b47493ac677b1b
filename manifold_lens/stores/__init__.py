"""Stores: run stores (a training run) and results stores (what was measured), in Zarr, with one schema check."""

from .encoding import as_strings, decode, prepare_for_zarr
from .lock import store_lock
from .results import (
    KINDS,
    GroupStatus,
    ResultsStream,
    append_results,
    check_result_name,
    check_results_store,
    group_exists,
    group_status,
    list_results,
    open_results,
    open_stream,
    read_group,
    read_results,
    require_new_group,
    write_results,
    writing_results,
)
from .run import Run, open_run, select_checkpoints
from .schema import RESULTS, RUN, check_store, store_schema
from .writer import RunWriter

__all__ = [
    "KINDS",
    "RESULTS",
    "RUN",
    "GroupStatus",
    "ResultsStream",
    "Run",
    "RunWriter",
    "append_results",
    "as_strings",
    "check_result_name",
    "check_results_store",
    "check_store",
    "decode",
    "group_exists",
    "group_status",
    "list_results",
    "open_results",
    "open_run",
    "open_stream",
    "prepare_for_zarr",
    "read_group",
    "read_results",
    "require_new_group",
    "select_checkpoints",
    "store_lock",
    "store_schema",
    "write_results",
    "writing_results",
]
