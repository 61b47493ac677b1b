"""Preset experiment configs; list them with ``manifold_lens.config.list_presets()``."""
