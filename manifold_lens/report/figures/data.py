"""Figures of the data and the training: dataset gallery with its coverage map, training loss."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import FigureDataError, new_figure, region_color, root_figure, single_axes


def coverage_map(ax, x, y, region, title: str = "coverage", image_size: int | None = None) -> Figure:
    """Scatter the candidate conditions coloured by region (trained = green dots) on ``ax`` (None: a new
    figure); returns the Figure."""
    fig, ax, _ = single_axes(ax, 6.0, 5.0)
    x, y, region = np.asarray(x), np.asarray(y), np.asarray(region).astype(str)
    for r in sorted(set(region.tolist()), key=lambda r: (r != "train", r)):
        sel = region == r
        ax.scatter(x[sel], y[sel], s=max(4, 3000 / max(len(x), 1)), marker="s" if r != "train" else "o",
                   color=region_color(r), label=f"{r} ({sel.sum()})", linewidths=0)
    if image_size is not None:
        ax.add_patch(Rectangle((-0.5, -0.5), image_size, image_size, fill=False, ec="k", lw=0.8, ls="--"))
    ax.set_xlabel("x (px, column)")
    ax.set_ylabel("y (px, row)")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="region (conditions)", title_fontsize=7)
    return fig


def dataset_preview(dataset, n_examples: int = 16, title: str = "dataset", seed: int = 0, *, fig=None) -> Figure:
    """Gallery of training examples beside the coverage map of a SyntheticDataset (trained vs held out)."""
    rng = np.random.default_rng(seed)
    train = dataset.train_index
    pick = np.sort(rng.choice(train, size=min(n_examples, len(train)), replace=False))
    imgs = dataset.render_conditions(pick)
    cols = int(np.ceil(np.sqrt(len(pick))))
    rows = int(np.ceil(len(pick) / cols))
    fig = new_figure(2.0 + 1.3 * cols + 6.0, max(4.2, 1.35 * rows + 0.8), fig)
    outer = fig.add_gridspec(1, 2, width_ratios=[1.3 * cols, 6.0])
    gallery = outer[0].subgridspec(rows, cols)
    for i, idx in enumerate(pick):
        ax = fig.add_subplot(gallery[i // cols, i % cols])
        ax.imshow(imgs[i], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"({dataset.x[idx]:g}, {dataset.y[idx]:g})", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(outer[1])
    coverage_map(ax, dataset.x, dataset.y, dataset.region,
                 title=f"coverage: {len(dataset)} trained of {dataset.n_conditions} conditions",
                 image_size=dataset.image_size)
    fig.suptitle(f"{title}  (examples titled by centre (x, y), px; pixel range [-1, 1]; dashed: the "
                 f"{dataset.image_size} x {dataset.image_size} frame)", fontsize=9)
    return root_figure(fig)



def training_loss(loss, title: str | None = None, checkpoints=None, *, ax=None) -> Figure:
    """Training loss per optimiser step (light) with its running mean (dark); checkpoints as ticks on top.

    ``loss``: ``open_run(path).loss`` (variable ``loss`` over dim ``step``) or the DataArray.
    """
    da = loss["loss"] if isinstance(loss, xr.Dataset) else loss
    if "step" not in da.dims or da.sizes["step"] == 0:
        raise FigureDataError("training loss: the run has no recorded loss steps yet (train it first)")
    steps, values = da["step"].values, np.asarray(da.values, dtype=np.float64)
    window = max(1, len(values) // 50)
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    fig, ax, own = single_axes(ax, 7.0, 4.0)
    ax.plot(steps, values, color="#a0a0a0" if window > 1 else "k", lw=0.6 if window > 1 else 1.5, label="per step")
    if window > 1:
        ax.plot(steps[window - 1:], smooth, color="k", lw=1.5, label=f"running mean ({window} steps)")
    if checkpoints is not None and len(checkpoints):
        for s in np.asarray(checkpoints):
            ax.axvline(s, color="#9467bd", lw=0.6, ls=":", alpha=0.8)
        ax.plot([], [], color="#9467bd", lw=0.6, ls=":", label="checkpoints")
    if np.all(values > 0) and values.max() / values.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (MSE of predicted noise)")
    last = float(np.mean(values[-window:]))
    ax.set_title(title or f"training loss (final {last:.4g}" + (f", mean of the last {window} steps)" if window > 1
                                                                else ")"))
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    return fig
