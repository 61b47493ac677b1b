"""manifold-lens: train small conditional DDPMs on Gaussian bumps and look inside them."""

__version__ = "0.1.0"
