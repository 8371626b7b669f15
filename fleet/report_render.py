"""The utilisation and equity report as one self-contained HTML page, and its CSV (issue 8).

:func:`render_html` is what ``healthhub-fleet report`` and the practice dashboard call: the
figures of :mod:`healthhub.fleet.report_figures` as a page with inline CSS and the plots
embedded as PNG data, each with alt text and its numbers in a table beside it. It opens
with the comparison between practices (equity of access), then the whole PCN, then each
practice and each of its units. :func:`write_csv` writes the same numbers as tidy rows.

Small numbers (1 to 4) are suppressed by default in both, per site and per unit, for
what says something about who came (``report_figures.SUPPRESSION_RULE``); the footer says
whether they were. Nothing that identifies a patient is ever read, so none can be shown.
"""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from healthhub.fleet import report_plots
from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.report_figures import (
    LONDON,
    SUPPRESSION_RULE,
    TIME_ZONE,
    ReportFigures,
    gather,
)
from healthhub.fleet.report_plots import long_date
from healthhub.fleet.report_rows import suppressed, write_csv
from healthhub.fleet.report_sections import Scope, activity_section, figure_html, table
from healthhub.fleet.store import PracticeStore

__all__ = ["html_of", "render_html", "write_csv"]

CSS = """
:root { font-family: system-ui, "Segoe UI", Arial, sans-serif; line-height: 1.45; }
body { margin: 0 auto; max-width: 74rem; padding: 1rem 1.5rem; color: #1a1a1a; background: #fff; }
h1, h2, h3 { line-height: 1.2; }
h2 { border-top: 4px solid #0072B2; padding-top: .6rem; margin-top: 2.5rem; }
h3 { border-top: 1px solid #999; padding-top: .5rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border: 1px solid #999; padding: .2rem .5rem; text-align: right; }
th[scope=row] { text-align: left; font-weight: normal; }
thead th { background: #e8eff6; }
.pair { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; flex: 1 1 30rem; }
img { max-width: 100%; height: auto; }
.scroll { max-height: 17rem; overflow: auto; flex: 0 1 15rem; }
.grid { display: grid; gap: 0 1.5rem; align-items: start;
        grid-template-columns: repeat(auto-fill, minmax(19rem, 1fr)); }
.grid > table { width: 100%; }
.grid > table.wide { grid-column: 1 / -1; justify-self: start; width: auto; }
:focus { outline: 3px solid #E69F00; outline-offset: 2px; }
footer { border-top: 1px solid #999; margin-top: 3rem; font-size: .9rem; }
"""

EQUITY_HEAD = (
    "Practice", "Units", "Visits", "Days with visits", "Visits per day with visits",
    "Identified", "Not in English", "Used accessibility features", "Forms completed",
    "Urgent results", "Median minutes to acknowledge", "Availability",
)  # fmt: skip
EQUITY_CELLS = (
    ("sessions", ""), ("days_open", ""), ("sessions_per_day_open", ""),
    ("share_identified", ""), ("share_non_english", ""), ("share_accessibility", ""),
    ("form_completion_rate", ""), ("urgent_results", ""), ("alert_ack_minutes", "median"),
    ("availability", ""),
)  # fmt: skip
SHARES = {
    "identified": "share_identified",
    "not in English": "share_non_english",
    "accessibility features": "share_accessibility",
    "forms completed": "form_completion_rate",
}


def render_html(
    store: PracticeStore,
    registry: DeviceRegistry | None,
    *,
    start: date,
    end: date,
    sites: set[str] | None = None,
    suppress_small: bool = True,
    now: datetime | None = None,
) -> str:
    """The report for local (London) days ``start``..``end`` of ``sites`` (all if None)."""
    figures = gather(store, start=start, end=end, sites=sites, registry=registry, now=now)
    return html_of(figures, suppress_small=suppress_small)


def html_of(figures: ReportFigures, *, suppress_small: bool = True) -> str:
    """The page for figures already gathered (the CLI writes the CSV from the same)."""
    period = figures.period
    sites = sorted(figures.sites)
    units = sum(len(s.devices) for s in figures.sites.values())
    title = f"Health Hub use and equity of access, {period.start} to {period.end}"
    nav = ['<li><a href="#equity">Equity between practices</a></li>',
           '<li><a href="#pcn">The whole PCN</a></li>']  # fmt: skip
    nav += [f'<li><a href="#{_anchor("site", s)}">Practice {escape(s)}</a></li>' for s in sites]
    parts = [
        f'<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        "<header><h1>Health Hub: use and equity of access</h1>",
        f"<p>{escape(long_date(period.start))} to {escape(long_date(period.end))}, "
        f"London time. {_count(len(sites), 'practice')}, {_count(units, 'unit')}. Made "
        f"{figures.now.astimezone(LONDON):%d %B %Y at %H:%M}.</p>",
        f'<nav aria-label="Contents"><ul>{"".join(nav)}</ul></nav></header><main>',
        _equity(figures, suppress_small),
        '<section id="pcn" aria-labelledby="pcn-h"><h2 id="pcn-h">The whole PCN</h2>',
        activity_section(Scope(figures.pcn, figures, suppress=False), "all practices"),
        "</section>",
        *(_site(figures, site, suppress_small) for site in sites),
        f"</main>{_footer(figures, suppress_small)}</body></html>",
    ]
    return "".join(parts) + "\n"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _anchor(*names: str) -> str:
    return escape("-".join(names), quote=True)


#: With each practice's list size: use relative to the patients who could use it.
RATE_HEAD = ("Registered patients", "Visits per 1,000 registered", "Identified per 1,000")
RATE_CELLS = ("list_size", "visits_per_1000_registered", "identified_per_1000_registered")


def _rates(scope: Scope, given: bool) -> list[str]:
    if not given:
        return []
    if scope.activity.list_size is None:
        return ["unknown"] * len(RATE_CELLS)
    return [scope(metric) for metric in RATE_CELLS]


def _equity(figures: ReportFigures, suppress: bool) -> str:
    sites = sorted(figures.sites)
    given = bool(figures.practices)
    scopes = {s: Scope(figures.sites[s].activity, figures, suppress=suppress) for s in sites}
    rows = [
        [figures.practice_name(site), str(len(figures.sites[site].devices)),
         *(scopes[site](*c) for c in EQUITY_CELLS), *_rates(scopes[site], given)]
        for site in sites
    ]  # fmt: skip
    pcn = Scope(figures.pcn, figures, suppress=False)
    rows.append(["All practices (PCN)", str(sum(len(s.devices) for s in figures.sites.values())),
                 *(pcn(*c) for c in EQUITY_CELLS), *_rates(pcn, given)])  # fmt: skip
    head = (*EQUITY_HEAD, *(RATE_HEAD if given else ()))
    parts = [
        '<section id="equity" aria-labelledby="equity-h">',
        '<h2 id="equity-h">Equity between practices</h2>',
        "<p>Shares are of each practice's visits; forms completed is of forms started."
        + (
            " Rates are per 1,000 patients registered at the practice (the list sizes given)."
            if given
            else " Give the practices' list sizes (--practices) for rates per 1,000 patients."
        )
        + "</p>",
        table("Each practice compared", head, rows),
    ]
    if sites:
        # The PCN as a last group: a reference, and never suppressed, so a chart of small
        # practices whose shares are all suppressed still shows something true.
        groups = [*((s, scopes[s], suppress) for s in sites), ("PCN", pcn, False)]
        names = [name for name, _, _ in groups]

        def plotted(metric: str) -> list[float | None]:
            found = [(scope.found[metric, ""], hide) for _, scope, hide in groups]
            return [
                None if suppressed(f, suppress=hide) or f.value is None else float(f.value)
                for f, hide in found
            ]

        rate = report_plots.per_site(
            names, plotted("sessions_per_day_open"), "visits per day with visits"
        )
        parts.append(figure_html(rate, "Visits per day with visits, by practice", ""))
        series = {name: plotted(metric) for name, metric in SHARES.items()}
        parts.append(
            figure_html(report_plots.shares(names, series), "Shares of visits by practice", "")
        )
    parts.append("</section>")
    return "".join(parts)


def _site(figures: ReportFigures, site: str, suppress: bool) -> str:
    found = figures.sites[site]
    units = []
    for device, activity in sorted(found.devices.items()):
        s = Scope(activity, figures, suppress=suppress)
        units.append([device, s("sessions"), str(sum(activity.readings.values())),
                      s("uptime_minutes", "online"), s("uptime_minutes", "offline"),
                      s("uptime_minutes", "unknown"), s("outages"), s("availability")])  # fmt: skip
    head = ("Unit", "Visits", "Readings", "Minutes online", "Minutes offline",
            "Minutes unknown", "Outages", "Availability")  # fmt: skip
    parts = [
        f'<section id="{_anchor("site", site)}" aria-labelledby="{_anchor("h", site)}">',
        f'<h2 id="{_anchor("h", site)}">Practice {escape(figures.practice_name(site))}</h2>',
        table(f"Units at {site}", head, units),
        activity_section(Scope(found.activity, figures, suppress=suppress), site),
    ]
    for device, activity in sorted(found.devices.items()):
        parts += [
            f'<section id="{_anchor("unit", site, device)}">',
            f"<h3>Unit {escape(device)} ({escape(site)})</h3>",
            activity_section(Scope(activity, figures, suppress=suppress), f"{device}, {site}"),
            "</section>",
        ]
    parts.append("</section>")
    return "".join(parts)


def _footer(figures: ReportFigures, suppress: bool) -> str:
    now = f"{figures.now.astimezone(LONDON):%d %B %Y %H:%M}"
    notes = [
        f"Days and hours are London time ({TIME_ZONE}: GMT in winter, BST in summer). A "
        "visit is counted when it ended, by the unit's clock; on the day the clocks go "
        "back, 01:00 to 01:59 happens twice and both count in that hour.",
        "Identified: the patient gave their NHS number and date of birth and the visit sent "
        "readings to their GP record or a form carrying those details (the visit's own usage "
        "flag; units from before that flag only say whether readings were sent, so their "
        "visits with forms alone count as anonymous).",
        "Alerts: the patients' alerts (urgent results, form actions such as PHQ-9 item 9, "
        "help requests). Minutes to acknowledge run from the practice receiving an alert; "
        "the minutes from the unit raising it to the practice receiving it are shown apart. "
        "The units' own health alerts, for IT, are counted separately.",
        "Days with visits stand in for days open: the store holds no opening hours.",
        "Availability: minutes online out of the minutes whose state is known, from the "
        "online and offline statuses the bridge received (timed when received). Minutes "
        f"before the first status the bridge saw are unknown; none after {now} are counted.",
        "Minutes to acknowledge: from the bridge receiving an alert to a member of staff "
        "acknowledging it; the 90th percentile is by nearest rank.",
        SUPPRESSION_RULE
        if suppress
        else "Small numbers are NOT suppressed in this report "
        "(--no-suppress-small): do not publish it as it is.",
        "Never in this report: names, NHS numbers, dates of birth, answers to forms or the "
        "values of readings. It is made from counts and kinds in the usage, readings, "
        "submissions and alerts streams and the units' online status.",
    ]
    return (
        "<footer><h2>How these figures are made</h2><ul>"
        + "".join(f"<li>{escape(note)}</li>" for note in notes)
        + "</ul></footer>"
    )
