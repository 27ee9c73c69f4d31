"""The `report.jsonl` manifest: one JSON object per figure or table a command produced.

Each entry names its report section, an order key within the section, a title and a caption that
states what was measured, how, and on how many samples. Figure paths are relative to the manifest's
folder, so a run folder can be moved or archived whole.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_NAME = "report.jsonl"


def _append(out_dir: str | os.PathLike, entry: dict[str, Any]) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / MANIFEST_NAME, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")


def add_figure(
    out_dir: str | os.PathLike,
    section: str,
    image: str | os.PathLike,
    title: str,
    caption: str,
    order: float = 0.0,
) -> None:
    """Record a PNG figure; `image` is a path inside `out_dir`: absolute, relative to the working
    folder (as `out_dir / name` gives when `out_dir` is relative), or relative to `out_dir`."""
    out_dir = Path(out_dir)
    image = Path(image)
    if not image.is_absolute() and image.exists() and not (out_dir / image).exists():
        image = image.resolve()
    if image.is_absolute():
        try:
            relative = image.resolve().relative_to(out_dir.resolve())
        except ValueError as error:
            raise ValueError(f"figure {image} lies outside the report folder {out_dir}") from error
    else:
        relative = image
    if not caption.strip():
        raise ValueError("every figure needs a caption saying what was measured, how, and N")
    entry = {"kind": "figure", "section": section, "title": title, "caption": caption}
    _append(out_dir, entry | {"image": relative.as_posix(), "order": order})


def add_table(
    out_dir: str | os.PathLike,
    section: str,
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    caption: str,
    order: float = 0.0,
) -> None:
    """Record a table of rows (lists of cells, one per column)."""
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(
                f"table {title!r}: a row has {len(row)} cells for {len(columns)} columns"
            )
    if not caption.strip():
        raise ValueError("every table needs a caption saying what was measured, how, and N")
    entry = {"kind": "table", "section": section, "title": title, "caption": caption}
    _append(out_dir, entry | {"columns": columns, "rows": rows, "order": order})


def read_manifests(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every entry of every manifest under `run_dir`, with `base` set to the manifest's folder.

    Malformed lines are skipped with a warning rather than failing the whole report.
    """
    entries = []
    for path in sorted(Path(run_dir).rglob(MANIFEST_NAME)):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if entry.get("kind") not in ("figure", "table") or "section" not in entry:
                    raise ValueError("not a figure or table entry")
            except ValueError as error:
                log.warning("%s:%d: skipped malformed manifest line (%s)", path, number, error)
                continue
            entries.append(entry | {"base": str(path.parent)})
    return entries
