"""Report manifests, the HTML page, the report command, and the page in a real browser."""

from __future__ import annotations

import re

import numpy as np
import pytest

from stylescope.cli import main
from stylescope.report import add_figure, add_table, build_report, read_manifests
from stylescope.report.browser import check_in_browser, find_chromium
from stylescope.visual import save_png


def _run_dir(tmp_path):
    run = tmp_path / "run"
    save_png(np.full((8, 8, 3), 200, np.uint8), run / "samples" / "grid.png")
    add_figure(run / "samples", "Generator", "grid.png", "Samples", "16 seeds, psi 1 (N=16).")
    add_table(
        run / "prune",
        "Pruning",
        "MACs",
        ["network", "MMAC"],
        [["dense", 254.0], ["30%", 23.1]],
        "MACs at batch 1 counted with torch.utils.flop_counter.",
    )
    return run


def test_figures_given_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = "run/sub"  # A relative output folder, as commands get from --out.
    save_png(np.full((8, 8, 3), 90, np.uint8), f"{out}/fig.png")
    add_figure(out, "Generator", f"{out}/fig.png", "Working-folder path", "caption")
    add_figure(out, "Generator", "fig.png", "Folder-relative path", "caption")
    assert [e["image"] for e in read_manifests("run")] == ["fig.png", "fig.png"]
    page = build_report("run").read_text()
    assert page.count("data:image/png;base64") == 2
    with pytest.raises(ValueError, match="outside the report folder"):
        add_figure(out, "Generator", tmp_path / "elsewhere.png", "X", "caption")


def test_manifest_round_trip_and_validation(tmp_path):
    run = _run_dir(tmp_path)
    entries = read_manifests(run)
    assert {e["kind"] for e in entries} == {"figure", "table"}
    with pytest.raises(ValueError, match="caption"):
        add_figure(run, "Generator", "x.png", "X", " ")
    with pytest.raises(ValueError, match="cells"):
        add_table(run, "Pruning", "T", ["a", "b"], [[1]], "caption")
    (run / "report.jsonl").write_text("{not json\n")
    assert len(read_manifests(run)) == 2  # the malformed line is skipped


def test_html_is_self_contained(tmp_path):
    run = _run_dir(tmp_path)
    page = build_report(run).read_text()
    assert page.count('src="data:image/png;base64,') == 1
    assert "<table>" in page and "dense" in page and "N=16" in page
    assert not re.search(r"(src|href)=\"(https?:|//)", page)
    assert "<script" not in page and "<link" not in page
    assert page.index("<h2>Generator</h2>") < page.index("<h2>Pruning</h2>")


def test_report_command(tmp_path, capsys):
    run = _run_dir(tmp_path)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").is_file()
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_report_opens_in_headless_chromium(tmp_path):
    run = _run_dir(tmp_path)
    page = build_report(run)
    check = check_in_browser(page, tmp_path / "screenshot.png", window=(800, 600))
    assert check.images_total == 1 and check.images_loaded == 1
    assert check.console_messages == []
    assert check.screenshot is not None and check.screenshot.stat().st_size > 1000


@pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")
def test_browser_check_catches_broken_images_and_console_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<script>console.error("boom")</script></body></html>'
    )
    check = check_in_browser(page, window=(400, 300))
    assert check.images_total == 1 and check.images_loaded == 0
    assert any("boom" in line for line in check.console_messages)
    assert not check.ok
