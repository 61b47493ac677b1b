"""Bundled studies; list them with ``manifold-lens study list``."""
