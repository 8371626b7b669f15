"""``healthhub-fleet alerts``: staff see alerts, acknowledge them, and see what escalated.

healthhub-fleet alerts --store STORE [--open] [--site S] [--json] [--watch [--every S]]
healthhub-fleet alerts --store STORE --ack ALERT_ID --by NAME

Escalation itself runs in the bridge (:mod:`healthhub.fleet.alert_escalation`); this lists
its result. Times to acknowledge are from when the practice received the alert.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from healthhub.fleet.store import open_readonly
from healthhub.protocol.clock import now_utc, parse_utc

STATE_WIDTH = 44


def add_parsers(sub: Any) -> None:
    alerts = sub.add_parser(
        "alerts",
        help="alerts from the units (urgent results, help requests, form actions, the units' "
        "own health): list, acknowledge, watch",
        description="Alerts the bridge has filed, newest first: when, where, why, and whether "
        "staff acknowledged them (by whom, after how long) or they escalated. Never who the "
        "patient was or what was answered: that is in the record.",
    )
    alerts.add_argument("--store", required=True, help="the practice store")
    alerts.add_argument("--open", action="store_true", help="only alerts not yet acknowledged")
    alerts.add_argument("--site", help="only this site's alerts")
    alerts.add_argument("--json", action="store_true")
    alerts.add_argument("--watch", action="store_true", help="a live list until Ctrl-C")
    alerts.add_argument("--every", type=float, default=5.0, help="--watch: seconds (5)")
    alerts.add_argument("--ack", metavar="ALERT_ID", help="acknowledge this alert")
    alerts.add_argument("--by", help="--ack: who acknowledges it (a staff name or login)")


def alerts_command(args: argparse.Namespace) -> int:
    if args.ack is not None:
        return acknowledge(args)
    if args.by is not None:
        print("healthhub-fleet alerts: --by goes with --ack", file=sys.stderr)
        return 2
    if args.watch:
        return watch(args)
    found = listed(args)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print("\n".join(alert_lines(found, now_utc())))
    return 0


def acknowledge(args: argparse.Namespace) -> int:
    if not args.by:
        print("healthhub-fleet alerts: --ack needs --by NAME (who acknowledges)", file=sys.stderr)
        return 2
    store = open_readonly(args.store)
    try:
        try:
            alert = store.acknowledge_alert(args.ack, args.by)
        except ValueError as exc:
            print(f"healthhub-fleet alerts: {exc}", file=sys.stderr)
            return 2
    finally:
        store.close()
    if args.json:
        print(json.dumps(alert, indent=2))
    else:
        print("\n".join(alert_lines([alert], now_utc(), summary=False)))
    return 0


def listed(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The alerts ``--open`` and ``--site`` ask for, the store opened for this look only."""
    store = open_readonly(args.store)
    try:
        return store.alerts(open_only=args.open, site=args.site)
    finally:
        store.close()


def watch(args: argparse.Namespace) -> int:
    try:
        while True:
            found = listed(args)
            if args.json:
                print(json.dumps(found, sort_keys=True), flush=True)
            else:
                lines = "\n".join(alert_lines(found, now_utc()))
                print(f"\x1b[H\x1b[2J{now_utc()}  (Ctrl-C to stop)\n{lines}", flush=True)
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0


def minutes_between(start: str, end: str) -> float:
    return (parse_utc(end, field="end") - parse_utc(start, field="start")).total_seconds() / 60


def state_of(alert: dict[str, Any], now: str) -> str:
    if alert["acknowledged_at"]:
        after = minutes_between(alert["received_at"], alert["acknowledged_at"])
        return f"acknowledged by {alert['acknowledged_by']} after {after:.1f} min"
    shown = f"OPEN {minutes_between(alert['received_at'], now):.0f} min"
    if alert["escalations"]:
        route = alert.get("route") or {}
        to = ", ".join(route.get("escalate_to") or route.get("notify") or [])
        shown += f", ESCALATED x{alert['escalations']}" + (f" to {to}" if to else "")
    return shown


def alert_lines(found: list[dict[str, Any]], now: str, *, summary: bool = True) -> list[str]:
    """The alerts as a table for people, open ones first, and how quickly staff answered."""
    if not found:
        return ["no alerts"]
    ordered = sorted(found, key=lambda a: a["acknowledged_at"] is not None)
    lines = [f"{'received':<21}{'site/device':<26}{'reason':<15}{'what':<28}{'state':<44}id"]
    for alert in ordered:
        keys = ("form", "action", "measure", "check", "level")
        what = " ".join(str(alert[k]) for k in keys if alert.get(k))
        where = f"{alert['site']}/{alert['device']}"
        lines.append(
            f"{alert['received_at'][:19] + 'Z':<21}{where:<26}{alert['reason']:<15}"
            f"{what:<28}{state_of(alert, now):<{STATE_WIDTH}}{alert['id']}"
        )
    if summary:
        lines.append(summary_line(found))
    return lines


def summary_line(found: list[dict[str, Any]]) -> str:
    acked = [
        minutes_between(a["received_at"], a["acknowledged_at"])
        for a in found
        if a["acknowledged_at"]
    ]
    open_ = [a for a in found if not a["acknowledged_at"]]
    escalated = sum(1 for a in open_ if a["escalations"])
    line = f"{len(open_)} open ({escalated} escalated), {len(acked)} acknowledged"
    if acked:
        line += f"; time to acknowledge: median {statistics.median(acked):.1f} min"
        line += f", longest {max(acked):.1f} min"
    return line


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"alerts": alerts_command}
