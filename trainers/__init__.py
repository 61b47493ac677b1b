"""The bundled trainer: the study's conditional UNet and its training loop.

It depends on :mod:`manifold_lens` for data, noise schedule and run store; the
library never imports it. The UNet is registered under the model name
``"unet"`` through the ``manifold_lens.models`` entry point.
"""
