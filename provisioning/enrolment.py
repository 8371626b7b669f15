"""``healthhub-provision device``: an enrolment bundle for one device.

The bundle holds what the device needs and nothing more: its configuration,
its own key and certificate (CN = device id), the fleet CA, the fleet signing
public key (to verify desired documents) and the ingest public key (to seal
clinical bodies). Paths in ``device.yaml`` are relative to the bundle.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from healthhub.protocol import topics
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning.certificates import issue, load_issuer, write_cert, write_private_key
from healthhub.provisioning.errors import InvalidRequest, ProvisioningError

HEADER = (
    "# Health Hub device configuration, written by healthhub-provision.\n"
    "# Identity, broker and trust anchors are local-only: "
    "remote configuration never changes them.\n"
)

SIMULATED = (
    ("bp-monitor", "blood_pressure"),
    ("scale", "scale"),
    ("oximeter", "pulse_oximeter"),
    ("thermometer", "thermometer"),
)


def device_config(
    *,
    device: str,
    site: str,
    role: str,
    broker_host: str,
    broker_port: int,
    simulate: bool,
    sim_interval_s: float,
) -> dict[str, Any]:
    interval: float | int = int(sim_interval_s) if sim_interval_s.is_integer() else sim_interval_s
    peripherals = [
        {"name": name, "driver": driver, "backend": "simulator", "interval_s": interval}
        for name, driver in SIMULATED
    ]
    return {
        "device": {"id": device, "site": site, "role": role},
        "broker": {
            "host": broker_host,
            "port": broker_port,
            "ca_file": "ca.crt",
            "cert_file": "device.crt",
            "key_file": "device.key",
        },
        "trust": {
            "signing_public_key_file": "signing.pub",
            "ingest_public_key_file": "ingest.pub",
        },
        "state_dir": "state",
        "outbox": {"max_messages": 100_000, "resend_after_s": 30},
        "telemetry": {"interval_s": 30},
        "peripherals": peripherals if simulate else [],
    }


def enrol_device(
    layout: FleetLayout,
    *,
    device: str,
    site: str,
    role: str = "wall",
    simulate: bool = False,
    sim_interval_s: float = 5.0,
) -> Path:
    """Write the bundle; returns the path of its device.yaml."""
    try:
        topics.validate_id(device, what="device id")
        topics.validate_id(site, what="site id")
    except ProtocolError as exc:
        raise InvalidRequest(str(exc)) from None
    if role not in ("kiosk", "wall"):
        raise InvalidRequest(f"role must be kiosk or wall, not {role!r}")
    if sim_interval_s <= 0:
        raise InvalidRequest("--sim-interval must be above 0")
    manifest = load_manifest(layout)
    bundle = layout.device_dir(device)
    if bundle.exists():
        raise ProvisioningError(f"device {device} is already enrolled ({bundle})")
    issuer = load_issuer(layout.ca_cert, layout.ca_key)
    staging = bundle.with_name(f".{device}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    cert, key = issue(issuer, device, unit=site)
    write_private_key(staging / "device.key", key)
    write_cert(staging / "device.crt", cert)
    shutil.copyfile(layout.ca_cert, staging / "ca.crt")
    shutil.copyfile(layout.signing_pub, staging / "signing.pub")
    shutil.copyfile(layout.ingest_pub, staging / "ingest.pub")
    config = device_config(
        device=device,
        site=site,
        role=role,
        broker_host=manifest.broker_host,
        broker_port=manifest.broker_port,
        simulate=simulate,
        sim_interval_s=sim_interval_s,
    )
    text = HEADER + yaml.safe_dump(config, sort_keys=False)
    write_atomic(staging / "device.yaml", text.encode("utf-8"), mode=0o640)
    os.rename(staging, bundle)  # the bundle appears whole or not at all
    return bundle / "device.yaml"


def enrolled_devices(layout: FleetLayout) -> dict[str, str]:
    """Enrolled device id -> site, from the bundles in the fleet folder."""
    found: dict[str, str] = {}
    for path in sorted(layout.devices_dir.glob("*/device.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found[str(data["device"]["id"])] = str(data["device"]["site"])
    return found
