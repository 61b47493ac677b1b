"""Experiment presets (TOML) shipped with manifold-lens as package data."""
