"""``healthhub-fleet report``: the utilisation and equity report, as HTML and a tidy CSV.

healthhub-fleet report --store STORE --out report.html [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                       [--site S ...] [--fleet DIR] [--no-suppress-small]

Dates are whole days in London time; without them the report covers the last 28 days,
today included. The CSV is written beside the HTML with the same name (report.csv).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from healthhub.fleet.control_cli import fleet_layout
from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.report_figures import LONDON, gather
from healthhub.fleet.report_practices import PracticesInvalid, read_practices
from healthhub.fleet.store import open_readonly
from healthhub.fleet.store_db import store_target
from healthhub.protocol.files import write_atomic

DEFAULT_DAYS = 28
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def local_date(text: str) -> date:
    """A YYYY-MM-DD argument (argparse exits 2 with this message if it is not one)."""
    if not _DATE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day of the calendar") from None


def add_parsers(sub: Any) -> None:
    """The ``report`` parser, added to ``healthhub-fleet``'s sub-commands."""
    report = sub.add_parser(
        "report",
        help="utilisation and equity of access per practice and unit (HTML + CSV)",
        description="Visits per day and hour, readings by kind, forms, languages, "
        "accessibility, identified and anonymous visits, alerts and time to acknowledge, "
        "and each unit's minutes online, per practice and unit, with a comparison between "
        "practices: one self-contained HTML page (plots with their numbers in tables) and "
        "the same numbers as tidy CSV rows (scope,site,device,metric,key,value) beside it. "
        "Days and hours are London time. Made from counts only: never a patient's identity, "
        "answers or reading values.",
    )
    report.add_argument(
        "--store", type=store_target, required=True,
        help="the practice store: a SQLite file or a postgresql:// URL",
    )  # fmt: skip
    report.add_argument(
        "--out", type=Path, required=True, help="the HTML file; the CSV goes beside it (.csv)"
    )
    report.add_argument(
        "--from", dest="start", type=local_date, metavar="YYYY-MM-DD",
        help=f"first day (London time); default: {DEFAULT_DAYS} days before --to",
    )  # fmt: skip
    report.add_argument(
        "--to", dest="end", type=local_date, metavar="YYYY-MM-DD",
        help="last day, included (London time); default: today",
    )  # fmt: skip
    report.add_argument(
        "--site", dest="sites", action="append", metavar="SITE",
        help="only this practice (repeat for more); PCN totals are then of those shown",
    )  # fmt: skip
    report.add_argument(
        "--fleet", type=Path, help="the fleet folder: lists every enrolled unit, used or not"
    )
    report.add_argument(
        "--practices", type=Path, metavar="FILE",
        help="YAML of each site's registered list size (and name): adds visits and identified "
        "visits per 1,000 registered patients to the comparison",
    )  # fmt: skip
    report.add_argument(
        "--suppress-small",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show counts 1-4 per practice and unit as <5 (default: on; the footer says which)",
    )


def period(start: date | None, end: date | None, *, today: date) -> tuple[date, date]:
    """The days asked for, or the last :data:`DEFAULT_DAYS` days up to ``end`` or today."""
    last = end or today
    return (start or last - timedelta(days=DEFAULT_DAYS - 1)), last


def report(args: argparse.Namespace) -> int:
    start, end = period(args.start, args.end, today=datetime.now(LONDON).date())
    if start > end:
        print(f"healthhub-fleet report: --from {start} is after --to {end}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.suffix.lower() == ".csv":
        print("healthhub-fleet report: --out names the HTML file (report.html)", file=sys.stderr)
        return 2
    try:
        practices = read_practices(args.practices) if args.practices else None
    except PracticesInvalid as exc:
        print(f"healthhub-fleet report: {exc}", file=sys.stderr)
        return 2
    registry = DeviceRegistry(fleet_layout(args.fleet)) if args.fleet else None
    store = open_readonly(args.store)
    try:
        sites = set(args.sites) if args.sites else None
        figures = gather(
            store, start=start, end=end, sites=sites, registry=registry, practices=practices
        )
    finally:
        store.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.with_suffix(".csv")
    # matplotlib takes about a second to import: only the report pays for it, not every
    # healthhub-fleet command (the bridge starts with the same program)
    from healthhub.fleet.report_render import html_of, write_csv

    write_atomic(out, html_of(figures, suppress_small=args.suppress_small).encode("utf-8"))
    write_csv(figures, csv_path, suppress_small=args.suppress_small)
    summary = {
        "html": str(out),
        "csv": str(csv_path),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "sites": len(figures.sites),
        "units": sum(len(site.devices) for site in figures.sites.values()),
        "visits": figures.pcn.sessions,
    }
    print(json.dumps(summary))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"report": report}
