"""Self-contained HTML reports built from what any stylescope command wrote.

Commands record what they produced in a `report.jsonl` manifest beside their outputs
(`manifest.add_figure`, `manifest.add_table`); `html.build_report` gathers every manifest under a
folder and writes one HTML file with the figures embedded, so it opens anywhere without network.
"""

from stylescope.report.html import build_report
from stylescope.report.manifest import add_figure, add_table, read_manifests

__all__ = ["add_figure", "add_table", "build_report", "read_manifests"]
