"""`manifold-lens train` and `manifold-lens datasets` through typer's CliRunner."""

import re

import pytest

from manifold_lens import open_run
from tests.builders import TINY, invoke, set_args

SETS = set_args(TINY)


def test_train_existing_out_and_resume(tmp_path):
    out = tmp_path / "run.zarr"
    res = invoke("train", "--out", out, *SETS, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and "checkpoints up to step 12" in res.output
    assert open_run(out).status == "complete"

    res = invoke("train", "--out", out, *SETS, "--no-progress")
    assert res.exit_code == 2
    # the library's words (replace=True, or the former --overwrite) in the command's flags
    assert re.search(r"already exists: pass --resume to continue it or --(overwrite|replace) to "
                     r"(replace|write over) it", res.output), res.output

    res = invoke("train", "--out", out, "--resume", "--set", "train.steps=18", "--no-progress")
    assert res.exit_code == 0, res.output
    assert open_run(out).steps[-1] == 18

    res = invoke("train", "--out", out, "--resume", "--set", "data.sigma=3", "--no-progress")
    assert res.exit_code == 2 and "data.sigma differs from the stored run" in res.output


@pytest.mark.parametrize("args, message", [
    (["--set", "data.sigma=0"], "data.sigma = 0: must be > 0 (pixels)"),
    (["--set", "data.keep_fraction=0"], "data.keep_fraction = 0.0: must be in (0, 1]"),
    (["--set", "data.keep_fraction=2"], "data.keep_fraction = 2.0: must be in (0, 1]"),
    (["--set", "data.image_size=12"], "data.image_size = 12"),
    (["--set", "data.family=blob"], "data.family = 'blob': must be one of"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--set", "train.stepz=3"], "valid keys in section [train] are steps"),
    (["--set", "data.sigma=wide"], "data.sigma = 'wide': expected a number"),
    (["--set", "data.holdout.kind=interior", "--set", "data.holdout.width=99"], "larger than the 16 px frame"),
    (["--set", "data.holdout.kind=interior", "--set", "data.holdout.width=16"], "leave no training data"),
    (["--resume"], "does not exist; drop --resume"),
    (["--device", "tpu"], "--device 'tpu': not a device; use auto, cpu, cuda or cuda:N"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, args, message):
    out = tmp_path / "bad.zarr"
    res = invoke("train", "--out", out, *args, "--no-progress")
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_datasets_preview_and_list(tmp_path):
    png = tmp_path / "p.png"
    res = invoke("datasets", "preview", "--preset", "quick", "--set", "data.holdout.kind=cross",
                 "--set", "data.holdout.width=4", "--out", png)
    assert res.exit_code == 0, res.output
    assert "144 training conditions of 256" in res.output and "intersection" in res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    res = invoke("datasets", "list")
    assert res.exit_code == 0 and "quick" in res.output and "paper-torus" in res.output
