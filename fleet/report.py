"""The utilisation and equity report, under the name the practice dashboard imports.

``healthhub.fleet.report.render_html(store, registry, start=..., end=...)`` is
:func:`healthhub.fleet.report_render.render_html`; the figures are made in
:mod:`healthhub.fleet.report_figures`.
"""

from __future__ import annotations

from healthhub.fleet.report_figures import ReportFigures, gather
from healthhub.fleet.report_render import html_of, render_html, write_csv

__all__ = ["ReportFigures", "gather", "html_of", "render_html", "write_csv"]
