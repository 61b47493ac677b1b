"""Figures: each a function taking xarray objects (or a dataset) and returning a matplotlib Figure.

Colours are consistent throughout: x is :data:`X_COLOR`, y is :data:`Y_COLOR`;
regions use :data:`REGION_COLORS`. Restyle the returned figures freely.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (figures are files; no display needed)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

X_COLOR = "#1f77b4"   # x: blue
Y_COLOR = "#d62728"   # y: red
REGION_COLORS = {
    "train": "#4c9a2a",
    "band_x": "#1f77b4",
    "band_y": "#d62728",
    "intersection": "#9467bd",
    "interior": "#ff7f0e",
    "exterior": "#8c564b",
    "donut_hole": "#e377c2",
    "beyond": "#7f7f7f",
    "listed": "#17becf",
    "unsampled": "#c7c7c7",
    "frame_2d": "#bcbd22",
    "rim": "#ff9896",
}


def region_color(region: str) -> str:
    return REGION_COLORS.get(region, "#333333")


def coverage_map(ax, x, y, region, title: str = "coverage", image_size: int | None = None):
    """Scatter the candidate conditions coloured by region (trained = green dots)."""
    x, y, region = np.asarray(x), np.asarray(y), np.asarray(region).astype(str)
    for r in sorted(set(region.tolist()), key=lambda r: (r != "train", r)):
        sel = region == r
        ax.scatter(x[sel], y[sel], s=max(4, 3000 / max(len(x), 1)), marker="s" if r != "train" else "o",
                   color=region_color(r), label=f"{r} ({sel.sum()})", linewidths=0)
    if image_size is not None:
        ax.add_patch(plt.Rectangle((-0.5, -0.5), image_size, image_size, fill=False, ec="k", lw=0.8, ls="--"))
    ax.set_xlabel("x (px, column)")
    ax.set_ylabel("y (px, row)")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def dataset_preview(dataset, n_examples: int = 16, title: str = "dataset", seed: int = 0):
    """Gallery of training examples beside the coverage map of a SyntheticDataset."""
    rng = np.random.default_rng(seed)
    train = dataset.train_index
    pick = np.sort(rng.choice(train, size=min(n_examples, len(train)), replace=False))
    imgs = dataset.render_conditions(pick)
    cols = int(np.ceil(np.sqrt(len(pick))))
    rows = int(np.ceil(len(pick) / cols))
    fig = plt.figure(figsize=(4 + 2.2 * cols * 0.9 + 2, max(4.0, 2.0 * rows * 0.9)))
    gs = fig.add_gridspec(rows, cols + 4)
    for i, idx in enumerate(pick):
        ax = fig.add_subplot(gs[i // cols, i % cols])
        ax.imshow(imgs[i], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"({dataset.x[idx]:g}, {dataset.y[idx]:g})", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(gs[:, cols + 1:])
    coverage_map(ax, dataset.x, dataset.y, dataset.region,
                 title=f"coverage: {len(dataset)} trained of {dataset.n_conditions}",
                 image_size=dataset.image_size)
    fig.suptitle(f"{title}  (examples titled by centre (x, y), px; pixel range [-1, 1])", fontsize=9)
    return fig
