"""The ``manifold-lens`` command line: a thin typer app over the library.

Each command parses its options, calls :mod:`manifold_lens` and prints what
:mod:`manifold_lens.summary` words (or, with ``--json``, one JSON document).
Library code is imported inside the commands, so ``manifold-lens --help`` and
``--version`` import no torch. Errors caused by input are printed as one line
(``error: ...``) in the command's flags with exit status 2, never a traceback.

Modules: :mod:`.core` (the app, shared options, printing, errors),
:mod:`.flags` (library parameter names -> flags), one module per command
group: :mod:`.train`, :mod:`.datasets`, :mod:`.analyze`
(analyze, layers), :mod:`.percolate`, :mod:`.evaluate`, :mod:`.report`,
:mod:`.quickstart`, :mod:`.study`, :mod:`.interop` (import, export).
"""

# importing a command module registers its commands, in the order `--help` lists them
from . import train, datasets, analyze, percolate, evaluate, report, quickstart, study, interop  # noqa: F401,I001
from .core import app

__all__ = ["app"]
