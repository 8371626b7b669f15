"""The report's figures as tidy rows: ``scope,site,device,metric,key,value``.

One row per number, so a PCN analyst can pivot them (a spreadsheet, pandas, R). The same
rows make the HTML report's tables, so the page and the CSV beside it say the same thing
and small numbers are suppressed in one place (:func:`shown`). Scopes: ``report`` (the
period, time zone and whether small numbers are suppressed), ``pcn`` (every site
reported), ``site`` and ``device``. Values: counts; minutes to one decimal; shares from 0
to 1 to four decimals; empty where there is nothing to measure (a median of no visits);
``<5`` for a suppressed count or a share made from one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from healthhub.fleet.report_figures import (
    ACCESSIBILITY,
    FORM_OUTCOMES,
    TIME_ZONE,
    Activity,
    ReportFigures,
    is_small,
)
from healthhub.protocol.clock import format_utc
from healthhub.protocol.files import write_atomic

COLUMNS = ("scope", "site", "device", "metric", "key", "value")
#: Clinical alert reasons with their own time to acknowledge, besides urgent results
#: (``{reason}_ack_minutes``): PHQ-9 item 9 and other form actions, help requests.
ACK_REASONS = ("form_action", "help_requested")
SUPPRESSED = "<5"

Number = int | float | None


class Figure(NamedTuple):
    """One number of a scope; ``guard`` is the count that decides suppression, if any."""

    metric: str
    key: str
    value: Number
    guard: int | None = None


class Row(NamedTuple):
    scope: str
    site: str
    device: str
    metric: str
    key: str
    value: str


def suppressed(figure: Figure, *, suppress: bool) -> bool:
    """Whether small-number suppression hides this value (its guard is 1 to 4)."""
    return suppress and figure.guard is not None and is_small(figure.guard)


def is_share(figure: Figure) -> bool:
    """A fraction (0 to 1): shares, the form completion rate and availability."""
    return figure.metric.startswith(("share_", "form_completion", "availability"))


def shown(figure: Figure, *, suppress: bool) -> str:
    """The value as the CSV shows it: ``<5`` where a small count must not be shown."""
    if suppressed(figure, suppress=suppress):
        return SUPPRESSED
    value = figure.value
    if value is None:
        return ""
    if isinstance(value, float):
        decimals = 4 if is_share(figure) else 1
        return f"{value:.{decimals}f}"
    return str(value)


def figures_of(activity: Activity, figures: ReportFigures) -> list[Figure]:
    """Every number of one scope, exact; ``guard`` marks what suppression may hide."""
    a = activity
    found = [Figure("sessions", "", a.sessions)]
    found += [
        Figure("sessions_per_day", d.isoformat(), a.per_day[d]) for d in figures.period.days()
    ]
    found += [Figure("sessions_per_hour", f"{h:02d}", a.per_hour[h]) for h in range(24)]
    found += [Figure("session_end_reason", k, n) for k, n in sorted(a.end_reasons.items())]
    found += [
        Figure("session_minutes", "median", a.median_minutes),
        Figure("session_minutes", "mean", a.mean_minutes),
    ]
    found += [Figure("readings", kind, n) for kind, n in sorted(a.readings.items())]
    for form in sorted({form for form, _ in a.forms}):
        found += [Figure(f"form_{o}", form, a.forms[form, o], a.forms[form, o])
                  for o in FORM_OUTCOMES]  # fmt: skip
    found += [
        Figure("form_abandoned_at", f"{form}/{page}", n, n)
        for (form, page), n in sorted(a.abandoned_at.items())
    ]
    found += [Figure("submissions", kind, n, n) for kind, n in sorted(a.submissions.items())]
    found += [Figure("language", code, n, n) for code, n in sorted(a.languages.items())]
    found += [Figure("accessibility", k, a.accessibility[k], a.accessibility[k])
              for k in ACCESSIBILITY]  # fmt: skip
    found += [
        Figure("identity", "identified", a.identified, a.identified),
        Figure("identity", "anonymous", a.anonymous, a.anonymous),
        Figure("sessions_with_form_sent", "", a.sessions_with_form_sent, a.sessions_with_form_sent),
        Figure("usage_tallies_refused", "", a.refused_tallies),
    ]
    found += [Figure("alerts", reason, n, n) for reason, n in sorted(a.alerts.items())]
    found += [Figure("alert_level", level, n, n) for level, n in sorted(a.alert_levels.items())]
    urgent = a.alerts["urgent_result"]
    found += [Figure("urgent_results", "", urgent, urgent)]
    found += [
        Figure("alerts_escalated", "", a.escalated, a.escalated),
        Figure("alert_delivery_minutes", "median", a.delivery_median, len(a.delivery_minutes)),
        Figure("unit_health_alerts", "", a.unit_health_alerts),
    ]
    acks = [("alert_ack_minutes", a.ack), ("urgent_ack_minutes", a.urgent_ack)]
    acks += [(f"{reason}_ack_minutes", a.ack_by_reason[reason]) for reason in ACK_REASONS]
    for metric, ack in acks:
        found += [
            Figure(metric, "median", ack.median, len(ack.minutes)),
            Figure(metric, "p90", ack.p90, len(ack.minutes)),
            Figure(metric, "unacknowledged", ack.unacknowledged, ack.unacknowledged),
        ]
    up = a.uptime
    found += [
        Figure("uptime_minutes", "online", up.online_minutes),
        Figure("uptime_minutes", "offline", up.offline_minutes),
        Figure("uptime_minutes", "unknown", up.unknown_minutes),
        Figure("outages", "", up.outages),
        Figure("availability", "", up.availability),
    ]
    return found + equity_figures(a)


def equity_figures(a: Activity) -> list[Figure]:
    """What the PCN compares between sites; a share is suppressed with its numerator."""
    completed = a.form_count("completed")
    return [
        Figure("days_open", "", a.days_open),
        Figure("sessions_per_day_open", "", a.sessions_per_day_open),
        Figure("share_identified", "", a.share(a.identified, a.sessions), a.identified),
        Figure("share_non_english", "", a.share(a.non_english, a.sessions), a.non_english),
        Figure(
            "share_accessibility",
            "",
            a.share(a.accessibility["any"], a.sessions),
            a.accessibility["any"],
        ),
        Figure("form_completion_rate", "", a.form_completion, completed),
        *_per_thousand(a),
    ]


def _per_thousand(a: Activity) -> list[Figure]:
    """Rates per 1,000 registered patients, where the list size is known (a rate is
    suppressed with its count, like a share)."""
    if a.list_size is None:
        return []
    return [
        Figure("list_size", "", a.list_size),
        Figure("visits_per_1000_registered", "", a.per_thousand(a.sessions), a.sessions),
        Figure("identified_per_1000_registered", "", a.per_thousand(a.identified), a.identified),
    ]


def rows(figures: ReportFigures, *, suppress_small: bool = True) -> Iterator[Row]:
    """Every row of the report: its settings, then the PCN, each site and its devices."""
    period = figures.period
    yield Row("report", "", "", "period", "from", period.start.isoformat())
    yield Row("report", "", "", "period", "to", period.end.isoformat())
    yield Row("report", "", "", "time_zone", "", TIME_ZONE)
    yield Row("report", "", "", "generated_at", "", format_utc(figures.now))
    yield Row("report", "", "", "suppress_small", "", "on" if suppress_small else "off")
    for figure in figures_of(figures.pcn, figures):
        yield Row("pcn", "", "", figure.metric, figure.key, shown(figure, suppress=False))
    for site, site_figures in sorted(figures.sites.items()):
        for figure in figures_of(site_figures.activity, figures):
            value = shown(figure, suppress=suppress_small)
            yield Row("site", site, "", figure.metric, figure.key, value)
        for device, activity in sorted(site_figures.devices.items()):
            for figure in figures_of(activity, figures):
                value = shown(figure, suppress=suppress_small)
                yield Row("device", site, device, figure.metric, figure.key, value)


def csv_text(figures: ReportFigures, *, suppress_small: bool = True) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows(figures, suppress_small=suppress_small))
    return buffer.getvalue()


def write_csv(figures: ReportFigures, path: Path, *, suppress_small: bool = True) -> None:
    """The tidy CSV (UTF-8, RFC 4180 line ends), written atomically."""
    write_atomic(Path(path), csv_text(figures, suppress_small=suppress_small).encode("utf-8"))
