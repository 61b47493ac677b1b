"""``python -m manifold_lens.cli``: the same as the ``manifold-lens`` command."""

from . import app

app(prog_name="manifold-lens")
