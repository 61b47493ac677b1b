"""The ``manifold-lens`` command line: a thin typer app over the library.

Each command parses its options, calls :mod:`manifold_lens` (or the bundled
:mod:`trainers`) and shows progress. Errors caused by input are printed as one
line (``error: ...``) with exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer

from manifold_lens.errors import ManifoldLensError

app = typer.Typer(
    help="Train conditional DDPMs on Gaussian-bump images and look inside them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Inspect the synthetic datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn ManifoldLensError (and ValueError from validation) into a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ManifoldLensError as e:
            fail(str(e))

    return wrapper


def parse_csv(value: Optional[str], cast=str) -> Optional[list]:
    """'a,b,c' -> [cast(a), cast(b), cast(c)]; None stays None."""
    if value is None:
        return None
    return [cast(v.strip()) for v in value.split(",") if v.strip()]


# ---------------------------------------------------------------------------
# Commands are added below, one section per command.
# ---------------------------------------------------------------------------
