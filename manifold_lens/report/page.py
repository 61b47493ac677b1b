"""The report directory: which files an earlier report wrote (its manifest), and the index page."""

from __future__ import annotations

import datetime as _dt
import html
import json
from pathlib import Path

from ..errors import ManifoldLensError
from .plan import SECTIONS
from .sources import Sources, as_list

MANIFEST = "report.json"
INDEX = "index.html"
REPORT_SCHEMA = "manifold-lens.report"


def now() -> str:
    """The local time, ISO 8601, to the second."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _previous_report_files(out: Path) -> set[str] | None:
    """The files an earlier report in ``out`` wrote (from its manifest), or None when there is none."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("schema") != REPORT_SCHEMA:
        return None
    if manifest.get("partial"):  # a report killed while writing: every file but those there before it is its own
        others = {str(n) for n in manifest.get("others", [])}
        return {p.name for p in out.iterdir() if p.is_file() and p.name not in others} | {INDEX, MANIFEST}
    files = {INDEX, MANIFEST}
    for fig in manifest.get("figures", []):
        files.update(str(f) for f in fig.get("files", {}).values())
    return {f for f in files if "/" not in f and f not in ("", ".", "..")}


def prepare_out(out, replace: bool = False) -> Path:
    """Make ``out`` ready for a report; refuse a directory holding other files unless ``replace``.

    A partial ``report.json`` (``partial``: true, the files there before) marks the directory until the report's
    own manifest replaces it, so a report killed while writing is recognised, and resumed, by its rerun.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ManifoldLensError(f"out = {out}: is a file; give a directory for the report")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ManifoldLensError(f"out = {out}: {parent} is a file, not a directory; give a directory for the report")
    if out.exists():
        ours = _previous_report_files(out) or set()
        foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if foreign and not replace:
            raise ManifoldLensError(f"out = {out}: holds files that are not a manifold-lens report (e.g. "
                                    f"{foreign[0]}); give a new or empty directory, or pass replace=True")
        for name in ours:
            p = out / name
            if p.is_file():
                p.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
        others = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
        (out / MANIFEST).write_text(json.dumps({"schema": REPORT_SCHEMA, "partial": True, "others": others}))
    except OSError as e:
        raise ManifoldLensError(f"out = {out}: cannot be written ({e.strerror}); give a directory you can write"
                                ) from None
    return out


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0.2em} .meta{color:#666;font-size:0.9em} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:0.92em} th{background:#f3f3f3}
figure{margin:1.5em 0;padding-bottom:1em;border-bottom:1px solid #eee} img{max-width:100%;height:auto}
figcaption{font-size:0.92em;color:#333;margin-top:0.4em} .skipped{color:#8a4b00} code{background:#f5f5f5}"""


def index_html(report, sources: Sources, paths) -> str:
    """The index page: key numbers, then each section's figures with captions (or skip reasons), all escaped."""
    e = html.escape
    parts = [(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>manifold-lens report</title>"
              f"<style>{_CSS}</style></head><body>"),
             "<h1>manifold-lens report</h1>",
             f"<p class='meta'>Created {e(now())} from "
             + ", ".join(f"<code>{e(str(p))}</code>" for p in as_list(paths))
             + ("; runs: " + ", ".join(f"<code>{e(r)}</code>" for r in sorted(sources.runs)) if sources.runs else "")
             + f". {len(report.rendered)} figures, {len(report.skipped)} skipped. Click a figure for its PDF.</p>"]
    if sources.unfinished or sources.skipped_groups:
        parts.append("<h2>Unfinished results</h2><ul class='skipped'>" + "".join(
            f"<li><code>{e(g.label(len(sources.stores) > 1))}</code>: drawn from its committed checkpoints only, "
            "not final; rerun the same command to finish it</li>" for g in sources.unfinished) + "".join(
            f"<li><code>{e(where)}</code>: left out, {e(why)}</li>" for where, why in sources.skipped_groups.items())
            + "</ul>")
    parts.append("<h2>Key numbers</h2>")
    if report.key_numbers:
        refs = any(k.references for k in report.key_numbers)
        head = "<th>quantity</th><th>value</th>" + ("<th>references (same grid, layer, t)</th>" if refs else "")
        parts.append(f"<table><tr>{head}<th>from</th></tr>" + "".join(
            f"<tr><td>{e(k.quantity)}</td><td><b>{e(k.value)}</b></td>"
            + (f"<td>{e(k.references)}</td>" if refs else "") + f"<td>{e(k.source)}</td></tr>"
            for k in report.key_numbers) + "</table>")
    else:
        parts.append("<p class='skipped'>No evaluation, analysis or percolation results given.</p>")
    toc = [s for s in SECTIONS if any(f.section == s for f in report.figures)]
    parts.append("<p>" + " · ".join(f"<a href='#{s.lower()}'>{s}</a>" for s in toc) + "</p>")
    for section in toc:
        parts.append(f"<h2 id='{section.lower()}'>{section}</h2>")
        for f in report.figures:
            if f.section != section:
                continue
            parts.append(figure_html(f))
    parts.append("</body></html>")
    return "\n".join(parts)


def figure_html(f) -> str:
    """One figure with its caption and file links, or the reason it was skipped (escaped)."""
    e = html.escape
    if f.skipped:
        return f"<p class='skipped' id='{e(f.stem)}'><b>{e(f.title)}</b>: skipped: {e(f.skipped)}</p>"
    links = " · ".join(f"<a href='{e(name)}'>{fmt.upper()}</a>" for fmt, name in f.files.items())
    target = f.files.get("pdf", f.files["png"])
    return (f"<figure id='{e(f.stem)}'><a href='{e(target)}'><img src='{e(f.files['png'])}' alt='{e(f.title)}' "
            f"loading='lazy'></a><figcaption><b>{e(f.title)}.</b> {e(f.caption)} <span class='meta'>({links})"
            "</span></figcaption></figure>")


def study_index_html(report, study, table) -> str:
    """The index page of a study report: what the study is, its runs (a table with links to the runs' own
    reports) and its figures with captions (or skip reasons), all escaped."""
    e = html.escape
    head, rows = table
    attrs = study.attrs
    stages = "; ".join(f"{k}: {json.dumps(v, sort_keys=True) if v is not None else 'off'}"
                       for k, v in (attrs.get("stages") or {}).items())
    counts = {}
    for s in study["status"].values:
        counts[str(s)] = counts.get(str(s), 0) + 1
    parts = [(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>study {e(str(attrs.get('study', '')))}"
              f"</title><style>{_CSS}</style></head><body>"),
             f"<h1>Study {e(str(attrs.get('study', '')))}</h1>",
             f"<p class='meta'>Created {e(now())} from <code>{e(str(attrs.get('study_dir', '')))}</code> (study file "
             f"<code>{e(str(attrs.get('source', '')))}</code>, collected with manifold_lens.open_study). "
             f"{len(rows)} runs: " + ", ".join(f"{n} {e(s)}" for s, n in counts.items())
             + f". {len(report.rendered)} figures, {len(report.skipped)} skipped.</p>"]
    if stages:
        parts.append(f"<p class='meta'>Stages: {e(stages)}</p>")
    for note in attrs.get("notes", []):
        parts.append(f"<p class='skipped'>{e(str(note))}</p>")
    parts.append("<h2 id='runs'>Runs</h2><table id='runs-table'><tr>" + "".join(f"<th>{e(h)}</th>" for h in head)
                 + "</tr>")
    for row in rows:
        *cells, link = row
        parts.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells)
                     + (f"<td><a href='{e(link)}'>report</a></td>" if link else "<td>-</td>") + "</tr>")
    parts.append("</table>")
    parts.append("<h2 id='study'>Figures</h2>")
    parts += [figure_html(f) for f in report.figures]
    parts.append("</body></html>")
    return "\n".join(parts)
