"""The bundled studies: each resolves and validates at both scales, sweeps what its claim needs; scales, names,
--set and the manifest's scale and claim; one bundled study end to end through the CLI on tiny settings."""

from __future__ import annotations

import json

import pytest

from manifold_lens.errors import ConfigError
from manifold_lens.studies import list_studies, load_study
from manifold_lens.studies.bundled import resolve_study
from tests.builders import invoke

BUNDLED = ["composition", "interior-exterior", "lesion", "percolation", "rim", "scaling", "torus"]
SCALES = ["cpu", "paper"]


def configs(study):
    return [r["config"] for r in study.runs]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_study_resolves_and_validates(name, scale):
    study = load_study(name, scale=scale)  # every run's config, memory, the stage settings, the executor
    assert study.name == name and study.claim == name and study.scale == scale
    assert resolve_study(name).name == f"{name}.toml"
    cfgs = configs(study)
    size = {c["data"]["image_size"] for c in cfgs}
    if scale == "cpu":
        assert size == ({8, 16} if name == "scaling" else {16}) and {c["model"]["base_channels"] for c in cfgs} == {32}
        assert all(c["train"]["steps"] <= 1500 for c in cfgs)
        if name != "torus":  # the torus needs its representations over training; the others only accuracy
            assert study.stages["analyze"] is None and study.stages["evaluate"]["checkpoints"] == "last"
            # within the file's estimate, at most 30 minutes on 2 cores: the percolation study measured about
            # 105 s per 1000-step 16x16 run per one-thread worker (training and the last checkpoint's
            # evaluation, the quick preset); cost scales with steps and pixels
            seconds = sum(0.105 * c["train"]["steps"] * (c["data"]["image_size"] / 16) ** 2 for c in cfgs)
            minutes = next(r["minutes"] for r in list_studies() if r["name"] == name)
            assert seconds / study.executor.workers < minutes * 60 <= 30 * 60
        assert study.executor.kind == "local" and study.executor.workers == 2
    else:
        assert size == ({16, 24, 32, 48} if name == "scaling" else {32})
        assert {c["model"]["base_channels"] for c in cfgs} == {64}
        assert {c["train"]["steps"] for c in cfgs} == {20000} and len({r["seed"] for r in study.runs}) >= 3


def test_each_claim_sweeps_what_it_needs():
    lesion = load_study("lesion")
    assert lesion.keys == ["data.holdout.width"]
    assert [r["swept"]["data.holdout.width"] for r in lesion.runs[::2]] == [2, 4, 6, 8]
    assert {c["data"]["holdout"]["kind"] for c in configs(lesion)} == {"band_x"}

    ie = load_study("interior-exterior")
    seen = {(c["data"]["family"], c["data"]["holdout"]["kind"], c["data"]["holdout"]["width"]) for c in configs(ie)}
    assert seen == {(f, k, w) for f in ("bump", "sos") for k in ("interior", "exterior") for w in (3, 6)}
    paper = load_study("interior-exterior", scale="paper")
    assert {r["case"] for r in paper.runs} == {f"{f}-{p}" for f in ("bump", "sos") for p in ("interior", "corner",
                                                                                          "edge")}

    comp = load_study("composition")
    families = {r["case"]: r["config"]["data"]["family"] for r in comp.runs}
    assert families == {"sos-cross": "sos", "stripes": "stripes", "stripes+sos": "mixture"}
    holdouts = {json.dumps(c["data"]["holdout"], sort_keys=True) for c in configs(comp)}
    assert len(holdouts) == 1  # the same cross for every training set: band and intersection accuracies compare
    cross = json.loads(holdouts.pop())
    assert cross["kind"] == "cross" and cross["x_range"] == cross["y_range"] == [6, 9]
    assert load_study("composition", scale="paper").runs[0]["config"]["data"]["holdout"]["x_range"] == [13, 19]


def test_torus_rim_scaling_and_percolation_sweep_what_they_need():
    from manifold_lens.percolation import lattice_percolation

    torus = load_study("torus")
    assert {c["data"]["family"] for c in configs(torus)} == {"periodic"}
    assert torus.stages["evaluate"]["checkpoints"] == torus.stages["analyze"]["checkpoints"] == "all"
    assert torus.stages["analyze"]["references"] is True and torus.stages["analyze"]["homology"] is True

    rim = {r["case"]: r["config"]["data"] for r in load_study("rim").runs}
    assert {c: (d["include_rim"], d["rim_kind"]) for c, d in rim.items()} == {
        "stripes-alone": (False, "outside"), "rim-outside": (True, "outside"), "rim-edge": (True, "edge")}
    assert {d["family"] for d in rim.values()} == {"stripes"}

    scaling = load_study("scaling")
    grid = {(r["case"], r["config"]["data"]["image_size"], r["config"]["data"]["keep_fraction"])
            for r in scaling.runs}
    assert grid == {(c, n, k) for c in ("bumps", "bumps+stripes") for n in (8, 16) for k in (0.15, 0.3, 0.6)}
    mix = next(r["config"]["data"] for r in scaling.runs if r["case"] == "bumps+stripes")
    assert mix["keep_fractions"] == {"stripes": 1.0} and set(mix["mix"]) == {"bump", "stripes"}

    # percolation: each width's keep fractions bracket its predicted onset (pixel overlaps, threshold 0.005)
    perc = load_study("percolation")
    by_sigma = {}
    for r in perc.runs:
        by_sigma.setdefault(r["config"]["data"]["sigma"], []).append(r["config"]["data"]["keep_fraction"])
    assert sorted(by_sigma) == [0.5, 0.6, 0.7]  # sigma 0.4 is not learned at the cpu scale's steps
    lam_c = lattice_percolation(sorted(by_sigma), lattice=16, trials=40, method="pixels", progress=False)["lambda_c"]
    for sigma, lc in zip(sorted(by_sigma), lam_c.values):
        keep = sorted(set(by_sigma[sigma]))
        assert len(keep) == 4 and keep[0] < lc < keep[-1] and min(abs(k - lc) for k in keep) < 0.05, (sigma, lc, keep)
        assert all(by_sigma[sigma].count(k) == 2 for k in keep)  # 2 seeds a keep fraction: onset intervals
    assert lam_c.values[0] - lam_c.values[-1] > 0.15  # the thresholds are spread out
    seeds = {(r["config"]["train"]["seed"], r["config"]["data"]["seed"]) for r in perc.runs}
    assert seeds == {(0, 0), (1, 1)}  # each seed a different training subset as well as initialisation
    paper = load_study("percolation", scale="paper")
    assert {r["config"]["data"]["sigma"] for r in paper.runs} == {0.4, 0.5, 0.6, 0.7} and len(paper.runs) == 96


def test_study_list_shows_the_bundled_studies():
    rows = {r["name"]: r for r in list_studies()}
    assert set(rows) == {*BUNDLED, "example"}  # the seven claims and the small example
    for name in BUNDLED:
        assert rows[name]["claim"] == name and rows[name]["scales"] == SCALES
        assert rows[name]["runs"] == len(load_study(name).runs) and 0 < rows[name]["minutes"] <= 30
    res = invoke("study", "list")
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines() if line.strip()}
    for name in BUNDLED:
        assert f"{rows[name]['runs']} runs" in lines[name] and name in lines[name]


@pytest.mark.parametrize("args, messages", [  # the library names the parameter; the CLI may name its flag
    (["lesion", "--scale", "gpu"], ["error: --scale 'gpu': unknown scale; this study has cpu, paper",
                                    "error: scale = 'gpu': unknown scale; this study has cpu, paper"]),
    (["no-such-study"], ["error: no-such-study: no such study file or bundled study (bundled: "]),
    (["lesion", "--set", "data.holdout.width=3"], ["error: --set data.holdout.width: swept by the study's grid",
                                                  "error: overrides: data.holdout.width is swept by the study's "
                                                  "grid"]),
    (["lesion", "--set", "data.colour=1"], ["error: --set: unknown key 'data.colour'",
                                            "error: overrides: unknown key 'data.colour'"]),
    (["example", "--scale", "cpu"], ["error: --scale cpu: this study file has no [scale.*] tables",
                                     "error: scale = cpu: this study file has no [scale.*] tables"]),
])
def test_bad_names_scales_and_overrides_are_one_line(tmp_path, args, messages):
    res = invoke("study", "run", *args, "--out", tmp_path / "s", "--dry-run")
    assert res.exit_code == 2, res.output
    assert any(res.output.startswith(m) for m in messages) and len(res.output.strip().splitlines()) == 1, res.output
    assert not (tmp_path / "s").exists()


def test_dry_run_with_names_scales_and_set(tmp_path):
    res = invoke("study", "run", "lesion", "--scale", "paper", "--set", "train.steps=100", "--out", tmp_path / "s",
                 "--dry-run")
    assert res.exit_code == 0, res.output
    assert "18 runs" in res.output and "width=16,seed=2" in res.output
    study = load_study("lesion", scale="paper", overrides=["train.steps=100"])
    assert {c["train"]["steps"] for c in configs(study)} == {100} and study.overrides == {"train.steps": 100}


SCALED = '''[study]
name = "scaled"
preset = "quick"
seeds = [0]
[study.set]
"data.image_size" = 8
"model.base_channels" = 8
"model.embed_dim" = 32
"model.freq_dim" = 8
"train.steps" = 4
"train.batch_size" = 8
"train.warmup_steps" = 2
[study.grid]
"data.keep_fraction" = [1.0]
[[study.cases]]
name = "a"
set = { "data.sigma" = 1.0 }
[[study.cases]]
name = "b"
set = { "data.sigma" = 1.5 }
grid = { "data.keep_fraction" = [0.5, 1.0] }
[evaluate]
checkpoints = "last"
steps = 2
samples_per_condition = 1
[analyze]
enabled = false
[scale.small]
seeds = [1]
[scale.big]
seeds = [0, 1]
set = { "train.steps" = 6 }
grid = { "data.keep_fraction" = [0.25, 1.0] }
cases = { b = { set = { "data.sigma" = 2.0 }, grid = { "data.keep_fraction" = [0.75] } }, a = { skip = true } }
evaluate = { samples_per_condition = 2 }
executor = { workers = 2 }
'''


def test_scales_merge_over_the_study_and_cases_carry_their_own_grid(tmp_path):
    f = tmp_path / "scaled.toml"
    f.write_text(SCALED)
    small = load_study(f)  # no cpu scale: the first one
    assert small.scale == "small"
    assert [r["run_id"] for r in small.runs] == ["case=a,keep_fraction=1,seed=1", "case=b,keep_fraction=0.5,seed=1",
                                                 "case=b,keep_fraction=1,seed=1"]
    big = load_study(f, scale="big")
    assert [r["run_id"] for r in big.runs] == ["case=b,keep_fraction=0.75,seed=0", "case=b,keep_fraction=0.75,seed=1"]
    cfg = big.runs[0]["config"]
    assert cfg["data"]["sigma"] == 2.0 and cfg["train"]["steps"] == 6 and cfg["data"]["image_size"] == 8
    assert big.stages["evaluate"] == {"checkpoints": "last", "steps": 2, "samples_per_condition": 2}
    assert big.executor.workers == 2 and big.manifest()["scale"] == "big"
    with pytest.raises(ConfigError, match="scale.big.cases.c: no such case"):
        f.write_text(SCALED.replace("a = { skip = true }", "c = { skip = true }"))
        load_study(f, scale="big")


def test_manifest_records_scale_and_claim_and_another_scale_is_refused(tmp_path):
    f = tmp_path / "scaled.toml"
    f.write_text(SCALED.replace('name = "scaled"', 'name = "scaled"\nclaim = "lesion"'))
    out = tmp_path / "study"
    res = invoke("study", "run", f, "--scale", "small", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["scale"] == "small" and manifest["claim"] == "lesion" and manifest["overrides"] == {}
    res = invoke("study", "run", f, "--scale", "big", "--out", out, "--dry-run")
    assert res.exit_code == 2 and "holds this study at scale 'small', not 'big'" in res.output, res.output
    res = invoke("study", "run", f, "--scale", "small", "--out", out, "--no-progress")  # the same scale: a rerun
    assert res.exit_code == 0 and "3 of 3 runs done" in res.output, res.output


TINY_SET = ["model.base_channels=8", "model.embed_dim=32", "model.freq_dim=8", "train.steps=12",
            "train.batch_size=8", "train.checkpoint_every=6", "train.early_checkpoints=2", "train.warmup_steps=2"]


@pytest.mark.slow
def test_composition_end_to_end_on_tiny_settings(tmp_path):
    """`study run composition --scale cpu` with a tiny model: every run has band_x, band_y, intersection accuracy."""
    from manifold_lens.stores import read_group

    out = tmp_path / "composition"
    args = [a for s in TINY_SET for a in ("--set", s)]
    res = invoke("study", "run", "composition", "--scale", "cpu", *args, "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "9 of 9 runs done" in res.output  # 3 training sets x 3 seeds
    manifest = json.loads((out / "study.json").read_text())
    assert manifest["claim"] == "composition" and manifest["scale"] == "cpu"
    assert manifest["overrides"]["train.steps"] == 12
    for r in manifest["runs"]:
        ev = read_group(out / "runs" / r["run_id"] / "results.zarr", "evaluation", "default")
        acc = ev["accuracy_region"].isel(checkpoint=-1)
        assert {"band_x", "band_y", "intersection"} <= set(acc.region_name.values.tolist()), r["run_id"]
        geometry = ev["holdout_region"].values.astype(str)
        assert [(geometry == g).sum() for g in ("band_x", "band_y", "intersection")] == [48, 48, 16]
