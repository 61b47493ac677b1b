"""The bundled trainer: the study's conditional UNet and its training loop.

This folder installs as :mod:`manifold_lens.trainers` (the package-dir mapping in
pyproject.toml); nothing installs a top-level ``trainers``. It depends on
:mod:`manifold_lens` for data, noise schedule and run store; the library never
imports it. Both are plugins, found by name like a user's: the UNet as model
``unet`` (entry-point group ``manifold_lens.models``, ``manifold_lens.trainers.unet:build_unet``),
the training loop as trainer ``ddpm`` (group ``manifold_lens.trainers``,
``manifold_lens.trainers.train:train``).
"""
