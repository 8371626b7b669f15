"""``healthhub-provision init``: a new fleet folder with every key and certificate it needs.

The fleet is written into a hidden staging folder beside FLEET_DIR and renamed
into place when complete, so FLEET_DIR holds a whole fleet or none: an init
that fails half-way leaves nothing that a second init would refuse.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from healthhub.protocol.clock import now_utc
from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import write_key
from healthhub.protocol.sealed import generate_keypair
from healthhub.protocol.signed import generate_signing_key
from healthhub.protocol.topics import BRIDGE_IDENTITY, CONSOLE_IDENTITY
from healthhub.provisioning.addresses import validate_host, validate_port
from healthhub.provisioning.certificate_index import CertificateIndex, write_index
from healthhub.provisioning.certificates import (
    NAME_MAX,
    SERVER_YEARS,
    create_ca,
    issue,
    write_cert,
    write_private_key,
)
from healthhub.provisioning.errors import AlreadyExists, InvalidRequest
from healthhub.provisioning.revocation_list import write_crl

MANIFEST_HEADER = "# Health Hub fleet, written by healthhub-provision init.\n"

#: Folder -> mode. Secrets live in ca/, keys/ and clients/, readable by the owner only.
FOLDER_MODES = {
    "ca": 0o700,
    "keys": 0o700,
    "clients": 0o700,
    "broker": 0o750,
    "devices": 0o755,
}


def validate_fleet_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise InvalidRequest(
            f"fleet name {name!r} must be 1-{NAME_MAX} printable characters (e.g. 'North PCN')"
        )
    return name


def _refuse_existing(root: Path) -> None:
    if not root.exists():
        return
    if FleetLayout(root).manifest.exists():
        raise AlreadyExists(
            f"{root} already holds a fleet; refusing to overwrite it "
            "(enrol devices with `healthhub-provision device`, or choose a new FLEET_DIR)"
        )
    if not root.is_dir() or any(root.iterdir()):
        raise AlreadyExists(
            f"{root} exists and is not an empty folder; refusing to overwrite it "
            "(choose a new FLEET_DIR)"
        )


def init_fleet(
    root: Path, *, name: str, broker_host: str = "localhost", broker_port: int = 8883
) -> FleetLayout:
    """Create a fleet in ``root`` (absent or empty); returns its layout.

    Raises :class:`InvalidRequest` for a bad name, host or port and
    :class:`AlreadyExists` if ``root`` holds anything; nothing is changed then.
    """
    name = validate_fleet_name(name)
    validate_host(broker_host)
    validate_port(broker_port)
    root = Path(root).resolve()
    _refuse_existing(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        _write_fleet(FleetLayout(staging), name, broker_host, broker_port)
        os.chmod(staging, 0o755)  # noqa: S103 - the secrets are in 0700 folders below
        _refuse_existing(root)  # nobody made it meanwhile
        # rename(2) replaces an empty directory, so an empty FLEET_DIR is fine too.
        try:
            os.rename(staging, root)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
            raise AlreadyExists(f"{root} appeared while the fleet was made; refusing") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    with contextlib.suppress(OSError):
        fsync_directory(root.parent)
    return FleetLayout(root)


def _write_fleet(layout: FleetLayout, name: str, broker_host: str, broker_port: int) -> None:
    for folder, mode in FOLDER_MODES.items():
        path = layout.root / folder
        path.mkdir(mode=mode)
        os.chmod(path, mode)  # mkdir's mode is filtered by the umask

    ca = create_ca(name)
    write_private_key(layout.ca_key, ca.key)
    write_cert(layout.ca_cert, ca.cert)

    # Devices reach the broker by broker_host; the practice's own services and
    # the tests reach it on this machine by localhost or 127.0.0.1.
    hosts = [broker_host, "localhost", "127.0.0.1"]
    server_cert, server_key = issue(
        ca, broker_host, server_hosts=hosts, unit="broker", years=SERVER_YEARS
    )
    write_private_key(layout.server_key, server_key)
    write_cert(layout.server_cert, server_cert)
    issued = CertificateIndex()
    issued.record(server_cert, "server")

    for client, common_name in (("bridge", BRIDGE_IDENTITY), ("console", CONSOLE_IDENTITY)):
        files = layout.client(client)
        cert, key = issue(ca, common_name, unit="practice")
        write_private_key(files.key, key)
        write_cert(files.cert, cert)
        issued.record(cert, "client")
    # An empty CRL from the start: the broker's `crlfile` must exist for it to start.
    write_crl(layout, issued)
    write_index(layout, issued)

    seed, verify_key = generate_signing_key()  # nacl.signing.SigningKey.generate()
    write_key(layout.signing_key, seed, private=True)
    write_key(layout.signing_pub, verify_key, private=False)
    ingest_private, ingest_public = generate_keypair()  # nacl.public.PrivateKey.generate()
    write_key(layout.ingest_key, ingest_private, private=True)
    write_key(layout.ingest_pub, ingest_public, private=False)

    manifest = {
        "name": name,
        "broker": {"host": broker_host, "port": broker_port},
        "created_at": now_utc(),
    }
    text = MANIFEST_HEADER + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    write_atomic(layout.manifest, text.encode("utf-8"))
