"""``healthhub-fleet``: the practice side's console.

healthhub-fleet bridge --fleet DIR --store STORE.sqlite [--share GROUP --instance NAME]
healthhub-fleet export --store STORE.sqlite --format jsonl [--since T]
healthhub-fleet status --fleet DIR [--json] [--wait S] [--store STORE.sqlite] [--watch]
healthhub-fleet alerts --store STORE.sqlite [--open] [--watch] [--ack ID --by NAME] [--json]
healthhub-fleet fhir --store STORE.sqlite --out DIR [--since T]
healthhub-fleet config push|show ..., healthhub-fleet cmd ... (see control_cli.py)
healthhub-fleet report --store STORE.sqlite --out report.html [--from D] [--to D] (report_cli.py)
healthhub-fleet serve ..., healthhub-fleet staff add|list|disable ... (see web_cli.py)
healthhub-fleet update --fleet DIR --wheels DIR (--site S | --device D ...) (software_cli.py)
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from healthhub.fleet import (
    alerts_cli,
    control_cli,
    fhir_export,
    fhir_post,
    report_cli,
    software_cli,
    web_cli,
)
from healthhub.fleet.alert_escalation import CHECK_EVERY_S, CommandNotifier, EscalationLoop
from healthhub.fleet.bridge import REPORT_EVERY_S, Bridge
from healthhub.fleet.bridge_sharing import Membership, instance_name, share_group
from healthhub.fleet.console import RETAINED_SETTLE_S, FleetWatcher, fleet_status, rows
from healthhub.fleet.control_cli import fleet_layout
from healthhub.fleet.health_summary import health_cells
from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.store import PracticeStore, open_readonly
from healthhub.fleet.store_db import describe, store_target
from healthhub.protocol.clock import now_utc, parse_utc
from healthhub.protocol.errors import HealthHubError, MalformedMessage
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key

log = logging.getLogger("healthhub.fleet")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthhub-fleet",
        description="Health Hub practice side: ingest readings, export them, watch the fleet.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bridge = sub.add_parser(
        "bridge",
        help="ingest devices' messages into the practice store and confirm them",
        description="Subscribe to every device's data, file each envelope once in STORE "
        "and publish the retained per-device ack. Runs until SIGTERM/Ctrl-C.",
    )
    bridge.add_argument("--fleet", type=Path, required=True, help="the fleet folder")
    bridge.add_argument(
        "--store",
        type=store_target,
        required=True,
        help="the practice store: a SQLite file or a postgresql:// URL",
    )
    bridge.add_argument(
        "--share",
        type=share_group,
        metavar="GROUP",
        help="share the ingest load with the other instances of GROUP (MQTT v5 shared "
        "subscription; every instance files into the same STORE; see docs/scaling.md)",
    )
    bridge.add_argument(
        "--instance",
        type=instance_name,
        metavar="NAME",
        help="this instance's name, unique in the fleet (client id healthhub-bridge-NAME); "
        "required with --share",
    )
    bridge.add_argument(
        "--session-expiry",
        type=int,
        metavar="S",
        help="seconds the broker keeps this instance's session while it is away (default: "
        "a week; with --share 120, so that a dead member stops taking its turn)",
    )
    bridge.add_argument(
        "--report-every",
        type=float,
        default=REPORT_EVERY_S,
        metavar="S",
        help=f"seconds between the counters in the log (default {REPORT_EVERY_S:.0f})",
    )
    bridge.add_argument(
        "--notify-command",
        metavar="CMD",
        help="the practice's program to run for each escalated alert (the escalation as "
        "JSON on stdin: alert id, site, unit, reason, level, staff groups; never a patient)",
    )
    bridge.add_argument(
        "--escalate-every",
        type=float,
        default=CHECK_EVERY_S,
        metavar="S",
        help=f"seconds between checks for alerts left unacknowledged (default "
        f"{CHECK_EVERY_S:.0f}); each escalates on its unit's route (escalate_after_s)",
    )
    bridge.add_argument("-v", "--verbose", action="store_true")

    export = sub.add_parser(
        "export",
        help="print filed readings",
        description='One reading a line: {"id", "device", "site", "seq", "kind", "at", '
        '"components": [{"code", "value", "unit"}]}.',
    )
    export.add_argument("--store", type=store_target, required=True)
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.add_argument("--since", help="only readings taken at or after this ISO 8601 time")

    status = sub.add_parser(
        "status",
        help="each device online/offline, last telemetry, outbox depth",
        description="Reads the retained status of every enrolled device and waits up to "
        "--wait seconds for live telemetry; --store adds the bridge's last known telemetry "
        "for devices that stay silent.",
    )
    status.add_argument("--fleet", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    status.add_argument("--wait", type=float, default=3.0, help="seconds to listen (default 3)")
    status.add_argument(
        "--store", type=store_target, help="the bridge's store: last known telemetry, alerts filed"
    )
    status.add_argument("--watch", action="store_true", help="a live table until Ctrl-C")
    status.add_argument(
        "--every", type=float, default=2.0, help="--watch: seconds between refreshes (2)"
    )
    alerts_cli.add_parsers(sub)

    fhir = sub.add_parser(
        "fhir",
        help="what patients asked to file, as FHIR R4 transaction Bundles (JSON)",
        description="Readings a patient consented to file and forms sent with their NHS "
        "number become Observations, QuestionnaireResponses and Tasks (UK Core, LOINC, "
        "SNOMED CT, UCUM), one PUT per resource to an id made from the envelope id, so a "
        "second export or post creates nothing new. Anonymous readings and forms are "
        "counted, never filed. Give --out, --post or both.",
    )
    fhir.add_argument("--store", type=store_target, required=True)
    fhir.add_argument(
        "--out", type=Path, help="folder for bundle-NNNN.json (numbered as in the --post report)"
    )
    fhir.add_argument("--since", help="only what was sent at or after this ISO 8601 time")
    fhir_post.add_arguments(fhir)

    control_cli.add_parsers(sub)
    report_cli.add_parsers(sub)
    web_cli.add_parsers(sub)
    software_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "bridge": run_bridge,
        "export": export,
        **alerts_cli.COMMANDS,
        "fhir": fhir_bundles,
        "status": status,
        **control_cli.COMMANDS,
        **report_cli.COMMANDS,
        **web_cli.COMMANDS,
        **software_cli.COMMANDS,
    }
    try:
        return commands[args.command](args)
    except HealthHubError as exc:
        print(f"healthhub-fleet {args.command}: {exc}", file=sys.stderr)
        return 1


def run_bridge(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    if args.share and not args.instance:
        print("healthhub-fleet bridge: --share needs --instance NAME", file=sys.stderr)
        return 2
    if args.session_expiry is not None and not 0 <= args.session_expiry <= 0xFFFFFFFF:
        print("healthhub-fleet bridge: --session-expiry must be 0 to 4294967295", file=sys.stderr)
        return 2
    if args.report_every <= 0 or args.escalate_every <= 0:
        print("healthhub-fleet bridge: --report-every and --escalate-every must be above 0",
              file=sys.stderr)  # fmt: skip
        return 2
    notify = None
    if args.notify_command is not None:
        try:
            notify = CommandNotifier(shlex.split(args.notify_command))
        except ValueError as exc:  # unbalanced quotes, or nothing to run
            print(f"healthhub-fleet bridge: --notify-command: {exc}", file=sys.stderr)
            return 2
    membership = Membership(args.share, args.instance, args.session_expiry)
    store = PracticeStore(args.store)
    bridge = Bridge(layout, store, membership)
    escalation = EscalationLoop(args.store, notify, every_s=args.escalate_every)

    def stop(signum: int, frame: FrameType | None) -> None:
        bridge.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bridge.start()
    log.info(
        "bridge filing into %s as %s",
        describe(args.store),
        json.dumps(membership.describe(), sort_keys=True),
    )
    escalation.start()
    try:
        bridge.run(report_every_s=args.report_every)
    finally:
        escalation.stop()
        bridge.close()
        log.info("bridge stopped: %s", json.dumps(bridge.report(), sort_keys=True))
        store.close()
    return 0


def fhir_bundles(args: argparse.Namespace) -> int:
    """Write (--out) and/or post (--post) the bundles; 1 unless every posted one was accepted."""
    if args.out is None and args.post is None:
        print("healthhub-fleet fhir: give --out DIR, --post BASE_URL or both", file=sys.stderr)
        return 2
    try:
        if args.since:
            parse_utc(args.since, field="--since")
        poster = None if args.post is None else fhir_post.poster_from_args(args)
    except (MalformedMessage, fhir_post.TargetRefused) as exc:
        print(f"healthhub-fleet fhir: {exc}", file=sys.stderr)
        return 2
    store = open_readonly(args.store)
    try:
        found, counts = fhir_export.bundles(store, since=args.since, max_entries=args.max_entries)
    finally:
        store.close()
    summary: dict[str, Any] = {"out": None if args.out is None else str(args.out)}
    summary |= counts.to_json()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for number, bundle in enumerate(found, start=1):
            data = json.dumps(bundle, indent=1).encode()
            write_atomic(args.out / f"bundle-{number:04d}.json", data)
    if poster is not None:
        summary["post"] = poster.post_all(found).to_json()
    if args.report is not None:
        write_atomic(args.report, json.dumps(summary, indent=1).encode())
    print(json.dumps(summary))
    return 0 if summary.get("post", {}).get("all_accepted", True) else 1


def export(args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            parse_utc(args.since, field="--since")
        except MalformedMessage as exc:
            print(f"healthhub-fleet export: {exc}", file=sys.stderr)
            return 2
        since = args.since
    store = open_readonly(args.store)
    try:
        for reading in store.readings(since):
            sys.stdout.write(json.dumps(reading, sort_keys=True) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` closed the pipe: not an error
        sys.stderr.close()
    finally:
        store.close()
    return 0


def status(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    if args.watch:
        return watch_status(layout, args)
    reports, alerts = _from_store(args.store)
    found = fleet_status(layout, wait_s=args.wait, reports=reports, alerts=alerts)
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    print("\n".join(status_table(found)))
    return 0


def watch_status(layout: FleetLayout, args: argparse.Namespace) -> int:
    """A live table (or one JSON document a line with --json) until Ctrl-C."""
    watcher = FleetWatcher(layout)
    watcher.start()
    watcher.subscribed.wait(5.0)
    time.sleep(RETAINED_SETTLE_S)  # the retained statuses and reports follow the SUBACK
    devices = DeviceRegistry(layout)
    verify_key = read_key(layout.signing_pub)
    try:
        while True:
            reports, alerts = _from_store(args.store)
            found = rows(devices.devices(), watcher.view, reports, alerts, verify_key=verify_key)
            if args.json:
                print(json.dumps(found, sort_keys=True), flush=True)
            else:
                table = "\n".join(status_table(found))
                print(f"\x1b[H\x1b[2J{now_utc()}  (Ctrl-C to stop)\n{table}", flush=True)
            time.sleep(args.every)
    except KeyboardInterrupt:
        return 0
    finally:
        watcher.stop()


def _from_store(
    path: str | Path | None,
) -> tuple[dict[str, Any] | None, dict[str, int] | None]:
    if path is None:
        return None, None
    store = open_readonly(path)
    try:
        return store.reports(), store.alert_counts()
    finally:
        store.close()


def status_table(found: list[dict[str, Any]]) -> list[str]:
    """The status as a table for people: config and content versions held per layer
    (fleet/site/device; ``!`` marks a layer whose last push was rejected or rolled back, ``<``
    one the unit holds an older version of than was pushed: it is behind),
    and the unit's Pi health (``!`` marks what the unit says is over its threshold)."""
    lines = [
        f"{'device':<14}{'site':<14}{'state':<9}{'version':<9}{'link':<13}{'outbox':>7}"
        f"{'oldest':>8}  "
        f"{'config f/s/d':<14}{'content f/s/d':<15}{'last command':<26}{'alerts':>6}  "
        f"{'temp':>5}{'free':>6}  {'sd wear':<17}health"
    ]
    for row in found:
        depth = "-" if row["outbox_depth"] is None else str(row["outbox_depth"])
        age = row["outbox_oldest_age_s"]
        oldest = "-" if age is None else f"{age:.0f} s"
        command = row.get("last_command") or {}
        last = f"{command['name']} {command['state']}" if command else "-"
        alerts = "-" if row.get("alerts") is None else str(row["alerts"])
        temp, free, sd, flags = health_cells(row.get("health"))
        lines.append(
            f"{row['device']:<14}{row['site']:<14}{row['state']:<9}"
            f"{row.get('version') or '-':<9}{row['link'] or '-':<13}"
            f"{depth:>7}{oldest:>8}  {_versions(row['config']):<14}"
            f"{_versions(row['content']):<15}{last:<26}{alerts:>6}  "
            f"{temp:>5}{free:>6}  {sd:<17}{flags}"
        )
    return lines


def _versions(layers: dict[str, Any]) -> str:
    shown = []
    for level in ("fleet", "site", "device"):
        entry = layers.get(level) or {}
        held = "-" if entry.get("held") is None else str(entry["held"])
        bad = entry.get("state") in ("rejected", "rolled_back")
        shown.append(held + ("!" if bad else "<" if entry.get("behind") else ""))
    return "/".join(shown)


if __name__ == "__main__":
    raise SystemExit(main())
