"""The unit-side subcommands of ``healthhub-provision``: install, pack, firstboot, image-notes,
serial-ports, update-apply. They work on a unit (or a staging root), not on a fleet folder."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from importlib import resources
from pathlib import Path
from typing import Final

from healthhub.protocol import software
from healthhub.provisioning.bundle import pack, read_bundle
from healthhub.provisioning.firstboot import BUNDLE_NAME, DEFAULT_BOOT, pick_up
from healthhub.provisioning.install import install
from healthhub.provisioning.serial_names import attached
from healthhub.provisioning.target_root import TargetRoot
from healthhub.provisioning.update_apply import STATE_DIR, Updater
from healthhub.provisioning.update_health import SETTLE_S, HealthCheck

COMMANDS: Final = ("install", "pack", "firstboot", "image-notes", "serial-ports", "update-apply")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inst = sub.add_parser(
        "install",
        help="install the appliance on this unit or into a staging root",
        description="Install Health Hub: users healthhub and healthhub-ui, /etc/healthhub "
        "(0750, the key 0600), /var/lib/healthhub, the package in its own venv from a wheel "
        "set, the systemd units (enabled), udev and polkit rules and tmpfiles. With --bundle "
        "also the unit's enrolment. Idempotent: running it again changes nothing.",
    )
    inst.add_argument(
        "--bundle", type=Path, metavar="BUNDLE", help="enrolment bundle: folder or .tar"
    )
    inst.add_argument(
        "--root", type=Path, default=Path("/"), metavar="DIR",
        help="install into this staging root (an image) instead of / (default /)",
    )  # fmt: skip
    inst.add_argument(
        "--wheels", type=Path, metavar="DIR",
        help="the release's wheel set (`pip wheel -w DIR .`), installed offline",
    )  # fmt: skip
    inst.add_argument(
        "--serial-ports", type=Path, metavar="FILE",
        help="serial-ports.yaml: stable /dev/healthhub/* names (see `serial-ports`)",
    )  # fmt: skip
    inst.add_argument(
        "--python", default="/usr/bin/python3", help="the target's Python (default %(default)s)"
    )

    packer = sub.add_parser(
        "pack",
        help="pack an enrolment bundle as one tar for first boot",
        description=f"Check the bundle in BUNDLE_DIR (FLEET_DIR/devices/DEVICE) and write it as "
        f"one tar (mode 0600) to copy onto a card's boot partition as {BUNDLE_NAME}.",
    )
    packer.add_argument("bundle_dir", type=Path, metavar="BUNDLE_DIR")
    packer.add_argument("--out", type=Path, default=Path(BUNDLE_NAME), help="default %(default)s")

    first = sub.add_parser(
        "firstboot",
        help="install the bundle from the boot partition (healthhub-firstboot.service)",
        description=f"If BOOT/{BUNDLE_NAME} exists: check it, install it into /etc/healthhub, "
        "remove it, and leave healthhub-enrol-result.txt. Exit 0 if installed or none there, "
        "1 if refused.",
    )
    first.add_argument("--boot", type=Path, default=DEFAULT_BOOT, help=f"default {DEFAULT_BOOT}")
    first.add_argument("--root", type=Path, default=Path("/"), metavar="DIR")

    sub.add_parser(
        "image-notes",
        help="how to build a Raspberry Pi image: read-only root, data partition, and why",
    )
    sub.add_parser(
        "serial-ports",
        help="list the USB serial devices plugged in, as serial-ports.yaml matches them",
    )

    update = sub.add_parser(
        "update-apply",
        help="install the software update the agent verified (healthhub-update.service)",
        description="If the agent asked for a release (STATE_DIR/software/request.json): check "
        "its signed manifest and every wheel again, build it beside the running one, switch, "
        "restart the agent and UI, and check the new agent is connected and its readings "
        "confirmed within the manifest's deadline; if not, switch back and restart. A run "
        "cut short is finished by the next. Exit 0 healthy or nothing to do, 1 rolled back "
        "or refused.",
    )
    update.add_argument("--root", type=Path, default=Path("/"), metavar="DIR")
    update.add_argument(
        "--state-dir", default=STATE_DIR, help="the agent's state folder (default %(default)s)"
    )
    update.add_argument(
        "--restart-command", metavar="COMMAND",
        help="restarts the agent and UI (default: systemctl reset-failed, then systemctl "
        "restart healthhub-agent.service healthhub-kiosk.service)",
    )  # fmt: skip
    update.add_argument(
        "--settle-seconds", type=float, default=SETTLE_S,
        help="how long the new agent must stay healthy (default %(default)g)",
    )  # fmt: skip
    update.add_argument(
        "--python", default="/usr/bin/python3", help="the unit's Python (default %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    handlers = {
        "install": _install,
        "pack": _pack,
        "firstboot": _firstboot,
        "image-notes": _image_notes,
        "serial-ports": _serial_ports,
        "update-apply": _update_apply,
    }
    return handlers[args.command](args)


def _pack(args: argparse.Namespace) -> int:
    bundle = pack(args.bundle_dir, args.out)
    print(f"{args.out}: enrolment of {bundle.device} ({bundle.site}); it holds the key:")
    print(f"copy it to the card's boot partition as {BUNDLE_NAME} and keep the card safe")
    return 0


def _firstboot(args: argparse.Namespace) -> int:
    outcome = pick_up(TargetRoot(args.root.resolve()), args.boot)
    if outcome is None:
        print(f"no {BUNDLE_NAME} in {args.boot}: nothing to do")
        return 0
    print(outcome.message)
    return 0 if outcome.installed else 1


def _image_notes(args: argparse.Namespace) -> int:
    print(resources.files("healthhub.provisioning").joinpath("image_notes.md").read_text())
    return 0


def _serial_ports(args: argparse.Namespace) -> int:
    for device in attached():
        print(json.dumps(device))
    return 0


def _install(args: argparse.Namespace) -> int:
    target = TargetRoot(args.root.resolve())
    bundle = read_bundle(args.bundle) if args.bundle is not None else None
    serial_ports = args.serial_ports.read_bytes() if args.serial_ports is not None else None
    notes = install(
        target, bundle=bundle, wheels=args.wheels, serial_ports=serial_ports, python=args.python
    )
    for change in target.changes:
        print(change)
    if not target.changes:
        print("nothing changed: already installed")
    for note in notes:
        print(f"note: {note}")
    return 0


def _update_apply(args: argparse.Namespace) -> int:
    if args.settle_seconds < 0:
        print("healthhub-provision update-apply: --settle-seconds must be 0 or more",
              file=sys.stderr)  # fmt: skip
        return 2
    logging.basicConfig(  # to the journal: each step of the update, no secrets, no patients
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    target = TargetRoot(args.root.resolve())
    updater = Updater(target, state_dir=args.state_dir, python=args.python)
    updater.health = HealthCheck(
        updater.software / software.HEALTH_FILE, settle_s=args.settle_seconds
    )
    if args.restart_command is not None:
        try:
            argv = shlex.split(args.restart_command)
        except ValueError as exc:
            print(f"healthhub-provision update-apply: --restart-command: {exc}", file=sys.stderr)
            return 2
        updater.restart = [argv] if argv else []
    outcome = updater.run()
    for note in updater.notes:
        print(f"note: {note}")
    if outcome is None:
        print("no update requested: nothing to do")
        return 0
    print(f"update {outcome.version}: {outcome.state}: {outcome.detail}")
    return 0 if outcome.state == software.HEALTHY else 1
