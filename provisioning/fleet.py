"""``healthhub-provision init``: a new fleet folder with every key and certificate it needs."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from healthhub.protocol.clock import now_utc
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import write_key
from healthhub.protocol.sealed import generate_keypair
from healthhub.protocol.signed import generate_signing_key
from healthhub.protocol.topics import BRIDGE_IDENTITY, CONSOLE_IDENTITY
from healthhub.provisioning.certificates import (
    SERVER_YEARS,
    create_ca,
    issue,
    write_cert,
    write_private_key,
)
from healthhub.provisioning.errors import InvalidRequest, ProvisioningError


def init_fleet(root: Path, *, name: str, broker_host: str, broker_port: int) -> FleetLayout:
    """Create a fleet; refuses if ``root`` already holds one (nothing is overwritten)."""
    layout = FleetLayout(Path(root).resolve())
    if layout.manifest.exists() or layout.ca_key.exists():
        raise ProvisioningError(f"{layout.root} already holds a fleet; refusing to overwrite it")
    if not name.strip():
        raise InvalidRequest("the fleet needs a name (--name)")
    if not 1 <= broker_port <= 65535:
        raise InvalidRequest(f"broker port {broker_port} is not a TCP port")
    for folder, mode in (
        (layout.root, 0o755),
        (layout.ca_cert.parent, 0o700),
        (layout.signing_key.parent, 0o700),
        (layout.broker_dir, 0o750),
        (layout.client("bridge").cert.parent, 0o700),
        (layout.devices_dir, 0o755),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, mode)

    ca = create_ca(name)
    write_private_key(layout.ca_key, ca.key)
    write_cert(layout.ca_cert, ca.cert)

    hosts = [broker_host, "localhost", "127.0.0.1"]
    server_cert, server_key = issue(ca, broker_host, server_hosts=hosts, years=SERVER_YEARS)
    write_private_key(layout.server_key, server_key)
    write_cert(layout.server_cert, server_cert)

    for client, common_name in (("bridge", BRIDGE_IDENTITY), ("console", CONSOLE_IDENTITY)):
        files = layout.client(client)
        cert, key = issue(ca, common_name, unit="practice")
        write_private_key(files.key, key)
        write_cert(files.cert, cert)

    seed, verify_key = generate_signing_key()
    write_key(layout.signing_key, seed, private=True)
    write_key(layout.signing_pub, verify_key, private=False)
    ingest_private, ingest_public = generate_keypair()
    write_key(layout.ingest_key, ingest_private, private=True)
    write_key(layout.ingest_pub, ingest_public, private=False)

    # fleet.yaml last: its presence says the fleet is complete.
    manifest = {
        "name": name,
        "broker": {"host": broker_host, "port": broker_port},
        "created_at": now_utc(),
    }
    text = "# Health Hub fleet, written by healthhub-provision init.\n" + yaml.safe_dump(
        manifest, sort_keys=False
    )
    write_atomic(layout.manifest, text.encode("utf-8"))
    return layout
