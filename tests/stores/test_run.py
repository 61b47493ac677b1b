import json

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from manifold_lens import load_config, open_run
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import StoreError
from manifold_lens.stores import RunWriter
from manifold_lens.stores.encoding import write_group
from manifold_lens.stores.schema import RUN, VERSIONS
from tests.builders import QUIET
from manifold_lens.trainers.train import checkpoint_schedule


def test_checkpoint_schedule_dense_early_regular_late():
    s = checkpoint_schedule(1000, 100, 5)
    assert s[0] == 0 and s[-1] == 1000
    early = [x for x in s if 0 < x < 100]
    assert len(early) == 5 and early == sorted(early) and early[0] == 1
    assert [x for x in s if x >= 100] == list(range(100, 1001, 100))
    assert checkpoint_schedule(7, 5, 0) == [0, 5, 7]


def test_round_trip_of_dataset_and_attrs(tiny_run, tiny_config):
    run = open_run(tiny_run)
    assert run.config == tiny_config
    assert run.attrs["schema"] == "manifold-lens.run" and run.attrs["schema_version"] == VERSIONS[RUN]
    assert run.attrs["status"] == "complete" and run.model_name == "unet"
    assert "torch" in run.versions and run.attrs["seed"] == 0
    d = SyntheticDataset(tiny_config.data)
    stored_cond = run.conditions
    expected = d.conditions_dataset()
    xr.testing.assert_equal(stored_cond, expected)
    tr = run.train_set
    xr.testing.assert_equal(tr, d.train_dataset())


def test_dataset_is_read_from_the_store_not_rebuilt(tmp_path):
    cfg = load_config("quick", overrides=["data.image_size=16", "data.keep_fraction=0.5",
                                          "data.holdout.kind=interior", "data.holdout.width=4"])
    built = SyntheticDataset(cfg)
    path = RunWriter.create(tmp_path / "r.zarr", cfg, built, param_names=[]).path
    run = open_run(path)
    ds = run.dataset
    for name in ("x", "y", "family", "region", "train", "weight"):
        np.testing.assert_array_equal(getattr(ds, name), getattr(built, name))
    np.testing.assert_array_equal(ds.render_conditions(), built.render_conditions())  # held-out ones too
    assert ds.train_dataset() is run.train_set  # the stored training set, not a new rendering
    xr.testing.assert_equal(run.train_set, built.train_dataset())
    # change what the store says: a reader that rebuilt from the config would not see it
    cond = open_run(path).conditions
    cond["region"].values[0] = "listed"
    write_group(path, "dataset/conditions", cond)
    assert open_run(path).dataset.region[0] == "listed" and built.region[0] != "listed"


def test_steps_loss_and_models(tiny_run):
    run = open_run(tiny_run)
    assert run.steps == checkpoint_schedule(12, 6, 2)
    assert run.loss.sizes["step"] == 12
    np.testing.assert_array_equal(run.loss.step.values, np.arange(1, 13))
    assert run.has_ema
    m_raw = run.load_model(step=6, ema=False)
    m_ema = run.load_model(step=6)
    assert not m_raw.training
    w_raw = dict(m_raw.named_parameters())["conv_in.weight"]
    w_ema = dict(m_ema.named_parameters())["conv_in.weight"]
    assert not torch.equal(w_raw, w_ema)
    # the step-0 checkpoint holds the initial weights: raw == EMA
    sd0, sd0e = run.state_dict(0, ema=False), run.state_dict(0, ema=True)
    assert all(torch.equal(sd0[k], sd0e[k]) for k in sd0)
    out = run.load_model()(torch.zeros(1, 1, 8, 8), torch.tensor([5]), torch.tensor([[1.0, 2.0]]))
    assert out.shape == (1, 1, 8, 8) and torch.isfinite(out).all()


def test_missing_and_foreign_paths(tmp_path):
    with pytest.raises(StoreError, match="no such run store"):
        open_run(tmp_path / "nope.zarr")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("x")
    with pytest.raises(StoreError, match="not a manifold-lens run"):
        open_run(tmp_path / "plain")
    g = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    g.attrs["schema"] = "manifold-lens.results"
    with pytest.raises(StoreError, match="not a manifold-lens run"):
        open_run(tmp_path / "other.zarr")


def test_newer_schema_refused(tiny_run, tmp_path):
    import shutil

    p = tmp_path / "copy.zarr"
    shutil.copytree(tiny_run, p)
    g = zarr.open_group(str(p), mode="r+")
    g.attrs["schema_version"] = VERSIONS[RUN] + 1
    with pytest.raises(StoreError, match="newer than this manifold-lens supports"):
        open_run(p)


def test_unknown_step(tiny_run):
    with pytest.raises(StoreError, match="no checkpoint at step 5; committed steps: 0, 1"):
        open_run(tiny_run).load_model(step=5)


def test_no_pickle_in_store(tiny_run):
    """Every file is JSON metadata or a zstd-compressed numeric chunk under a ``c/`` folder."""
    files = [f for f in tiny_run.rglob("*") if f.is_file()]
    chunks = [f for f in files if f.name != "zarr.json"]
    for f in files:
        if f.name == "zarr.json":
            json.loads(f.read_text())
    assert chunks and all("c" in f.relative_to(tiny_run).parts for f in chunks)
    assert {f.read_bytes()[:4] for f in chunks} == {b"\x28\xb5\x2f\xfd"}  # zstd frames, never pickle (0x80)


def test_every_root_metadata_write_is_a_consistent_commit(tmp_path, tiny_config, monkeypatch):
    """A kill can land between any two writes: each root write must be a whole commit."""
    from zarr.core.group import AsyncGroup

    from manifold_lens.trainers.train import train

    snapshots = []
    original = AsyncGroup._save_metadata

    async def recording(self, *args, **kwargs):
        if self.path == "" and "committed" in self.metadata.attributes:
            snapshots.append(dict(self.metadata.attributes))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(AsyncGroup, "_save_metadata", recording)
    train(tiny_config, tmp_path / "r.zarr", **QUIET)
    schedule = checkpoint_schedule(12, 6, 2)
    assert len(snapshots) >= len(schedule)
    for s in snapshots:
        if s["committed"] > 0:
            assert s["last_step"] == schedule[s["committed"] - 1], s
            assert s["loss_committed"] == s["last_step"], s  # one loss entry per step
            assert s["resume_slot"] == (s["committed"] - 1) % 2, s
