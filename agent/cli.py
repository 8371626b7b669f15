"""``healthhub-agent``: run the device agent, or report on it.

    healthhub-agent --config /etc/healthhub/device.yaml [--state-dir DIR]
    healthhub-agent status --config /etc/healthhub/device.yaml [--json]
    healthhub-agent pin-hash            (reads a staff PIN; prints ui.staff_pin_hash)
    healthhub-agent decode --driver ble.blood_pressure HEX [--json]
    healthhub-agent scan [--seconds N] [--adapter hci0] [--json]

Exit codes: 0 stopped cleanly (SIGTERM), 1 could not start (state database,
keys, another agent running), 2 bad command line or device.yaml.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Any

from healthhub.agent.config import ConfigError, DeviceConfig, load_config
from healthhub.agent.outbox import OutboxUnavailable, read_stats
from healthhub.agent.service import OUTBOX_FILE, STATUS_FILE, Agent
from healthhub.agent.staff_pin import hash_pin
from healthhub.drivers.ble import scan as ble_scan
from healthhub.drivers.ble.api import BleakApi, BleApi
from healthhub.drivers.decoders import DECODERS
from healthhub.drivers.errors import DriverError, FrameError
from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.pids import process_alive

DEFAULT_CONFIG = Path("/etc/healthhub/device.yaml")

log = logging.getLogger("healthhub.agent")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"the device's configuration (default {DEFAULT_CONFIG})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where the outbox and state live (default: state_dir in device.yaml)",
    )


def _run_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthhub-agent",
        description="Health Hub device agent: reads peripherals, keeps every reading in a "
        "durable outbox and delivers it to the practice over MQTT. "
        "`healthhub-agent status --help` for the status report.",
    )
    _common(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    return parser


def _status_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthhub-agent status",
        description="Link state, last seq taken and confirmed, outbox depth and oldest age.",
    )
    _common(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _load(args: argparse.Namespace) -> DeviceConfig:
    try:
        return load_config(args.config, state_dir=args.state_dir)
    except ConfigError as exc:
        print(f"healthhub-agent: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["status"]:
        return status(_status_parser().parse_args(argv[1:]))
    if argv[:1] == ["pin-hash"]:
        return pin_hash(argv[1:])
    if argv[:1] == ["decode"]:
        return decode(argv[1:])
    if argv[:1] == ["scan"]:
        return scan(argv[1:])
    if argv[:1] == ["run"]:
        argv = argv[1:]
    return run(_run_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = _load(args)
    agent = Agent(config, config_path=args.config)
    try:
        asyncio.run(agent.run())
    except HealthHubError as exc:
        log.error("%s", exc)
        print(f"healthhub-agent: {exc}", file=sys.stderr)
        return 1
    return agent.exit_code  # 75 after the restart-agent command: systemd starts it again


def pin_hash(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="healthhub-agent pin-hash",
        description="Read a staff PIN (4-12 digits) from the terminal or stdin and print the "
        "value for `ui: staff_pin_hash:` in device.yaml. The PIN itself is never stored.",
    ).parse_args(argv)
    pin = getpass.getpass("staff PIN: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))
    except ValueError as exc:
        print(f"healthhub-agent pin-hash: {exc}", file=sys.stderr)
        return 2
    return 0


def decode(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="healthhub-agent decode",
        description="Decode one frame as the driver would: the reading in the measurement "
        "schema, or the typed error (exit 1). For installers checking a device's bytes.",
    )
    parser.add_argument("--driver", required=True, choices=sorted(DECODERS))
    parser.add_argument("hex", nargs="+", help="the frame in hex (spaces allowed)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        frame = bytes.fromhex("".join(args.hex))
    except ValueError:
        parser.error("the frame must be hexadecimal, e.g. 04 7800 5000 5d00 4800")
    decoder = DECODERS[args.driver]
    try:
        reading = decoder.decode(frame)
    except FrameError as exc:
        error = {"error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(error) if args.json else f"{type(exc).__name__}: {exc}")
        return 1
    if args.json:
        print(json.dumps(reading.to_json(), indent=2))
        return 0
    print(f"{args.driver} ({decoder.source}): {reading.measurement.kind}")
    for component in reading.measurement.components:
        print(f"  {component.code:14} {component.value:g} {component.unit}")
    if reading.taken_at is not None:
        print(f"  taken at       {reading.taken_at.isoformat()}")
    if reading.notes:
        print(f"  device notes   {', '.join(reading.notes)}")
    for name, value in reading.details.items():
        print(f"  {name:14} {value}")
    return 0


def scan(argv: list[str], api: BleApi | None = None) -> int:
    """List the Bluetooth health devices in range and print their device.yaml entries.

    ``api`` is the Bluetooth stack (default: bleak); tests pass a fake one."""
    parser = argparse.ArgumentParser(
        prog="healthhub-agent scan",
        description="Listen for Bluetooth LE health devices (blood pressure, weight scale, "
        "thermometer, pulse oximeter) and print the device.yaml lines that add them. "
        "Switch each device on (or press its Bluetooth button) while this runs. "
        "Exit 1 when there is no Bluetooth adapter or BlueZ is not running.",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to listen")
    parser.add_argument("--adapter", help="the adapter to use, e.g. hci0 (default: BlueZ's)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 300:
        parser.error("--seconds must be above 0 and at most 300")
    try:
        found = asyncio.run(
            ble_scan.scan(api or BleakApi(), seconds=args.seconds, adapter=args.adapter)
        )
    except DriverError as exc:
        print(f"healthhub-agent scan: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([device.to_json() for device in found], indent=2))
        return 0
    if not found:
        print(f"no supported health device heard in {args.seconds:g} s", file=sys.stderr)
        return 0
    for device in found:
        print(
            f"{device.address}  {device.rssi:4d} dBm  {device.driver:15} "
            f"{device.name or '(no name)'}"
        )
    print("\n# add to device.yaml:")
    print(ble_scan.snippet(found), end="")
    return 0


def collect_status(config: DeviceConfig) -> dict[str, Any]:
    stats = read_stats(config.state_dir / OUTBOX_FILE, config.outbox.max_messages)
    link: dict[str, Any] = {"state": "stopped", "detail": "agent not running"}
    delivery: dict[str, Any] = {}
    peripherals: dict[str, Any] = {}
    try:
        recorded = json.loads((config.state_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = {}
    if isinstance(recorded, dict) and process_alive(recorded.get("pid")):
        link = recorded.get("link", link)
        delivery = recorded.get("delivery", {})
        peripherals = recorded.get("peripherals", {})
    config_layers = recorded.get("config") if isinstance(recorded, dict) else None
    remote_commands = recorded.get("commands") if isinstance(recorded, dict) else None
    content = recorded.get("content") if isinstance(recorded, dict) else None
    return {
        "device": config.device.id,
        "site": config.device.site,
        "link": link,
        "last_seq_taken": stats.last_seq,
        "last_seq_confirmed": stats.confirmed_seq,
        "delivered_seq": delivery.get("delivered_seq"),
        "outbox": stats.to_json(),
        "peripherals": peripherals,
        "config": config_layers,
        "commands": remote_commands,
        "content": content,
    }


def status(args: argparse.Namespace) -> int:
    config = _load(args)
    try:
        report = collect_status(config)
    except OutboxUnavailable as exc:
        print(f"healthhub-agent status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    outbox = report["outbox"]
    age = outbox["oldest_age_s"]
    link = report["link"]
    detail = link.get("last_error") or link.get("detail") or ""
    lines = [
        f"device       {report['device']} (site {report['site']})",
        f"link         {link.get('state')}" + (f" ({detail})" if detail else ""),
        f"last taken   seq {report['last_seq_taken']}",
        f"confirmed    seq {report['last_seq_confirmed']}",
        f"outbox       {outbox['depth']} of {outbox['bound']} messages",
        f"oldest       {'-' if age is None else f'{age:.1f} s'}",
    ]
    for name, entry in sorted(report["peripherals"].items()):
        state = entry.get("state", "?") + (f" ({entry['detail']})" if entry.get("detail") else "")
        battery = entry.get("battery")
        lines.append(
            f"peripheral   {name}: {entry.get('driver')}/{entry.get('backend')} {state}"
            + (f", battery {battery}%" if battery is not None else "")
            + f", {entry.get('readings', 0)} readings, {entry.get('restarts', 0)} restarts"
        )
    last = ((report.get("commands") or {}).get("journal") or {}).get("last")
    if last:
        reason = f": {last['reason']}" if last.get("reason") else ""
        lines.append(f"last command {last['name']} {last['state']} at {last['at']}{reason}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
