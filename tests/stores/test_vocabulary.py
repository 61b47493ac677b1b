"""One vocabulary for writers: out/kind/name/replace keyword-only, replace (not overwrite) for run stores.

The former spellings still work for one release, each with a DeprecationWarning.
"""

from __future__ import annotations

import warnings

import pytest
import xarray as xr

from manifold_lens import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import StoreError
from manifold_lens.stores import (RunWriter, append_results, list_results, open_run, open_stream, read_results,
                                  write_results, writing_results)
from manifold_lens.stores.writer import check_replaceable

DS = xr.Dataset({"v": ("k", [1.0, 2.0])})


def test_keyword_forms_write_without_warnings(tmp_path):
    out = tmp_path / "r.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert write_results(DS, out=out, kind="percolation", name="p") == "percolation/p"
        with writing_results(out=out, kind="comparison", name="c"):
            write_results(DS * 2, out=out, kind="comparison", name="c")
        s = open_stream({"seed": 0}, out=out, kind="evaluation", name="e", planned=1)
        append_results(s, xr.Dataset({"a": ("checkpoint", [0.5])}, coords={"checkpoint": [0]}))
    assert list_results(out) == {"comparison": ["c"], "evaluation": ["e"], "percolation": ["p"]}
    assert read_results(out, "comparison", "c").v.values.tolist() == [2.0, 4.0]
    with pytest.raises(StoreError, match=r"already exist; pass replace=True to write over them or another name="):
        write_results(DS, out=out, kind="percolation", name="p")
    write_results(DS * 3, out=out, kind="percolation", name="p", replace=True)
    assert read_results(out, "percolation", "p").v.values.tolist() == [3.0, 6.0]


def test_positional_forms_warn_and_still_write(tmp_path):
    out = tmp_path / "r.zarr"
    with pytest.warns(DeprecationWarning, match=r"write_results\(\) with positional arguments is deprecated"):
        write_results(out, "percolation", "p", DS)
    with pytest.warns(DeprecationWarning, match=r"writing_results\(\) with positional"):
        with writing_results(out, "comparison", "c", False):
            pass
    with pytest.warns(DeprecationWarning, match=r"open_stream\(\) with positional"):
        s = open_stream(out, "evaluation", "e", {"seed": 0}, planned=1)
    assert s.kind == "evaluation" and s.name == "e" and s.planned == 1
    assert read_results(out, "percolation", "p").v.values.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="missing keyword argument kind="):
        write_results(DS, out=out, name="x")


def test_run_store_replace_and_deprecated_overwrite(tmp_path):
    cfg = load_config("quick", overrides=["data.image_size=8"])
    path = tmp_path / "run.zarr"
    RunWriter.create(path, cfg, SyntheticDataset(cfg), param_names=[])
    with pytest.raises(StoreError, match=r"already exists: pass resume=True to continue it or replace=True"):
        RunWriter.create(path, cfg, SyntheticDataset(cfg), param_names=[])
    RunWriter.create(path, cfg, SyntheticDataset(cfg), param_names=[], replace=True)
    with pytest.warns(DeprecationWarning, match=r"RunWriter.create\(overwrite=...\) is deprecated: use replace="):
        RunWriter.create(path, cfg, SyntheticDataset(cfg), param_names=[], overwrite=True)
    assert open_run(path).committed == 0
    results = tmp_path / "results.zarr"
    write_results(DS, out=results, kind="percolation", name="p")
    with pytest.raises(StoreError, match=r"is a manifold-lens.results store; replace=True replaces only a run store"):
        check_replaceable(results, replace=True)
    with pytest.warns(DeprecationWarning, match="overwrite"), pytest.raises(StoreError, match="only a run store"):
        check_replaceable(results, overwrite=True)


def test_loss_step_carries_the_checkpoint_unit(tiny_run):
    assert open_run(tiny_run).loss["step"].attrs["units"] == "optimiser steps"
