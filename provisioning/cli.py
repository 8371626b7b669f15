"""``healthhub-provision``: create a fleet, enrol devices, configure and run the broker.

    healthhub-provision init FLEET_DIR --name NAME [--broker-host H] [--broker-port P]
    healthhub-provision device FLEET_DIR --site SITE --id DEVICE [--role kiosk|wall]
                                         [--simulate] [--sim-interval SECONDS]
    healthhub-provision broker FLEET_DIR [--bind ADDRESS] [--run]

Exit codes: 0 done, 1 refused or failed (nothing half-written), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_config import refresh_acl, write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess, reload_acl
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.errors import InvalidRequest
from healthhub.provisioning.fleet import init_fleet


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthhub-provision",
        description="Create a Health Hub fleet (CA, keys, broker), enrol devices, run the broker.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser(
        "init",
        help="create a fleet folder",
        description="Create FLEET_DIR: a CA, the broker's server certificate (SAN for the "
        "host, localhost and 127.0.0.1), the Ed25519 signing key, the X25519 ingest key "
        "pair, and client certificates for the bridge and the console. Refuses to "
        "overwrite an existing fleet.",
    )
    init.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    init.add_argument("--name", required=True, help="the fleet's name, e.g. the PCN's")
    init.add_argument("--broker-host", default="localhost", help="how devices reach the broker")
    init.add_argument("--broker-port", type=int, default=8883, help="TLS port (default 8883)")

    device = sub.add_parser(
        "device",
        help="enrol a device",
        description="Write an enrolment bundle to FLEET_DIR/devices/DEVICE/: device.yaml, "
        "the device's key and certificate (CN = DEVICE), the CA, the signing and ingest "
        "public keys. Updates the broker's ACL (and reloads a running broker).",
    )
    device.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    device.add_argument("--site", required=True, help="the practice the device belongs to")
    device.add_argument("--id", required=True, dest="device_id", help="the device id")
    device.add_argument("--role", choices=["kiosk", "wall"], default="wall")
    device.add_argument(
        "--simulate",
        action="store_true",
        help="simulated peripherals: BP monitor, scale, pulse oximeter, thermometer",
    )
    device.add_argument(
        "--sim-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between simulated readings per peripheral (default 5)",
    )

    broker = sub.add_parser(
        "broker",
        help="write (and optionally run) the broker configuration",
        description="Write FLEET_DIR/broker/mosquitto.conf and its ACL: a TLS listener that "
        "requires client certificates, identity from the certificate CN, persistence in "
        "FLEET_DIR/broker/data. --run also runs mosquitto in the foreground.",
    )
    broker.add_argument("fleet_dir", type=Path, metavar="FLEET_DIR")
    broker.add_argument("--bind", help="listen address (default 127.0.0.1 for localhost)")
    broker.add_argument("--run", action="store_true", help="run mosquitto in the foreground")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            layout = init_fleet(
                args.fleet_dir,
                name=args.name,
                broker_host=args.broker_host,
                broker_port=args.broker_port,
            )
            print(f"fleet {args.name!r} created in {layout.root}")
            return 0
        layout = FleetLayout(args.fleet_dir.resolve())
        if args.command == "device":
            return _device(layout, args)
        return _broker(layout, args)
    except InvalidRequest as exc:
        print(f"healthhub-provision {args.command}: {exc}", file=sys.stderr)
        return 2
    except HealthHubError as exc:
        print(f"healthhub-provision {args.command}: {exc}", file=sys.stderr)
        return 1


def _device(layout: FleetLayout, args: argparse.Namespace) -> int:
    path = enrol_device(
        layout,
        device=args.device_id,
        site=args.site,
        role=args.role,
        simulate=args.simulate,
        sim_interval_s=args.sim_interval,
    )
    print(f"device {args.device_id} enrolled: {path}")
    if refresh_acl(layout):
        if reload_acl(layout):
            print("broker ACL updated and reloaded")
        else:
            print(f"broker ACL updated; a running broker needs SIGHUP to allow {args.device_id}")
    return 0


def _broker(layout: FleetLayout, args: argparse.Namespace) -> int:
    conf = write_broker_config(layout, bind=args.bind)
    print(f"broker configuration written: {conf}")
    if not args.run:
        return 0
    broker = BrokerProcess(layout)
    broker.start()
    print(f"mosquitto running on port {broker.port} (pid {broker.pid}); Ctrl-C to stop")

    def forward(signum: int, frame: FrameType | None) -> None:
        broker.stop()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return broker.wait()


if __name__ == "__main__":
    raise SystemExit(main())
