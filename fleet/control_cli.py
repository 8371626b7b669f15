"""The console's control verbs: ``config push|show``, ``content push``, ``cmd``.

healthhub-fleet config push --fleet DIR (--fleet-wide | --site S | --device D) FILE.yaml [--wait]
healthhub-fleet config show --fleet DIR --device D [--json]
healthhub-fleet content push --fleet DIR (--fleet-wide | --site S | --device D) FOLDER [--wait]
healthhub-fleet cmd --fleet DIR --device D NAME [--arg K=V] [--wait] [--json] [--output FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from healthhub.fleet import command_send
from healthhub.fleet.config_push import PushOutcome
from healthhub.fleet.config_push import push as push_layer
from healthhub.fleet.config_push import show as show_config
from healthhub.fleet.content_push import push as push_content
from healthhub.protocol import commands, config_layers
from healthhub.protocol.commands import CommandRejected
from healthhub.protocol.config_layers import LayerRejected, Scope
from healthhub.protocol.content import ContentRejected
from healthhub.protocol.fleet_layout import FleetLayout


def fleet_layout(path: Path) -> FleetLayout:
    layout = FleetLayout(path)
    if not layout.manifest.is_file():
        print(f"healthhub-fleet: {path} is not a fleet folder (no fleet.yaml)", file=sys.stderr)
        raise SystemExit(2)
    return layout


def _push_arguments(parser: argparse.ArgumentParser, what: str, *, timeout_s: float) -> None:
    """What ``config push`` and ``content push`` share: fleet, scope, what, wait."""
    parser.add_argument("--fleet", type=Path, required=True)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fleet-wide", action="store_true", help="every device of the fleet")
    where.add_argument("--site", help="every device of one site")
    where.add_argument("--device", help="one device")
    parser.add_argument(what, type=Path)
    parser.add_argument("--wait", action="store_true", help="follow the devices' reports")
    parser.add_argument(
        "--timeout", type=float, default=timeout_s, help="seconds to wait (default %(default)g)"
    )
    parser.add_argument("--json", action="store_true")


def add_parsers(sub: Any) -> None:
    """The control verbs' parsers, added to ``healthhub-fleet``'s sub-commands."""
    config = sub.add_parser("config", help="push signed configuration layers to devices")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    push = config_sub.add_parser(
        "push",
        help="sign FILE.yaml as the next layer of a scope and publish it (retained)",
        description="FILE.yaml holds the settings a layer may carry (ui, telemetry, "
        "peripherals, alerts; ui.staff_pin_hash from `healthhub-agent pin-hash`). The layer gets "
        "the next version of its scope and the fleet's signature. --wait follows each device "
        "in scope until it applied or rejected it: exit 1 if any rejected or did not answer.",
    )
    _push_arguments(push, "file", timeout_s=60.0)
    show = config_sub.add_parser(
        "show",
        help="a device's effective configuration and where each value comes from",
        description="The device's enrolment file under the fleet, site and device layers "
        "retained now, each value with its source, and the versions the device reports.",
    )
    show.add_argument("--fleet", type=Path, required=True)
    show.add_argument("--device", required=True)
    show.add_argument("--json", action="store_true")
    content_cmd = sub.add_parser("content", help="push signed information content to devices")
    content_sub = content_cmd.add_subparsers(dest="content_command", required=True)
    cpush = content_sub.add_parser(
        "push",
        help="publish FOLDER's files (chunked, by hash) and a signed manifest for a scope",
        description="Every file of FOLDER (pages, signposting entries, pictures, audio) is "
        "published as blobs addressed by sha256, then a signed manifest with the next "
        "version of the scope. Devices fetch what they lack, check every hash and switch "
        "atomically. --wait follows each device until it applied or rejected the version: "
        "exit 1 if any rejected or did not answer; exit 2 for a folder devices would refuse.",
    )
    _push_arguments(cpush, "folder", timeout_s=300.0)
    cmd = sub.add_parser(
        "cmd",
        help="send a signed command to one device and follow its answers",
        description="Commands: "
        + "; ".join(f"{name}: {spec.summary}" for name, spec in commands.NAMES.items())
        + ". --wait follows the device's answers (accepted, then succeeded, failed, rejected "
        "or expired): exit 0 only if it succeeded.",
    )
    cmd.add_argument("--fleet", type=Path, required=True)
    cmd.add_argument("--device", required=True)
    cmd.add_argument("name", choices=sorted(commands.NAMES))
    cmd.add_argument(
        "--arg",
        action="append",
        default=[],
        metavar="K=V",
        help="a whole-number argument (identify: seconds; collect-logs: lines)",
    )
    cmd.add_argument(
        "--expires-in",
        type=float,
        default=float(commands.DEFAULT_LIFETIME_S),
        help="seconds the command stays valid (default %(default)g)",
    )
    cmd.add_argument("--wait", action="store_true", help="follow the device's answers")
    cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    cmd.add_argument("--json", action="store_true")
    cmd.add_argument("--output", type=Path, help="screenshot: where to write the PNG")


def _scope(args: argparse.Namespace) -> Scope:
    if args.fleet_wide:
        return Scope("fleet")
    if args.site:
        return config_layers.parse_scope({"site": args.site})
    return config_layers.parse_scope({"device": args.device})


def config_push(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    try:
        settings = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        print(f"healthhub-fleet config push: {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        scope = _scope(args)
        config_layers.check_settings(settings)
    except LayerRejected as exc:
        print(f"healthhub-fleet config push: {args.file}: {exc}", file=sys.stderr)
        return 2
    outcome = push_layer(
        layout,
        scope,
        settings,
        wait_s=args.timeout if args.wait else None,
        progress=_progress(args),
    )
    return _pushed(args, outcome, "layer")


def content_push(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    try:
        outcome = push_content(
            layout,
            _scope(args),
            args.folder,
            wait_s=args.timeout if args.wait else None,
            progress=_progress(args),
        )
    except (ContentRejected, LayerRejected, OSError) as exc:
        print(f"healthhub-fleet content push: {args.folder}: {exc}", file=sys.stderr)
        return 2
    return _pushed(args, outcome, "content")


def _progress(args: argparse.Namespace) -> Callable[[PushOutcome], None]:
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

    return progress


def _pushed(args: argparse.Namespace, outcome: PushOutcome, what: str) -> int:
    if args.wait and not args.json:
        _progress(args)(outcome)
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print(
            f"{outcome.scope} {what} version {outcome.version} published to "
            f"{len(outcome.targets)} device(s)"
        )
        for device, reason in sorted(outcome.rejected.items()):
            print(f"  rejected by {device}: {reason}")
        if args.wait:
            for device in outcome.pending:
                print(f"  no answer from {device} in {args.timeout:g} s")
    return 1 if args.wait and (outcome.rejected or outcome.pending) else 0


def config_show(args: argparse.Namespace) -> int:
    shown = show_config(fleet_layout(args.fleet), args.device)
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


def run_command(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    try:
        values = dict(_arg(text) for text in args.arg)
        outcome = command_send.send(
            layout,
            args.device,
            args.name,
            values,
            lifetime_s=args.expires_in,
            wait_s=args.timeout if args.wait else None,
        )
    except (CommandRejected, ValueError) as exc:
        print(f"healthhub-fleet cmd: {exc}", file=sys.stderr)
        return 2
    final = outcome.final or {}
    detail = final.get("detail")
    if args.output is not None and isinstance(detail, dict) and "png_base64" in detail:
        args.output.write_bytes(base64.b64decode(detail["png_base64"]))
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2, sort_keys=True))
    else:
        print(command_send.summary(outcome))
        text = command_send.detail_text(outcome)
        if text:
            print(text)
        if args.wait and outcome.final is None:
            print(f"  no final answer in {args.timeout:g} s (is the device online?)")
    if not args.wait:
        return 0
    return 0 if outcome.state == "succeeded" else 1


def _arg(text: str) -> tuple[str, int]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--arg {text!r}: use NAME=NUMBER")
    try:
        return key, int(value)
    except ValueError:
        raise ValueError(f"--arg {text!r}: {value!r} is not a whole number") from None


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "config": lambda a: config_show(a) if a.config_command == "show" else config_push(a),
    "content": content_push,
    "cmd": run_command,
}
