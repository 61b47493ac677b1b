"""Datasets: the candidate lattice of conditions, hold-outs, subsampling and rendering."""

from .dataset import Component, SyntheticDataset, build_dataset
from .render import (PIXEL_MAX, PIXEL_MIN, bump_intensity, from_pixels, lattice, render, render_many,
                     sos_intensity, to_pixels)

__all__ = ["Component", "SyntheticDataset", "build_dataset", "PIXEL_MAX", "PIXEL_MIN", "bump_intensity",
           "from_pixels", "lattice", "render", "render_many", "sos_intensity", "to_pixels"]
