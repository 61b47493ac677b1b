"""The typer app, its shared options, and how the commands print and fail.

Errors caused by input (:class:`~manifold_lens.errors.ManifoldLensError`) are
printed as one line, ``error: ...``, in the command's own flags
(:mod:`.flags`), with exit status 2 and no traceback. ``--json`` makes a
command print one JSON document on stdout instead of its text summary.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Optional

import typer

from ..devices import spin_policy
from ..errors import ManifoldLensError
from .flags import cli_message

spin_policy()  # before any command imports torch: OpenMP threads spin briefly, then sleep (a busy machine)

app = typer.Typer(
    help="Train conditional DDPMs on Gaussian-bump images and look inside them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
REPLACE = typer.Option(False, "--replace", help="Write over an existing results group of that name.")
PRESET = typer.Option(None, "--preset", help="Preset name (quick, paper-bump, paper-torus; `datasets list`).")
CONFIG = typer.Option(None, "--config", help="Config file (TOML) instead of a preset.")
SET = typer.Option([], "--set", help="Override a config key: --set train.steps=500 (repeatable).")
JSON = typer.Option(False, "--json", help="Print the summary as one JSON document on stdout instead of text.")
OVERWRITE = typer.Option(False, "--overwrite", hidden=True, help="Deprecated: the former name of --replace.")


def setting_option(settings, name: str, *flags: str, **kw):
    """A typer option whose default and help come from a stage's settings class (written once, there)."""
    default = settings.default(name)
    text = settings.help(name)
    return typer.Option(default, *(flags or ("--" + name.replace("_", "-"),)),
                        help=text + ("" if text.endswith(".") else "."), **kw)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"manifold-lens {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print the version and exit."),
) -> None:
    pass


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn ManifoldLensError (bad input) into a one-line message in the command's flags and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ManifoldLensError as e:
            fail(" ".join(cli_message(str(e)).splitlines()))

    return wrapper


def deprecated_flag(old: str, new: str) -> None:
    """Note on stderr that ``old`` still works but is now ``new``."""
    typer.echo(f"note: {old} is deprecated and will be removed; use {new}", err=True)


def replace_flag(replace: bool, overwrite: bool) -> bool:
    """--replace, or its deprecated alias --overwrite (with a note on stderr)."""
    if overwrite:
        deprecated_flag("--overwrite", "--replace")
    return replace or overwrite


def echo_lines(lines) -> None:
    typer.echo("\n".join(lines))


def _plain(value):
    """A value JSON can hold: NaN and infinities become null, numpy scalars and arrays plain numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def echo_json(document) -> None:
    """Print ``document`` as JSON (NaN as null; paths and other objects as strings)."""
    typer.echo(json.dumps(_plain(document), indent=2))


def parse_csv(value: Optional[str], cast=str, option: str = "") -> Optional[list]:
    """'a,b,c' -> [cast(a), cast(b), cast(c)]; None stays None; a bad value fails naming ``option``."""
    if value is None:
        return None
    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        what, example = ("integers", "0,50") if cast is int else ("numbers", "0.5,1,2")
        fail(f"{option} {value!r}: give {what} separated by commas, e.g. {option} {example}")
