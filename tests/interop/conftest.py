"""Session fixtures: a tiny diffusers series in each source form, and its import (read-only for tests)."""

from __future__ import annotations

import pytest

from tests.interop.series import make_series


@pytest.fixture(scope="session")
def series(tmp_path_factory):
    """{form: folder} of a tiny UNet2DModel saved at steps 0, 2, 4 (diffusers, safetensors, state_dict, adapter)."""
    return make_series(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="session")
def imported(series, tmp_path_factory):
    """The diffusers series imported once (read-only)."""
    from manifold_lens.interop import import_checkpoints

    out = tmp_path_factory.mktemp("imported") / "run.zarr"
    import_checkpoints(series["diffusers"], out=out, adapter=series["adapter"], progress=False)
    return out
