"""The ``manifold-lens`` command line, runnable from a source checkout: ``python cli.py --help``.

The commands live in :mod:`manifold_lens.cli` (installed as the ``manifold-lens``
console script); this file is not installed.
"""

from manifold_lens.cli import app

if __name__ == "__main__":
    app()
