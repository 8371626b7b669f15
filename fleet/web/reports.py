"""The reports page: the utilisation report of :mod:`healthhub.fleet.report`, for a period
and the sites the account may see, embedded in the page.

The report is its own HTML document (its own styles), served at ``/reports/view`` with a
content security policy of its own: no script at all, a sandbox, framed only by the
dashboard. The figures are gathered with the store held; the page (matplotlib, the slow
part) is drawn after it is let go, so acknowledging an alert never waits for a report.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, make_response, render_template, request
from werkzeug.wrappers import Response

from healthhub.fleet.report_cli import period
from healthhub.fleet.report_figures import LONDON, ReportError, ReportFigures, gather
from healthhub.fleet.report_render import html_of
from healthhub.fleet.report_rows import csv_text
from healthhub.fleet.web.auth import allowed
from healthhub.fleet.web.context import dashboard
from healthhub.fleet.web.guard import login_required
from healthhub.fleet.web.views import me

log = logging.getLogger("healthhub.fleet.web")
blueprint = Blueprint("reports", __name__)

MAX_DAYS = 366
REPORT_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox"
)


def _period(args: Any) -> tuple[date, date]:
    """The days asked for, else the CLI's default (the last 28 days, London time)."""
    try:
        start, end = (
            date.fromisoformat(args[key]) if args.get(key) else None for key in ("start", "end")
        )
    except ValueError:
        abort(400, "Dates must be written as YYYY-MM-DD.")
    start, end = period(start, end, today=datetime.now(LONDON).date())
    if end < start:
        abort(400, "The period ends before it starts.")
    if (end - start).days >= MAX_DAYS:
        abort(400, f"A report covers at most {MAX_DAYS} days.")
    return start, end


def _choosable_sites() -> list[str]:
    account = me()
    if account.role == "fleet_admin":
        return sorted(set(dashboard().registry.devices().values()))
    return list(account.sites)


def _sites(chosen: str) -> set[str] | None:
    """The sites to report: the one chosen (if allowed), else all of the account's."""
    account = me()
    if chosen:
        if not allowed(account, "view", chosen):
            abort(404)
        return {chosen}
    return None if account.role == "fleet_admin" else set(account.sites)


@blueprint.get("/reports")
@login_required
def reports() -> str:
    start, end = _period(request.args)
    site = request.args.get("site", "")
    _sites(site)  # refuses a site the account may not see
    return render_template(
        "reports.html",
        start=start.isoformat(),
        end=end.isoformat(),
        site=site,
        sites=_choosable_sites(),
        page="reports",
    )


def _figures() -> ReportFigures:
    """The figures for the period and sites asked for, within what the account may see."""
    start, end = _period(request.args)
    sites = _sites(request.args.get("site", ""))
    state = dashboard()
    try:
        with state.store.use() as store:
            return gather(store, start=start, end=end, sites=sites, registry=state.registry)
    except ReportError as exc:
        abort(400, str(exc))


@blueprint.get("/reports.csv")
@login_required
def report_csv() -> Response:
    """The same figures as tidy CSV rows (what ``healthhub-fleet report`` writes beside the
    page), small numbers suppressed, to download."""
    figures = _figures()
    response = make_response(csv_text(figures))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"healthhub-report-{figures.period.start}-{figures.period.end}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@blueprint.get("/reports/view")
@login_required
def report_view() -> Response:
    html = html_of(_figures())
    response = make_response(html)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = REPORT_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
