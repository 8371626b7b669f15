"""``healthhub-fleet``: the practice side's console.

healthhub-fleet bridge --fleet DIR --store STORE.sqlite
healthhub-fleet export --store STORE.sqlite --format jsonl [--since T]
healthhub-fleet status --fleet DIR [--json] [--wait S] [--store STORE.sqlite]
healthhub-fleet alerts --store STORE.sqlite [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from healthhub.fleet.bridge import Bridge
from healthhub.fleet.config_push import PushOutcome
from healthhub.fleet.config_push import push as push_layer
from healthhub.fleet.config_push import show as show_config
from healthhub.fleet.console import fleet_status
from healthhub.fleet.store import PracticeStore, open_readonly
from healthhub.protocol import config_layers
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.config_layers import LayerRejected, Scope
from healthhub.protocol.errors import HealthHubError, MalformedMessage
from healthhub.protocol.fleet_layout import FleetLayout

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
    bridge.add_argument("--store", type=Path, required=True, help="the practice store (SQLite)")
    bridge.add_argument("-v", "--verbose", action="store_true")

    export = sub.add_parser(
        "export",
        help="print filed readings",
        description='One reading a line: {"id", "device", "site", "seq", "kind", "at", '
        '"components": [{"code", "value", "unit"}]}.',
    )
    export.add_argument("--store", type=Path, required=True)
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
    status.add_argument("--store", type=Path, help="the bridge's store, for last known telemetry")
    alerts = sub.add_parser(
        "alerts",
        help="alerts from the units: urgent results, help requests (newest first)",
        description="Alerts the bridge has filed: device, site, time, why. The bridge also "
        "logs each one as it arrives.",
    )
    alerts.add_argument("--store", type=Path, required=True)
    alerts.add_argument("--json", action="store_true")

    config = sub.add_parser("config", help="push signed configuration layers to devices")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    push = config_sub.add_parser(
        "push",
        help="sign FILE.yaml as the next layer of a scope and publish it (retained)",
        description="FILE.yaml holds the settings a layer may carry (ui, telemetry, "
        "peripherals; ui.staff_pin_hash from `healthhub-agent pin-hash`). The layer gets "
        "the next version of its scope and the fleet's signature. --wait follows each device "
        "in scope until it applied or rejected it: exit 1 if any rejected or did not answer.",
    )
    push.add_argument("--fleet", type=Path, required=True)
    where = push.add_mutually_exclusive_group(required=True)
    where.add_argument("--fleet-wide", action="store_true", help="every device of the fleet")
    where.add_argument("--site", help="every device of one site")
    where.add_argument("--device", help="one device")
    push.add_argument("file", type=Path)
    push.add_argument("--wait", action="store_true", help="follow the devices' reports")
    push.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    push.add_argument("--json", action="store_true")
    show = config_sub.add_parser(
        "show",
        help="a device's effective configuration and where each value comes from",
        description="The device's enrolment file under the fleet, site and device layers "
        "retained now, each value with its source, and the versions the device reports.",
    )
    show.add_argument("--fleet", type=Path, required=True)
    show.add_argument("--device", required=True)
    show.add_argument("--json", action="store_true")
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
        "alerts": list_alerts,
        "status": status,
        "config": lambda a: config_show(a) if a.config_command == "show" else config_push(a),
    }
    try:
        return commands[args.command](args)
    except HealthHubError as exc:
        print(f"healthhub-fleet {args.command}: {exc}", file=sys.stderr)
        return 1


def _fleet(path: Path) -> FleetLayout:
    layout = FleetLayout(path)
    if not layout.manifest.is_file():
        print(f"healthhub-fleet: {path} is not a fleet folder (no fleet.yaml)", file=sys.stderr)
        raise SystemExit(2)
    return layout


def run_bridge(args: argparse.Namespace) -> int:
    layout = _fleet(args.fleet)
    store = PracticeStore(args.store)
    bridge = Bridge(layout, store)

    def stop(signum: int, frame: FrameType | None) -> None:
        bridge.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    bridge.start()
    log.info("bridge filing into %s", args.store)
    try:
        bridge.run()
    finally:
        bridge.close()
        log.info("bridge stopped: %s", json.dumps(bridge.report(), sort_keys=True))
        store.close()
    return 0


def config_push(args: argparse.Namespace) -> int:
    layout = _fleet(args.fleet)
    try:
        settings = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"healthhub-fleet config push: {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.fleet_wide:
            scope = Scope("fleet")
        elif args.site:
            scope = config_layers.parse_scope({"site": args.site})
        else:
            scope = config_layers.parse_scope({"device": args.device})
        config_layers.check_settings(settings)
    except LayerRejected as exc:
        print(f"healthhub-fleet config push: {args.file}: {exc}", file=sys.stderr)
        return 2

    def progress(outcome: PushOutcome) -> None:
        if not args.json:
            done = len(outcome.applied) + len(outcome.rejected)
            total = max(1, len(outcome.targets))
            bar = "#" * (20 * done // total)
            print(
                f"\r[{bar:20}] {len(outcome.applied)} applied, {len(outcome.rejected)} "
                f"rejected, {len(outcome.pending)} pending",
                end="",
                file=sys.stderr,
                flush=True,
            )

    outcome = push_layer(
        layout, scope, settings, wait_s=args.timeout if args.wait else None, progress=progress
    )
    if args.wait and not args.json:
        progress(outcome)
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(
            f"{scope} layer version {outcome.version} published to {len(outcome.targets)} device(s)"
        )
        for device, reason in sorted(outcome.rejected.items()):
            print(f"  rejected by {device}: {reason}")
        if args.wait:
            for device in outcome.pending:
                print(f"  no answer from {device} in {args.timeout:g} s")
    return 1 if args.wait and (outcome.rejected or outcome.pending) else 0


def config_show(args: argparse.Namespace) -> int:
    shown = show_config(_fleet(args.fleet), args.device)
    if args.json:
        document = {
            "effective": shown.effective,
            "sources": shown.sources,
            "layers": shown.layers,
            "problems": shown.problems,
            "reported": shown.reported,
        }
        print(json.dumps(document, indent=2, sort_keys=True))
        return 0
    for key, origin in sorted(shown.sources.items()):
        value: Any = shown.effective
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        print(f"{key} = {json.dumps(value)}  ({origin})")
    for level in ("fleet", "site", "device"):
        held = (shown.reported or {}).get("layers", {}).get(level, {})
        print(
            f"# {level} layer: version {shown.layers.get(level, '-')} on the broker, "
            f"device holds {held.get('held') or '-'} ({held.get('state', 'no report')})"
            + (
                f"; retained layer is invalid: {shown.problems[level]}"
                if level in shown.problems
                else ""
            )
        )
    return 0


def list_alerts(args: argparse.Namespace) -> int:
    store = open_readonly(args.store)
    try:
        found = store.alerts()
    finally:
        store.close()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print("no alerts")
    for alert in found:
        what = " ".join(str(alert[k]) for k in ("measure", "level") if alert[k])
        print(f"{alert['at']}  {alert['site']}/{alert['device']}  {alert['reason']}  {what}")
    return 0


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
    layout = _fleet(args.fleet)
    reports = None
    if args.store:
        store = open_readonly(args.store)
        reports = store.reports()
        store.close()
    rows = fleet_status(layout, wait_s=args.wait, reports=reports)
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    header = f"{'device':<16}{'site':<18}{'state':<12}{'link':<14}{'outbox':>8}{'oldest':>10}"
    print(header)
    for row in rows:
        depth = "-" if row["outbox_depth"] is None else str(row["outbox_depth"])
        age = row["outbox_oldest_age_s"]
        oldest = "-" if age is None else f"{age:.0f} s"
        link = row["link"] or "-"
        print(
            f"{row['device']:<16}{row['site']:<18}{row['state']:<12}{link:<14}{depth:>8}{oldest:>10}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
