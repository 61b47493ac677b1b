"""Stores: run stores (a training run) and results stores (what was measured), in Zarr, with one schema check."""

from .encoding import as_strings, decode, prepare_for_zarr
from .results import (KINDS, append_results, check_results_store, group_exists, list_results, open_results,
                      read_group, read_results, require_new_group, write_results)
from .run import Run, open_run, select_checkpoints
from .schema import RESULTS, RUN, check_store, store_schema
from .writer import RunWriter

__all__ = ["as_strings", "decode", "prepare_for_zarr", "KINDS", "append_results", "check_results_store",
           "group_exists", "list_results", "open_results", "read_group", "read_results", "require_new_group",
           "write_results", "Run", "open_run", "select_checkpoints", "RESULTS", "RUN", "check_store", "store_schema",
           "RunWriter"]
