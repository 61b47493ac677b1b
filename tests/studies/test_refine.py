"""study refine: keep fractions between the bracketing ones and seeds where an onset interval is too wide, resolved
as the runner resolves runs, recorded in study.json, nothing written by a dry run; bad input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from manifold_lens.errors import ConfigError
from manifold_lens.stores import write_results
from manifold_lens.studies import layout, refine
from manifold_lens.studies.runner import _same_study, _write_layout
from manifold_lens.studies.spec import load_study
from tests.builders import fingerprint, invoke
from tests.studies.study_files import write_study

CASES = ('[[study.cases]]\nname = "s5"\nset = { "data.sigma" = 0.5 }\n'
         'grid = { "data.keep_fraction" = [0.1, 0.2, 0.3, 0.5] }\n'
         '[[study.cases]]\nname = "s7"\nset = { "data.sigma" = 0.7 }\n'
         'grid = { "data.keep_fraction" = [0.05, 0.1, 0.2] }\n')
# sigma 0.5: measured [0.21, 0.28] (0.07 wide) between keep fractions 0.2 and 0.3; sigma 0.7: 0.03 wide
MEASURED = [[0.21, 0.28], [0.10, 0.13]]
PREDICTED = [[0.24, 0.26], [0.11, 0.12]]


def fake_study(root, measured=MEASURED, predicted=PREDICTED, test=True):
    """A study directory as `study run` lays it out (no run trained) with a stored percolation test."""
    root.mkdir(parents=True)
    study = load_study(write_study(root.parent / f"{root.name}.toml", grid="", cases=CASES))
    _write_layout(root, study)
    if test:
        ids = [r["run_id"] for r in study.runs]
        ds = xr.Dataset({"lambda_c_measured": ("sigma", np.mean(measured, 1)),
                         "lambda_c_predicted": ("sigma", np.mean(predicted, 1)),
                         "lambda_c_measured_interval": (("sigma", "bound"), np.asarray(measured, float)),
                         "lambda_c_predicted_interval": (("sigma", "bound"), np.asarray(predicted, float)),
                         "status": ("sigma", np.array(["ok", "ok"], dtype=object))},
                        coords={"sigma": [0.5, 0.7], "bound": ["low", "high"], "run_id": ("run", ids)},
                        attrs={"verdict": "consistent", "reason": "", "dropped": [], "n_boot": 50})
        write_results(ds, out=layout.study_results(root), kind=layout.CLAIMS_KIND, name=layout.PERCOLATION_TEST)
    return root


def _added(result):
    return sorted((float(r["config"]["data"]["sigma_x"]), r["config"]["data"]["keep_fraction"], r["seed"])
                  for rnd in result["rounds"] for r in rnd["runs"])


def test_plan_adds_between_the_bracketing_keep_fractions_and_nowhere_else(tmp_path):
    root = fake_study(tmp_path / "s")
    before = fingerprint(root)
    result = refine.refine_study(root, dry_run=True, progress=False)
    assert fingerprint(root) == before  # a dry run writes nothing
    # the midpoint of 0.2 and 0.3 with seeds 0, 1, 2, and seed 2 at the bracketing 0.2 and 0.3; nothing at sigma 0.7
    assert _added(result) == [(0.5, 0.2, 2), (0.5, 0.25, 0), (0.5, 0.25, 1), (0.5, 0.25, 2), (0.5, 0.3, 2)]
    runs = result["rounds"][0]["runs"]
    assert {f"case=s5,keep_fraction=0.25,seed={s}" for s in (0, 1, 2)} <= {r["run_id"] for r in runs}
    # resolved as the runner resolves them: the same config as a study file listing 0.25 would give
    listed = load_study(write_study(tmp_path / "full.toml", grid="", seeds="[0, 1, 2]",
                                    cases=CASES.replace("[0.1, 0.2, 0.3, 0.5]", "[0.1, 0.2, 0.25, 0.3, 0.5]")))
    by_id = {r["run_id"]: r["config"] for r in listed.runs}
    assert all(r["config"] == by_id[r["run_id"]] for r in runs)
    widths = result["rounds"][0]["widths"]
    assert widths[0.5]["span"] == (0.2, 0.3) and widths[0.7]["why"] == "at target"


def test_budget_caps_a_step_and_the_predicted_side_counts(tmp_path):
    root = fake_study(tmp_path / "s", measured=[[0.21, 0.24], [0.10, 0.13]], predicted=[[0.05, 0.15], [0.11, 0.12]])
    result = refine.refine_study(root, dry_run=True, max_runs=4, progress=False)
    # only the predicted side of sigma 0.5 is wide: [0.05, 0.15] lies between keep fractions 0.1 and 0.2 -> 0.15
    assert _added(result) == [(0.5, 0.1, 2), (0.5, 0.15, 0), (0.5, 0.15, 1), (0.5, 0.15, 2)]


def test_a_refine_step_is_recorded_and_runs_only_the_new_runs(tmp_path, monkeypatch):
    root = fake_study(tmp_path / "s")
    ran = []
    monkeypatch.setattr(refine, "execute", lambda d, runs, stages, spec, progress: ran.extend(runs) or
                        [{"run_id": r["run_id"], "state": "done"} for r in runs])
    narrow = xr.Dataset({"lambda_c_measured_interval": (("sigma", "bound"), [[0.22, 0.26], [0.1, 0.13]]),
                         "lambda_c_predicted_interval": (("sigma", "bound"), PREDICTED)},
                        coords={"sigma": [0.5, 0.7]})
    monkeypatch.setattr(refine, "current_test", lambda d, store=True, progress=True: narrow if ran else
                        refine.read_claim(d, layout.PERCOLATION_TEST))
    result = refine.refine_study(root, progress=False)
    assert len(ran) == 5 and result["stopped"] == "every onset interval is at most target_width wide"
    manifest = layout.read_manifest(root)
    assert [r["run_id"] for r in manifest["runs"] if "refine" in r] == [r["run_id"] for r in ran]
    (step,) = manifest["refine"]
    assert step["step"] == 1 and step["runs_added"] == [r["run_id"] for r in ran]
    assert step["widths_before"]["0.5"]["measured"] == [0.21, 0.28]
    assert result["rounds"][0]["widths"][0.5]["measured_after"] == (0.22, 0.26)
    with pytest.raises(ConfigError, match="max_runs = 5: this study's refine steps already added 5 runs"):
        refine.refine_study(root, max_runs=5, progress=False)
    # the study file still runs on the refined directory (its own runs compared, the refined ones kept)
    _same_study(root, load_study(root.parent / "s.toml"))


def test_cli_dry_run_lists_the_runs(tmp_path):
    root = fake_study(tmp_path / "s")
    res = invoke("study", "refine", root, "--dry-run", "--no-progress")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "refine step 1: would add 5 runs"
    assert "  case=s5,keep_fraction=0.25,seed=0" in lines and lines[-1] == "stopped: dry run: nothing written or run"
    assert any(ln.split()[:2] == ["0.7", "[0.100,"] and ln.endswith("at target") for ln in lines)


@pytest.mark.parametrize("edit, args, message", [
    (None, ["--target-width", "0"], "--target-width 0: must be in (0, 1)"),
    ("keys", [], "the study does not sweep data.keep_fraction"),
    ("spent", ["--max-runs", "3"], "--max-runs 3: this study's refine steps already added 3 runs"),
    ("no-test", [], "no stored percolation test and no evaluated run"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, edit, args, message):
    root = fake_study(tmp_path / "s", test=edit != "no-test")
    manifest = json.loads((root / "study.json").read_text())
    if edit == "keys":
        manifest["keys"] = []
    if edit == "spent":
        manifest["refine"] = [{"step": 1, "runs_added": ["a", "b", "c"]}]
    (root / "study.json").write_text(json.dumps(manifest))
    before = fingerprint(root)
    res = invoke("study", "refine", root, *args, "--no-progress")
    assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert fingerprint(root) == before


def test_not_a_study_directory(tmp_path):
    res = invoke("study", "refine", tmp_path, "--no-progress")
    assert res.exit_code == 2 and "not a study directory" in res.output


@pytest.mark.slow
def test_refine_runs_the_new_runs_of_a_real_study_and_re_tests(tmp_path):
    """A tiny real percolation study (8x8, 12 steps, 2 widths x 3 keep fractions x 2 seeds): study refine trains and
    evaluates 2 new runs between bracketing keep fractions, records them, and the stored test includes them."""
    cases = ('[[study.cases]]\nname = "s5"\nset = { "data.sigma" = 0.5 }\n'
             '[[study.cases]]\nname = "s7"\nset = { "data.sigma" = 0.7 }\n')
    f = write_study(tmp_path / "perc.toml", grid='"data.keep_fraction" = [0.1, 0.3, 0.6]', cases=cases,
                    head='preset = "quick"\nclaim = "percolation"', analyze="enabled = false\n")
    root = tmp_path / "s"
    assert invoke("study", "run", f, "--out", root, "--no-progress").exit_code == 0
    before = refine.read_claim(root, layout.PERCOLATION_TEST)
    res = invoke("study", "refine", root, "--target-width", "0.001", "--max-runs", "2", "--no-progress")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == "refine step 1: added 2 runs"
    assert res.output.splitlines()[-1] == "stopped: max_runs = 2 reached"
    manifest = layout.read_manifest(root)
    new = [r for r in manifest["runs"] if r.get("refine") == 1]
    assert len(new) == 2 and manifest["refine"][0]["runs_added"] == [r["run_id"] for r in new]
    levels = sorted({r["config"]["data"]["keep_fraction"] for r in manifest["runs"] if "refine" not in r})
    for r in new:  # strictly between two of the study's keep fractions, at a new value
        k = r["config"]["data"]["keep_fraction"]
        assert k not in levels and levels[0] < k < levels[-1]
        assert layout.read_status(layout.run_dir(root, r["run_id"]))["state"] == "done"
    after = refine.read_claim(root, layout.PERCOLATION_TEST)
    assert not refine._stale(after, manifest) and refine._stale(before, manifest)
    res = invoke("study", "refine", root, "--target-width", "0.001", "--max-runs", "2", "--no-progress")
    assert res.exit_code == 2 and "already added 2 runs" in res.output
