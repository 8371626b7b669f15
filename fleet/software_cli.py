"""``healthhub-fleet update``: push a signed software release to units and follow it.

healthhub-fleet update --fleet DIR --wheels DIR (--fleet-wide | --site S | --device D ...)
                       [--wait SECONDS] [--deadline SECONDS] [--allow-downgrade] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from healthhub.fleet.control_cli import fleet_layout
from healthhub.fleet.software_push import UpdateOutcome, push
from healthhub.protocol import config_layers, software
from healthhub.protocol.config_layers import LayerRejected, Scope
from healthhub.protocol.software import SoftwareRejected


def add_parsers(sub: Any) -> None:
    update = sub.add_parser(
        "update",
        help="push a signed software release (a wheel set) to units, installed with rollback",
        description="Every wheel of --wheels (`pip wheel -w DIR .` for the units' Python and "
        "architecture) is published as content blobs, then a signed manifest for each scope. "
        "Each unit fetches and checks the wheels, its updater builds the release beside the "
        "running one, switches, restarts the agent and checks it is connected with readings "
        "confirmed within --deadline, and otherwise switches back by itself. --wait follows "
        "the units: exit 0 only if every one is healthy on the new version, 1 if any rolled "
        "back, refused it or did not answer in time, 2 for a wheel set units would refuse.",
    )
    update.add_argument("--fleet", type=Path, required=True)
    update.add_argument("--wheels", type=Path, required=True, metavar="DIR")
    where = update.add_mutually_exclusive_group(required=True)
    where.add_argument("--fleet-wide", action="store_true", help="every unit of the fleet")
    where.add_argument("--site", help="every unit of one site")
    where.add_argument("--device", action="append", help="one unit (repeat for more)")
    update.add_argument(
        "--wait", type=float, metavar="SECONDS", help="follow the units' reports this long"
    )
    update.add_argument(
        "--deadline", type=int, default=software.DEFAULT_DEADLINE_S, metavar="SECONDS",
        help="how long a unit gives the new release to be healthy before it rolls back "
        f"({software.MIN_DEADLINE_S}-{software.MAX_DEADLINE_S}; default %(default)s)",
    )  # fmt: skip
    update.add_argument(
        "--allow-downgrade", action="store_true",
        help="let units install a version older than the one they run (signed in the manifest)",
    )  # fmt: skip
    update.add_argument("--json", action="store_true")


def _scopes(args: argparse.Namespace) -> list[Scope]:
    if args.fleet_wide:
        return [Scope("fleet")]
    if args.site:
        return [config_layers.parse_scope({"site": args.site})]
    return [config_layers.parse_scope({"device": device}) for device in dict.fromkeys(args.device)]


def _progress(args: argparse.Namespace) -> Any:
    if args.json:
        return None

    def show(outcome: UpdateOutcome) -> None:
        states = ", ".join(f"{d} {s}" for d, s in sorted(outcome.states.items()))
        print(f"  {states}", file=sys.stderr, flush=True)

    return show


def update(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    try:
        scopes = _scopes(args)
        outcome = push(
            layout,
            scopes,
            args.wheels,
            deadline_s=args.deadline,
            allow_downgrade=args.allow_downgrade,
            wait_s=args.wait,
            progress=_progress(args),
        )
    except (SoftwareRejected, LayerRejected) as exc:
        print(f"healthhub-fleet update: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2, sort_keys=True))
    else:
        where = ", ".join(str(scope) for scope in scopes)
        print(f"release {outcome.version} pushed to {where}: {len(outcome.targets)} unit(s)")
        for device in outcome.healthy:
            print(f"  {device}: healthy on {outcome.version}")
        for device, why in sorted(outcome.failed.items()):
            print(f"  {device}: {why}")
        if args.wait is not None:
            for device in outcome.pending:
                print(f"  {device}: no outcome in time ({outcome.states.get(device, 'no report')})")
    if args.wait is None:
        return 0
    return 0 if not outcome.failed and not outcome.pending else 1


COMMANDS = {"update": update}
