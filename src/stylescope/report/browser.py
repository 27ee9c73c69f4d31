"""Open a report in headless Chromium: screenshot it, check its images and its console.

The report itself has no scripts. To ask the browser whether every image decoded, a temporary copy
gets one inline script that writes each image's natural size into the page title, which
`--dump-dom` then returns. Console messages of the real page come from Chromium's log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PROBE_SCRIPT = """<script>
window.addEventListener("load", function () {
  var sizes = Array.prototype.map.call(document.images, function (img) {
    return [img.complete, img.naturalWidth, img.naturalHeight];
  });
  document.title = "IMAGES" + JSON.stringify(sizes);
});
</script>"""


@dataclass
class BrowserCheck:
    """What the browser saw: image count, how many decoded, console lines, screenshot path."""

    images_total: int
    images_loaded: int
    console_messages: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return self.images_loaded == self.images_total and not self.console_messages


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def check_in_browser(
    html_path: str | os.PathLike,
    screenshot: str | os.PathLike | None = None,
    window: tuple[int, int] = (1280, 2400),
    timeout_s: float = 120,
) -> BrowserCheck:
    """Load `html_path` in headless Chromium; raise RuntimeError when no Chromium is installed."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found; install Debian's 'chromium' package")
    html_path = Path(html_path).resolve()

    with tempfile.TemporaryDirectory(prefix="stylescope-chromium-") as tmp:
        base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile"]

        # Real page: screenshot and console log.
        shot = Path(screenshot).resolve() if screenshot else Path(tmp) / "shot.png"
        run = subprocess.run(
            [
                *base,
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={shot}",
                f"--window-size={window[0]},{window[1]}",
                html_path.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]

        # Probe copy: which images decoded.
        probe = Path(tmp) / "probe.html"
        probe.write_text(
            html_path.read_text(encoding="utf-8").replace("</body>", PROBE_SCRIPT + "</body>"),
            encoding="utf-8",
        )
        dom = subprocess.run(
            [*base, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        ).stdout

    match = re.search(r"<title>IMAGES(.*?)</title>", dom, re.S)
    if match is None:
        raise RuntimeError("Chromium did not report the page's images (page did not load?)")
    sizes = json.loads(match.group(1))
    loaded = sum(1 for complete, w, h in sizes if complete and w > 0 and h > 0)
    return BrowserCheck(
        len(sizes), loaded, console, shot if screenshot and shot.is_file() else None
    )
