"""Render manifest entries as one self-contained HTML page: inline CSS, images as data URIs,
no scripts or fonts from elsewhere."""

from __future__ import annotations

import base64
import html
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stylescope import __version__
from stylescope.report.manifest import read_manifests

log = logging.getLogger(__name__)

# Section order of the study; sections not listed follow in alphabetical order.
SECTION_ORDER = [
    "Generator",
    "Training",
    "Weights",
    "Pruning",
    "Latent space",
    "Editing",
    "Metrics",
    "Security",
]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222;
       line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.7rem; } h2 { border-bottom: 1px solid #ccc; margin-top: 2.5rem; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; image-rendering: pixelated;
       border: 1px solid #ddd; }
figcaption, .caption { font-size: 0.9rem; color: #444; margin-top: 0.4rem; }
table { border-collapse: collapse; font-size: 0.9rem; margin-top: 0.5rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.meta { color: #666; font-size: 0.85rem; }
"""


def build_report(
    run_dir: str | os.PathLike, out_path: str | os.PathLike | None = None, title: str = ""
) -> Path:
    """Write `report.html` (or `out_path`) for every manifest entry under `run_dir`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such folder")
    entries = read_manifests(run_dir)
    out_path = Path(out_path) if out_path is not None else run_dir / "report.html"
    title = title or f"stylescope report: {run_dir.name}"

    # Group by section, in study order.
    sections: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        sections.setdefault(entry["section"], []).append(entry)
    known = [s for s in SECTION_ORDER if s in sections]
    names = known + sorted(s for s in sections if s not in SECTION_ORDER)

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">Built {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by stylescope '
        f"{__version__} from {len(entries)} entries under {html.escape(str(run_dir))}.</p>",
    ]
    if not entries:
        parts.append("<p>No command under this folder recorded figures or tables.</p>")
    for name in names:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        for entry in sorted(sections[name], key=lambda e: e.get("order", 0)):
            render = _figure if entry["kind"] == "figure" else _table
            parts.append(render(entry))
    parts.append("</body></html>")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(parts), encoding="utf-8")
    log.info("wrote %s (%d entries)", out_path, len(entries))
    return out_path


def _figure(entry: dict[str, Any]) -> str:
    path = Path(entry["base"]) / entry["image"]
    caption = html.escape(entry["caption"])
    heading = f"<h3>{html.escape(entry['title'])}</h3>"
    if not path.is_file():
        log.warning("figure %s is missing", path)
        return f"{heading}<p class=caption>(missing figure {html.escape(str(path))}) {caption}</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(entry["title"])
    return (
        f'<figure>{heading}<img alt="{alt}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _table(entry: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in entry["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in entry["rows"]
    )
    return (
        f"<h3>{html.escape(entry['title'])}</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table><p class=caption>{html.escape(entry['caption'])}</p>"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
