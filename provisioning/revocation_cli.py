"""``healthhub-provision revoke`` and ``rotate``: the command lines of revocation and renewal.

healthhub-provision revoke FLEET_DIR --device DEVICE [--reason TEXT]
healthhub-provision rotate FLEET_DIR --device DEVICE [--wait SECONDS] [--restart-broker]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_control import BrokerAction, apply_revocation
from healthhub.provisioning.revocation import revoke_device
from healthhub.provisioning.rotation import DEFAULT_WAIT_S, rotate

COMMANDS = ("revoke", "rotate")


def add_parsers(sub: Any) -> None:
    revoke = sub.add_parser(
        "revoke",
        help="revoke a device (lost, stolen, retired): the broker refuses it from now on",
        description="Put every certificate issued to DEVICE on the fleet CA's revocation list "
        "(FLEET_DIR/ca/crl.pem), take its grants out of the broker's ACL, and restart a broker "
        "run by `broker --run` so that a connection DEVICE already has is closed (mosquitto "
        "checks the list only when a client connects; persistence keeps sessions and retained "
        "messages, and clients reconnect). A broker started otherwise is sent SIGHUP, which "
        "refuses new connections, and must be restarted by you. What DEVICE sent before stays "
        "in the practice store. The id is never enrolled again; revoking twice changes "
        "nothing.",
    )
    revoke.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    revoke.add_argument("--device", required=True, metavar="DEVICE", help="the device id")
    revoke.add_argument(
        "--reason", default="", metavar="TEXT", help="why, for the fleet's records (one line)"
    )

    rotate_cmd = sub.add_parser(
        "rotate",
        help="renew a device's certificate over the air (its new key never leaves it)",
        description="Ask DEVICE (online) for a certificate request made with a new key it "
        "keeps, issue the certificate (the enrolment profile), send it, and wait until the "
        "device has reconnected with it; then revoke its previous certificates (superseded) "
        "and have the broker re-read the revocation list (SIGHUP). Exit 1, with nothing "
        "revoked, if the device refuses, fails or does not answer in time.",
    )
    rotate_cmd.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    rotate_cmd.add_argument("--device", required=True, metavar="DEVICE", help="the device id")
    rotate_cmd.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long to wait for each of the device's answers (default %(default)g)",
    )
    rotate_cmd.add_argument(
        "--restart-broker",
        action="store_true",
        help="also restart a broker run by `broker --run`, closing any connection the old "
        "key still has (when it may have leaked)",
    )


def _broker_lines(action: BrokerAction) -> list[str]:
    return [f"broker: {action.done}; {action.note}"]


def run(layout: FleetLayout, args: argparse.Namespace) -> int:
    if args.command == "revoke":
        revocation = revoke_device(layout, args.device, reason=args.reason)
        if revocation.newly_revoked or revocation.crl_changed:
            serials = ", ".join(revocation.newly_revoked) or "none new"
            print(f"device {revocation.device} revoked (certificates {serials})", flush=True)
            action = apply_revocation(layout, cut_sessions=True)
        else:
            print(
                f"device {revocation.device} was already revoked at {revocation.revoked_at} "
                f"(certificates {', '.join(revocation.serials) or 'none'}); nothing changed",
                flush=True,
            )
            action = apply_revocation(layout, cut_sessions=False)
        print(f"revocation list: {layout.crl}")
        for line in _broker_lines(action):
            print(line)
        return 0
    result = rotate(
        layout,
        args.device,
        wait_s=args.wait,
        restart_broker=args.restart_broker,
        say=lambda line: print(line, flush=True),
    )
    print(
        f"device {result.device} now uses certificate {result.serial} "
        f"(valid until {result.not_after})"
    )
    print(f"revoked as superseded: {', '.join(result.superseded) or 'none'}")
    for line in _broker_lines(result.broker):
        print(line)
    return 0
