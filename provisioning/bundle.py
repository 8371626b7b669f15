"""An enrolment bundle on its way onto a unit: read (folder or tar), checked whole, packed.

A bundle is what ``healthhub-provision device`` writes to ``FLEET_DIR/devices/{id}/``; for
first boot it travels as one tar (``healthhub-provision pack``), dropped on the card's boot
partition. Before anything is installed the bundle is checked whole: only the files a
bundle has, each a plain file of modest size (a tar member that is a link, a device, a
folder or a path with ``..`` refuses the bundle); ``device.yaml`` valid as the agent reads it;
the certificate issued by the bundle's CA to the device ``device.yaml`` names, in date, and
matching the private key; the two public keys readable. A bundle that fails is
:class:`BundleInvalid` with the reason, and nothing is installed.
"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from healthhub.protocol import topics
from healthhub.protocol.errors import HealthHubError, ProtocolError
from healthhub.protocol.files import write_atomic
from healthhub.provisioning.enrolment import (
    CA_FILE,
    CERT_FILE,
    CONFIG_FILE,
    INGEST_PUB_FILE,
    KEY_FILE,
    SIGNING_PUB_FILE,
)
from healthhub.provisioning.errors import ProvisioningError
from healthhub.provisioning.serial_names import SerialPortsInvalid
from healthhub.provisioning.serial_names import parse as parse_serial_ports

#: The files of a bundle; the optional one maps serial units to stable names.
SERIAL_PORTS_FILE: Final = "serial-ports.yaml"
REQUIRED: Final = (CONFIG_FILE, CERT_FILE, KEY_FILE, CA_FILE, SIGNING_PUB_FILE, INGEST_PUB_FILE)
OPTIONAL: Final = (SERIAL_PORTS_FILE,)
#: Each file is a few kilobytes; anything bigger is not a bundle.
MAX_FILE_BYTES: Final = 256 * 1024


class BundleInvalid(ProvisioningError):
    """The bundle is incomplete, tampered with, for another fleet or device, or expired."""


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]
    device: str
    site: str
    not_after: dt.datetime

    @property
    def config(self) -> dict[str, object]:
        loaded = yaml.safe_load(self.files[CONFIG_FILE])
        assert isinstance(loaded, dict)
        return loaded


def read_bundle(source: Path, *, now: dt.datetime | None = None, dates: bool = True) -> Bundle:
    """A checked bundle from a bundle folder or a tar of one; :class:`BundleInvalid` else.

    Without ``dates`` the certificate's validity period is not checked: at first boot a Pi's
    clock is the one its image saved, before the certificate was issued, and NTP has not
    answered yet. The broker checks the dates against a clock it can trust."""
    source = Path(source)
    if source.is_dir():
        files = _from_folder(source)
    elif source.is_file():
        files = _from_tar(source)
    else:
        raise BundleInvalid(f"{source}: no such bundle (a folder or a .tar)")
    return check(files, now=now, dates=dates)


def _from_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in (*REQUIRED, *OPTIONAL):
        path = folder / name
        if not path.exists() and name in OPTIONAL:
            continue
        if path.is_symlink() or not path.is_file():
            raise BundleInvalid(f"{path}: missing, or not a plain file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BundleInvalid(f"{path}: larger than {MAX_FILE_BYTES} bytes")
        files[name] = path.read_bytes()
    return files


def _from_tar(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name in ("", "."):
                    continue
                if name not in (*REQUIRED, *OPTIONAL):
                    raise BundleInvalid(f"{path}: unexpected member {member.name!r}")
                if not member.isreg():
                    raise BundleInvalid(f"{path}: member {name} is not a plain file")
                if member.size > MAX_FILE_BYTES or name in files:
                    raise BundleInvalid(f"{path}: member {name} is too large or repeated")
                handle = archive.extractfile(member)
                assert handle is not None  # a regular member always has data
                files[name] = handle.read()
    except (tarfile.TarError, EOFError) as exc:
        raise BundleInvalid(f"{path}: not a readable tar ({exc})") from None
    return files


def check(files: dict[str, bytes], *, now: dt.datetime | None = None, dates: bool = True) -> Bundle:
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise BundleInvalid(f"the bundle lacks {', '.join(missing)}")
    device, site = _check_config(files[CONFIG_FILE])
    when = (now or dt.datetime.now(dt.UTC)) if dates else None
    not_after = _check_identity(files, device=device, now=when)
    _check_public_keys(files)
    if SERIAL_PORTS_FILE in files:
        try:
            parse_serial_ports(files[SERIAL_PORTS_FILE])
        except SerialPortsInvalid as exc:
            raise BundleInvalid(str(exc)) from None
    return Bundle(files=dict(files), device=device, site=site, not_after=not_after)


def _check_config(device_yaml: bytes) -> tuple[str, str]:
    """The device and site ``device.yaml`` names, and its identity and trust entries naming
    the bundle's own files (what enrolment writes). Provisioning stays apart from the agent
    (DESIGN.md), so the rest of the file is the agent's to check when it starts, where a
    fault is reported with its field."""
    try:
        config = yaml.safe_load(device_yaml)
    except yaml.YAMLError as exc:
        raise BundleInvalid(f"device.yaml is not valid YAML ({exc})") from None
    try:
        device = topics.validate_id(config["device"]["id"], what="device id")
        site = topics.validate_id(config["device"]["site"], what="site id")
        named = {
            config["broker"]["ca_file"]: CA_FILE,
            config["broker"]["cert_file"]: CERT_FILE,
            config["broker"]["key_file"]: KEY_FILE,
            config["trust"]["signing_public_key_file"]: SIGNING_PUB_FILE,
            config["trust"]["ingest_public_key_file"]: INGEST_PUB_FILE,
        }
    except (KeyError, TypeError) as exc:
        raise BundleInvalid(f"device.yaml lacks {exc} (device, broker or trust)") from None
    except ProtocolError as exc:
        raise BundleInvalid(f"device.yaml: {exc}") from None
    wrong = sorted(f"{v} (not {k!r})" for k, v in named.items() if k != v)
    if wrong:
        raise BundleInvalid(f"device.yaml must name the bundle's files: {', '.join(wrong)}")
    return device, site


def _check_identity(
    files: dict[str, bytes], *, device: str, now: dt.datetime | None
) -> dt.datetime:
    try:
        ca = x509.load_pem_x509_certificate(files[CA_FILE])
        cert = x509.load_pem_x509_certificate(files[CERT_FILE])
        key = serialization.load_pem_private_key(files[KEY_FILE], password=None)
    except ValueError as exc:
        raise BundleInvalid(f"a certificate or the key is not valid PEM ({exc})") from None
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise BundleInvalid("device.crt was not issued by the bundle's ca.crt") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if [n.value for n in names] != [device]:
        raise BundleInvalid(f"device.crt is not the certificate of device {device}")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise BundleInvalid("device.key is not the key of device.crt")
    if now is not None and not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise BundleInvalid(
            f"device.crt is valid from {cert.not_valid_before_utc:%Y-%m-%d} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d}, not now: check the clock or re-enrol"
        )
    return cert.not_valid_after_utc


def _check_public_keys(files: dict[str, bytes]) -> None:
    from healthhub.protocol.keys import decode_key

    for name in (SIGNING_PUB_FILE, INGEST_PUB_FILE):
        try:
            decode_key(files[name].decode("ascii"), source=name)
        except (HealthHubError, UnicodeDecodeError) as exc:
            raise BundleInvalid(f"{name}: {exc}") from None


def pack(folder: Path, out: Path) -> Bundle:
    """Write the bundle in ``folder`` (checked first) as one tar at ``out``, mode 0600."""
    bundle = read_bundle(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(bundle.files):
            info = tarfile.TarInfo(name)
            info.size = len(bundle.files[name])
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(bundle.files[name]))
    out = Path(out)
    if out.exists():
        raise BundleInvalid(f"{out} exists: refusing to overwrite it")
    write_atomic(out, buffer.getvalue(), mode=0o600)
    return bundle
