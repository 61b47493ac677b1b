"""What a report writes: the :class:`Report` it returns, and each figure saved as PNG (and PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .figures import FigureDataError
from .numbers import KeyNumber
from .plan import FigureEntry


@dataclass
class Report:
    out: Path
    index: Path
    figures: list[FigureEntry]
    key_numbers: list[KeyNumber]
    unfinished: dict = field(default_factory=dict)       # "kind/name in store" -> "unfinished: 3 of 5 checkpoints"
    skipped_results: dict = field(default_factory=dict)  # "kind/name in store" -> why it is left out

    @property
    def rendered(self) -> list[FigureEntry]:
        return [f for f in self.figures if not f.skipped]

    @property
    def skipped(self) -> list[FigureEntry]:
        return [f for f in self.figures if f.skipped]


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def save_figure(job, out: Path, dpi: int, formats) -> None:
    """Draw ``job`` and save it in each format into ``out`` (its entry records the files), or record why not."""
    e = job.entry
    try:
        fig = job.draw()
    except FigureDataError as err:
        e.skipped = str(err)
        return
    except Exception as err:  # noqa: BLE001 -- a figure must never take the report down; say what broke
        e.skipped = f"could not be drawn ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        return
    for k, fmt in enumerate(formats):
        name = f"{e.stem}.{fmt}"
        fig.savefig(out / name, dpi=dpi, format=fmt, metadata=_metadata(fmt, e.title))
        e.files[fmt] = name
        if k == 0:  # the layout is set by the first save; keep it instead of solving it again
            fig.set_layout_engine("none")
    e.size_px = _png_size(out / e.files["png"])


def _metadata(fmt: str, title: str) -> dict:
    return {"Title": title, "Creator" if fmt == "pdf" else "Software": "manifold-lens"}
