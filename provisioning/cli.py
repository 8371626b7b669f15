"""``healthhub-provision``: create a fleet, enrol devices, configure and run the broker,
revoke devices and renew their certificates.

    healthhub-provision init FLEET_DIR --name NAME [--broker-host H] [--broker-port P]
    healthhub-provision device FLEET_DIR --site SITE --id DEVICE [--role kiosk|wall]
                                         [--simulate] [--sim-interval SECONDS]
    healthhub-provision broker FLEET_DIR [--bind ADDRESS] [--run]
    healthhub-provision revoke FLEET_DIR --device DEVICE [--reason TEXT]
    healthhub-provision rotate FLEET_DIR --device DEVICE [--wait SECONDS] [--restart-broker]
    healthhub-provision install [--bundle BUNDLE] [--root DIR] [--wheels DIR]
                                [--serial-ports FILE]
    healthhub-provision pack BUNDLE_DIR [--out healthhub-enrol.tar]
    healthhub-provision firstboot [--boot /boot/firmware] [--root DIR]
    healthhub-provision image-notes | serial-ports

Exit codes: 0 done, 1 refused or failed (nothing half-written), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.fleet_layout import FleetFolderError, FleetLayout
from healthhub.provisioning import install_cli, revocation_cli
from healthhub.provisioning.broker_config import refresh_acl, write_broker_config
from healthhub.provisioning.broker_control import run_supervised
from healthhub.provisioning.broker_process import BrokerProcess, reload_acl
from healthhub.provisioning.enrolment import DEFAULT_SIM_INTERVAL_S, ROLES, enrol_device
from healthhub.provisioning.errors import InvalidRequest
from healthhub.provisioning.fleet import init_fleet

PROG = "healthhub-provision"
EXIT_REFUSED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Create a Health Hub fleet (CA, keys, certificates), enrol devices, "
        "configure and run the practice broker (mosquitto), revoke devices and renew their "
        "certificates.",
        epilog="Exit codes: 0 done, 1 refused or failed (nothing half-written), 2 bad arguments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser(
        "init",
        help="create a fleet folder",
        description="Create FLEET_DIR (absent or empty): a CA (EC P-256, 10 years), the "
        "broker's server certificate (SANs: the broker host, localhost, 127.0.0.1), the "
        "Ed25519 signing key, the X25519 ingest key pair, client certificates for the bridge "
        "and the console, and fleet.yaml. Refuses to overwrite anything.",
    )
    init.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    init.add_argument("--name", required=True, help="the fleet's name, e.g. the PCN's")
    init.add_argument(
        "--broker-host",
        default="localhost",
        metavar="HOST",
        help="host name or IP address devices use to reach the broker (default localhost)",
    )
    init.add_argument(
        "--broker-port", type=int, default=8883, metavar="PORT", help="TLS port (default 8883)"
    )

    device = sub.add_parser(
        "device",
        help="enrol a device",
        description="Write an enrolment bundle to FLEET_DIR/devices/DEVICE/: device.yaml, the "
        "device's key and certificate (CN = DEVICE), the CA, the signing and ingest public "
        "keys. Copy the folder to the device as /etc/healthhub/. If the broker is configured, "
        "its ACL is updated and a broker started by `broker --run` reloads it. An id that is "
        "enrolled already, or was revoked, is refused: a device keeps its id for life.",
    )
    device.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    device.add_argument("--site", required=True, help="the practice (site id) it belongs to")
    device.add_argument(
        "--id", required=True, dest="device_id", metavar="DEVICE", help="the device id"
    )
    device.add_argument("--role", choices=ROLES, default="wall", help="default: wall")
    device.add_argument(
        "--simulate",
        action="store_true",
        help="simulated peripherals: BP monitor, scale, pulse oximeter, thermometer",
    )
    device.add_argument(
        "--sim-interval",
        type=float,
        default=DEFAULT_SIM_INTERVAL_S,
        metavar="SECONDS",
        help="seconds between simulated readings per peripheral (default 5)",
    )

    broker = sub.add_parser(
        "broker",
        help="write (and optionally run) the broker configuration",
        description="Write FLEET_DIR/broker/mosquitto.conf and its ACL: one TLS listener that "
        "requires client certificates from the fleet CA, the certificate CN as the user, "
        "persistence in FLEET_DIR/broker/data/, the CA's revocation list. With --run, also "
        "run mosquitto in the foreground until SIGTERM or Ctrl-C, restarting it when "
        "`revoke` asks (SIGUSR1).",
    )
    broker.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    broker.add_argument(
        "--bind",
        metavar="ADDRESS",
        help="listen address (default 127.0.0.1 if the broker host is localhost or "
        "127.0.0.1, else 0.0.0.0)",
    )
    broker.add_argument("--run", action="store_true", help="run mosquitto in the foreground")
    revocation_cli.add_parsers(sub)
    install_cli.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in install_cli.COMMANDS:
            return install_cli.run(args)
        if args.command == "init":
            return _init(args)
        layout = FleetLayout(args.fleet_dir.resolve())
        if not layout.manifest.exists():
            raise FleetFolderError(
                f"{layout.root} is not a fleet folder (no fleet.yaml): "
                f"create one with `{PROG} init {args.fleet_dir} --name NAME`"
            )
        if args.command in revocation_cli.COMMANDS:
            return revocation_cli.run(layout, args)
        return _device(layout, args) if args.command == "device" else _broker(layout, args)
    except InvalidRequest as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (HealthHubError, OSError) as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _init(args: argparse.Namespace) -> int:
    layout = init_fleet(
        args.fleet_dir, name=args.name, broker_host=args.broker_host, broker_port=args.broker_port
    )
    print(f"fleet {args.name!r} created in {layout.root}")
    print(f"next: `{PROG} device {layout.root} --site SITE --id DEVICE` for each device, then")
    print(f"      `{PROG} broker {layout.root} --run` to run the practice broker")
    return 0


def _device(layout: FleetLayout, args: argparse.Namespace) -> int:
    path = enrol_device(
        layout,
        device=args.device_id,
        site=args.site,
        role=args.role,
        simulate=args.simulate,
        sim_interval_s=args.sim_interval,
    )
    print(f"device {args.device_id} enrolled: copy {path.parent}/ to the device")
    if not refresh_acl(layout):
        print(f"no broker config yet: `{PROG} broker {layout.root}` writes one that allows it")
    elif reload_acl(layout):
        print("broker ACL updated; the running broker is reloading it")
    else:
        print(
            "broker ACL updated; no broker started by `broker --run` is running: a broker "
            f"started otherwise needs SIGHUP (or a restart) before {args.device_id} may publish"
        )
    return 0


def _broker(layout: FleetLayout, args: argparse.Namespace) -> int:
    conf = write_broker_config(layout, bind=args.bind)
    print(f"broker configuration written: {conf}", flush=True)
    if not args.run:
        return 0
    broker = BrokerProcess(layout)  # mosquitto's log goes to our stdout/stderr
    return run_supervised(broker)


if __name__ == "__main__":
    raise SystemExit(main())
