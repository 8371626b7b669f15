"""One scope of the HTML report (the PCN, a practice or a unit): plots and their tables.

Every number comes from :func:`healthhub.fleet.report_rows.figures_of`, the rows the CSV
is made of, and is suppressed by the same rule, so the page and the CSV agree. Every text
is escaped: form, page and site ids come from pushed content and enrolment, and a
language code is whatever the unit sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from babel import Locale, UnknownLocaleError

from healthhub.fleet import report_plots
from healthhub.fleet.report_figures import FORM_OUTCOMES, Activity, ReportFigures
from healthhub.fleet.report_plots import Plot
from healthhub.fleet.report_rows import SUPPRESSED, Figure, figures_of, is_share, suppressed

LABELS = {
    "larger_text": "Larger text",
    "high_contrast": "High contrast",
    "read_aloud": "Read aloud",
    "language_change": "Changed language",
    "any": "Any of these",
    "urgent_result": "Urgent result",
    "help_requested": "Help requested",
    "form_action": "Form action",
    "unrecorded": "Not recorded",
}


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def language(code: str) -> str:
    """``Polish (pl)``; the code alone if it names no language."""
    if code == "unrecorded":
        return label(code)
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name("en")
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    return f"{name} ({code})" if name else code


def value_text(figure: Figure, *, suppress: bool) -> str:
    """A value for people: a share as a percentage, minutes to one decimal, a dash if none."""
    if suppressed(figure, suppress=suppress):
        return SUPPRESSED
    value = figure.value
    if value is None:
        return "–"
    if is_share(figure):
        return f"{value:.0%}"
    if figure.metric == "uptime_minutes":
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def table(
    caption: str, head: Sequence[str], body: Sequence[Sequence[str]], *, wide: bool = False
) -> str:
    """A table of plain texts (escaped here); the first cell of each row heads the row.
    ``wide``: many columns, so it takes a whole row of the grid."""
    kind = ' class="wide"' if wide else ""
    out = [f"<table{kind}><caption>{escape(caption)}</caption><thead><tr>"]
    out += [f'<th scope="col">{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append(f'<tr><th scope="row">{escape(row[0])}</th>')
        out += [f"<td>{escape(cell)}</td>" for cell in row[1:]]
        out.append("</tr>")
    if not body:
        out.append(f'<tr><td colspan="{len(head)}">None in this period.</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def figure_html(plot: Plot, caption: str, data: str) -> str:
    """A plot and, beside it, its numbers as a table (scrollable, reachable by keyboard);
    ``data`` empty: the numbers are in a table the page already shows (the alt says so)."""
    image = (
        f'<figure><img src="{plot.data_uri}" alt="{escape(plot.alt)}" width="700" '
        f'height="260"><figcaption>{escape(caption)}</figcaption></figure>'
    )
    if not data:
        return f'<div class="pair">{image}</div>'
    return (
        f'<div class="pair">{image}<div class="scroll" role="region" tabindex="0" '
        f'aria-label="{escape(caption)}, as a table">{data}</div></div>'
    )


class Scope:
    """The numbers of one scope, looked up by metric and key, shown or suppressed."""

    def __init__(self, activity: Activity, figures: ReportFigures, *, suppress: bool) -> None:
        self.activity = activity
        self.figures = figures
        self.suppress = suppress
        self.found = {(f.metric, f.key): f for f in figures_of(activity, figures)}

    def __call__(self, metric: str, key: str = "") -> str:
        figure = self.found.get((metric, key))
        return "0" if figure is None else value_text(figure, suppress=self.suppress)

    def keyed(self, metric: str) -> list[str]:
        return [key for m, key in self.found if m == metric]


def activity_section(scope: Scope, where: str) -> str:
    """Plots per day and per hour with their tables, then the tables of what was used."""
    a, days = scope.activity, scope.figures.period.days()
    by_day = [a.per_day[d] for d in days]
    by_hour = [a.per_hour[h] for h in range(24)]
    day_rows = [[f"{d:%a} {d.isoformat()}", str(n)] for d, n in zip(days, by_day, strict=True)]
    hour_rows = [[f"{h:02d}:00–{h:02d}:59", str(n)] for h, n in enumerate(by_hour)]
    parts = [
        figure_html(
            report_plots.sessions_per_day(days, by_day, where),
            f"Visits per day at {where}",
            table("Visits per day", ["Day", "Visits"], day_rows),
        ),
        figure_html(
            report_plots.sessions_per_hour(by_hour, where),
            f"Visits by hour of day at {where}",
            table("Visits by hour (London time)", ["Hour", "Visits"], hour_rows),
        ),
        '<div class="grid">',
        *tables(scope),
        "</div>",
    ]
    return "".join(parts)


def tables(s: Scope) -> list[str]:
    visits = [
        ["Visits", s("sessions")],
        ["Days with visits", s("days_open")],
        ["Visits per day with visits", s("sessions_per_day_open")],
        ["Median minutes", s("session_minutes", "median")],
        ["Mean minutes", s("session_minutes", "mean")],
        [
            "Identified (readings sent to the GP record, or a form with the patient's details)",
            s("identity", "identified"),
        ],
        ["Anonymous", s("identity", "anonymous")],
        ["With a form sent", s("sessions_with_form_sent")],
    ] + [[f"Ended: {label(k)}", s("session_end_reason", k)] for k in s.keyed("session_end_reason")]
    if s.activity.refused_tallies:
        visits.append(["Usage tallies refused", s("usage_tallies_refused")])
    forms = [[f, *(s(f"form_{o}", f) for o in FORM_OUTCOMES)] for f in s.keyed("form_started")]
    abandoned = [
        [*k.split("/", 1), s("form_abandoned_at", k)] for k in s.keyed("form_abandoned_at")
    ]
    ack = [
        [what, s(metric, "median"), s(metric, "p90"), s(metric, "unacknowledged")]
        for what, metric in (
            ("All patient alerts", "alert_ack_minutes"),
            ("Urgent results", "urgent_ack_minutes"),
            ("Form actions (PHQ-9 item 9)", "form_action_ack_minutes"),
            ("Help requests", "help_requested_ack_minutes"),
        )
    ]
    ack_more = [
        ["Escalated (not acknowledged in time)", s("alerts_escalated")],
        ["Median minutes from the unit to the practice", s("alert_delivery_minutes", "median")],
        ["Unit health alerts for IT (not counted above)", s("unit_health_alerts")],
    ]
    uptime = [
        ["Online", s("uptime_minutes", "online")],
        ["Offline", s("uptime_minutes", "offline")],
        ["Unknown", s("uptime_minutes", "unknown")],
        ["Outages", s("outages")],
        ["Availability (of known minutes)", s("availability")],
    ]
    reasons = sorted({"urgent_result", "help_requested", "form_action", *s.keyed("alerts")})
    return [
        table("Visits", ["", "Number"], visits),
        _by_key(s, "Readings by kind", ("Kind", "Readings"), "readings"),
        table("Forms", ["Form", *(label(o) for o in FORM_OUTCOMES)], forms, wide=True),
        table("Where forms were abandoned", ["Form", "Page", "Visits"], abandoned),
        _by_key(s, "Submissions by kind", ("Kind", "Submissions"), "submissions"),
        _by_key(s, "Languages chosen", ("Language", "Visits"), "language", name=language),
        _by_key(s, "Accessibility features used", ("Feature", "Visits"), "accessibility"),
        _by_key(s, "Alerts", ("Reason", "Alerts"), "alerts", keys=reasons),
        _by_key(s, "Alert levels", ("Level", "Alerts"), "alert_level"),
        table("Minutes to acknowledge", ["", "Median", "90th percentile", "Not acknowledged"], ack),
        table("Alerts reaching staff", ["", "Number"], ack_more),
        table("Minutes online", ["State", "Minutes"], uptime),
    ]


def _by_key(
    s: Scope,
    caption: str,
    head: Sequence[str],
    metric: str,
    *,
    keys: Sequence[str] | None = None,
    name: Callable[[str], str] = label,
) -> str:
    """A table of one metric's keys (all of them found, or ``keys``) and their values."""
    return table(caption, head, [[name(k), s(metric, k)] for k in keys or s.keyed(metric)])
