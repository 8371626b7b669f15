"""``healthhub-provision device``: an enrolment bundle for one device.

The bundle holds what the device needs and nothing more: its configuration,
its own key and certificate (CN = device id, OU = site), the fleet CA, the
fleet signing public key (to verify desired documents) and the ingest public
key (to seal clinical bodies). Paths in ``device.yaml`` are relative to the
bundle. The bundle is written into a staging folder and renamed into place,
so ``devices/{id}/`` exists whole or not at all. The certificate is recorded in the
fleet's index of issued certificates first, so that revoking the device finds it.

A device id is for life: an id already enrolled is refused, and so is a revoked one even
if its bundle was deleted (``healthhub-provision revoke``): the replacement unit gets a new
id, and the practice's records of the old unit stay its own.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from healthhub.protocol import topics
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.protocol.fleet_layout import FleetFolderError, FleetLayout, load_manifest
from healthhub.provisioning.certificate_index import revoked_devices, updating
from healthhub.provisioning.certificates import issue, load_issuer, write_cert, write_private_key
from healthhub.provisioning.errors import AlreadyExists, InvalidRequest

HEADER = (
    "# Health Hub device configuration, written by healthhub-provision.\n"
    "# Identity, broker and trust anchors are local-only: "
    "remote configuration never changes them.\n"
)
ROLES = ("kiosk", "wall")
DEFAULT_SIM_INTERVAL_S = 5.0

#: The simulated peripherals of ``--simulate``: (name, driver).
SIMULATED = (
    ("bp-monitor", "blood_pressure"),
    ("scale", "scale"),
    ("oximeter", "pulse_oximeter"),
    ("thermometer", "thermometer"),
)

# Bundle file names, as device.yaml refers to them.
CONFIG_FILE = "device.yaml"
CERT_FILE = "device.crt"
KEY_FILE = "device.key"
CA_FILE = "ca.crt"
SIGNING_PUB_FILE = "signing.pub"
INGEST_PUB_FILE = "ingest.pub"


class _IndentedListDumper(yaml.SafeDumper):
    """safe_dump, but list items indented under their key (as people write YAML)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def device_config(
    *,
    device: str,
    site: str,
    role: str,
    broker_host: str,
    broker_port: int,
    simulate: bool,
    sim_interval_s: float = DEFAULT_SIM_INTERVAL_S,
) -> dict[str, Any]:
    """The content of a new device's ``device.yaml``."""
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
            "ca_file": CA_FILE,
            "cert_file": CERT_FILE,
            "key_file": KEY_FILE,
        },
        "trust": {
            "signing_public_key_file": SIGNING_PUB_FILE,
            "ingest_public_key_file": INGEST_PUB_FILE,
        },
        "state_dir": "state",
        "outbox": {"max_messages": 100_000, "resend_after_s": 30},
        "telemetry": {"interval_s": 30},
        "peripherals": peripherals if simulate else [],
    }


def render_device_yaml(config: dict[str, Any]) -> str:
    """``device.yaml`` text: the header comment, then the settings in the order written."""
    body = yaml.dump(
        config, Dumper=_IndentedListDumper, sort_keys=False, allow_unicode=True, width=1000
    )
    return HEADER + body


def _validate_request(device: str, site: str, role: str, sim_interval_s: float) -> None:
    try:
        topics.validate_id(device, what="device id")
        topics.validate_id(site, what="site id")
    except ProtocolError as exc:
        raise InvalidRequest(str(exc)) from None
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not math.isfinite(sim_interval_s) or sim_interval_s <= 0:
        raise InvalidRequest(
            f"--sim-interval must be a number of seconds above 0, not {sim_interval_s}"
        )


def enrol_device(
    layout: FleetLayout,
    *,
    device: str,
    site: str,
    role: str = "wall",
    simulate: bool = False,
    sim_interval_s: float = DEFAULT_SIM_INTERVAL_S,
) -> Path:
    """Write the bundle ``devices/{device}/``; returns the path of its ``device.yaml``.

    :class:`InvalidRequest` for a bad id, site, role or interval;
    :class:`AlreadyExists` if the device is enrolled or was revoked; :class:`FleetFolderError`
    if ``layout`` is not a fleet. The broker's ACL is not touched here (see
    :func:`healthhub.provisioning.broker_config.refresh_acl`).
    """
    _validate_request(device, site, role, sim_interval_s)
    manifest = load_manifest(layout)
    bundle = layout.device_dir(device)
    revoked = revoked_devices(layout).get(device)
    if revoked is not None:
        raise AlreadyExists(
            f"device {device} was revoked at {revoked.at}; a revoked id is never enrolled "
            "again: enrol the replacement unit under a new id"
        )
    if bundle.exists():
        raise AlreadyExists(
            f"device {device} is already enrolled ({bundle}); choose another id "
            "(a device keeps its id for life)"
        )
    issuer = load_issuer(layout.ca_cert, layout.ca_key)
    if not layout.devices_dir.is_dir():
        raise FleetFolderError(f"{layout.devices_dir} missing: {layout.root} is not a whole fleet")
    staging = Path(
        tempfile.mkdtemp(prefix=f".{device}.", suffix=".partial", dir=layout.devices_dir)
    )
    try:
        cert, key = issue(issuer, device, unit=site)
        with updating(layout) as index:
            index.record(cert, "device")
        write_private_key(staging / KEY_FILE, key)
        write_cert(staging / CERT_FILE, cert)
        for source, name in (
            (layout.ca_cert, CA_FILE),
            (layout.signing_pub, SIGNING_PUB_FILE),
            (layout.ingest_pub, INGEST_PUB_FILE),
        ):
            write_atomic(staging / name, source.read_bytes(), mode=0o644)
        config = device_config(
            device=device,
            site=site,
            role=role,
            broker_host=manifest.broker_host,
            broker_port=manifest.broker_port,
            simulate=simulate,
            sim_interval_s=sim_interval_s,
        )
        write_atomic(staging / CONFIG_FILE, render_device_yaml(config).encode("utf-8"), mode=0o644)
        try:
            os.rename(staging, bundle)  # the bundle appears whole or not at all
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            raise AlreadyExists(f"device {device} was enrolled meanwhile ({bundle})") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_directory(layout.devices_dir)
    return bundle / CONFIG_FILE


def enrolled_devices(layout: FleetLayout) -> dict[str, str]:
    """Enrolled device id -> site, from the bundles' ``device.yaml`` files, sorted by id.

    Staging folders (hidden) are not enrolments. A bundle whose ``device.yaml``
    is unreadable or names another device raises :class:`FleetFolderError`:
    the ACL must not silently lose a device.
    """
    found: dict[str, str] = {}
    if not layout.devices_dir.is_dir():
        return found
    for path in sorted(layout.devices_dir.glob(f"*/{CONFIG_FILE}")):
        if path.parent.name.startswith("."):
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            device = topics.validate_id(str(data["device"]["id"]), what="device id")
            site = topics.validate_id(str(data["device"]["site"]), what="site id")
        except (OSError, yaml.YAMLError, KeyError, TypeError, ProtocolError) as exc:
            raise FleetFolderError(
                f"{path} is broken ({exc}); fix or re-enrol the device"
            ) from None
        if device != path.parent.name:
            raise FleetFolderError(
                f"{path} says device {device!r} but is in folder {path.parent.name!r}"
            )
        found[device] = site
    return found
