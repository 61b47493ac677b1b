"""The bundled trainer: the study's conditional UNet and its training loop.

It depends on :mod:`manifold_lens` for data, noise schedule and run store; the
library never imports it. Both are plugins, found by name like a user's: the
UNet as model ``unet`` (entry-point group ``manifold_lens.models``), the
training loop as trainer ``ddpm`` (group ``manifold_lens.trainers``).
"""
