"""References of a representation metric: ideal codes with known values, the shuffled null, stacking."""

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import measure
from manifold_lens.analysis.references import ideal_codes, learned, pixel_code, shuffled_code, stack_references


def lattice_code(n=10, periodic=False, draws=0, seed=0):
    """A smooth code of an n x n lattice (a Clifford torus in 40 random dims), with coords and attrs."""
    x, y = (v.ravel().astype(float) for v in np.meshgrid(np.arange(n), np.arange(n)))
    ax, ay = 2 * np.pi * x / n, 2 * np.pi * y / n
    base = np.column_stack([np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)])
    values = base @ np.random.default_rng(seed).normal(size=(4, 40))
    attrs = {"periodic": int(periodic), **({"period": [n, n]} if periodic else {})}
    da = xr.DataArray(values, dims=("condition", "unit"), coords={"x": ("condition", x), "y": ("condition", y)},
                      attrs=attrs)
    if draws:
        da = da.expand_dims(draw=draws).transpose("condition", "draw", "unit").copy()
    return da


def test_ideal_codes_have_their_known_metrics():
    codes = ideal_codes(lattice_code(periodic=True))
    assert {k: v.sizes["unit"] for k, v in codes.items()} == {"torus3d": 3, "clifford": 4, "plane": 2,
                                                                 "conjunctive": 64}
    m = {k: measure(v, embed=()) for k, v in codes.items()}
    assert float(m["clifford"].effective_dim) == pytest.approx(4.0, abs=1e-9)  # four equal-variance directions
    assert float(m["clifford"].factorization_score) == pytest.approx(1.0, abs=1e-9)  # additive in (x, y)
    assert float(m["plane"].effective_dim) == pytest.approx(2.0, abs=1e-9)
    assert float(m["plane"].factorization_score) == pytest.approx(1.0, abs=1e-9)
    assert float(m["torus3d"].factorization_score) < 0.99  # the ring couples x and y


@pytest.mark.parametrize("periodic", [True, False])
def test_conjunctive_reference_is_continuous_and_separates_from_clifford(periodic):
    # 16 x 16 grid, measured: factorization 0.61 (periodic) / 0.57 against clifford's 1 (to round-off), continuity
    # 0.90 / 0.91 against clifford's 0.93, x-on-y 0.16 (the entangled codes: 0.145-0.165). The additive
    # fit cannot reproduce products of an x-bump and a y-bump, whatever the noise: a gap of 0.3 is wide.
    codes = ideal_codes(lattice_code(n=16, periodic=periodic))
    m = {k: measure(codes[k], embed=()) for k in ("clifford", "conjunctive")}
    assert float(m["clifford"].factorization_score) - float(m["conjunctive"].factorization_score) > 0.3
    assert float(m["conjunctive"].continuity_index) > 0.85  # smooth: neighbouring conditions, nearby codes
    assert 0.1 < float(m["conjunctive"].x_on_y_orthogonality) < 0.25
    assert np.isfinite(codes["conjunctive"].values).all() and codes["conjunctive"].values.max() == pytest.approx(1)


def test_shuffled_code_destroys_the_structure_not_the_spectrum():
    code = lattice_code(periodic=True, draws=3)
    sh = shuffled_code(code, seed=1)
    perm = [int(np.flatnonzero((code.values[:, 0] == row).all(1))[0]) for row in sh.values[:, 0]]
    for d in range(3):  # one permutation for every draw
        np.testing.assert_array_equal(sh.values[:, d], code.values[perm, d])
    np.testing.assert_array_equal(sh.x, code.x)  # the labels stay, the codes move
    a, b = measure(code.isel(draw=0), embed=()), measure(sh.isel(draw=0), embed=())
    assert float(b.effective_dim) == pytest.approx(float(a.effective_dim))  # same points, same spectrum
    assert float(a.continuity_index) > 0.75 and abs(float(b.continuity_index)) < 0.2  # 1 - (2 - 2 cos 36deg) / 2


def test_stack_references_puts_summaries_along_reference():
    code = lattice_code()
    m = measure(code, embed=("pca",))
    pix = measure(pixel_code(np.random.default_rng(0).normal(size=(100, 4, 4)), code), embed=())
    ds = stack_references(m, {"shuffled": measure(shuffled_code(code, 0), embed=()), "pixels": pix, "init": None})
    assert list(ds.reference.values) == ["learned", "pixels", "init", "shuffled"]  # the canonical order
    assert ds.effective_dim.dims == ("reference",) and np.isnan(float(ds.effective_dim.sel(reference="init")))
    assert ds.explained_variance_ratio.dims == ("reference", "component")
    assert ds.embedding_pca.dims == ("condition", "embed_dim")  # per-condition: learned only
    xr.testing.assert_identical(learned(ds).effective_dim, m.effective_dim)


def test_no_step0_checkpoint_makes_init_nan_with_a_note():
    """A run whose step-0 checkpoint is missing: init cannot be measured; NaN and a note, never a crash."""
    from manifold_lens.analysis.analyze import fixed_references

    code = lattice_code().expand_dims(timestep=[50])
    notes = {}
    fixed = fixed_references({"bottleneck": code}, None, np.zeros((100, 4, 4)), seed=0, notes=notes)
    assert fixed[(50, "bottleneck")]["init"] is None
    assert list(notes) == ["init reference is NaN: the run has no step-0 checkpoint"]
    m = measure(code.isel(timestep=0), embed=())
    ds = stack_references(m, fixed[(50, "bottleneck")])
    assert np.isnan(float(ds.factorization_score.sel(reference="init")))
    assert float(ds.factorization_score.sel(reference="clifford")) == pytest.approx(1.0, abs=1e-9)


def test_references_for_one_code_is_the_public_name_of_what_analyze_stores():
    """references_for: the learned code first, the references beside it, the same values as measuring each."""
    from manifold_lens.analysis import references_for
    from manifold_lens.analysis.references import SHUFFLE_SEED_OFFSET

    code = lattice_code()
    images = np.random.default_rng(1).normal(size=(100, 4, 4))
    ds = references_for(code, images, init=None, seed=0, embed=())
    assert list(ds.reference.values) == ["learned", "pixels", "init", "shuffled", "torus3d", "clifford", "plane",
                                     "conjunctive"]
    direct = measure(code, embed=())
    assert float(ds.effective_dim.sel(reference="learned")) == pytest.approx(float(direct.effective_dim))
    assert float(ds.factorization_score.sel(reference="clifford")) == pytest.approx(1.0, abs=1e-9)
    assert np.isnan(float(ds.effective_dim.sel(reference="init")))
    shuffled = measure(shuffled_code(code, SHUFFLE_SEED_OFFSET), embed=(), homology=False)
    assert float(ds.continuity_index.sel(reference="shuffled")) == pytest.approx(float(shuffled.continuity_index))
    pixels = measure(pixel_code(images, code), embed=())
    assert float(ds.effective_dim.sel(reference="pixels")) == pytest.approx(float(pixels.effective_dim))
