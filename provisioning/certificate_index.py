"""The fleet's record of every certificate its CA issued, and of what it revoked.

A CRL lists serial numbers, so revoking a device needs every serial ever issued to it: the
one in its enrolment bundle and one per renewal (``healthhub-provision rotate``). This index,
``ca/issued.yaml``, keeps them, with the devices revoked as such (their ACL grants go, and
their ids are never enrolled again). The CRL is always rebuilt from it
(:mod:`healthhub.provisioning.revocation_list`), so the index is the one truth and a
revocation that stopped half-way is finished by running it again.

Every change is a read-modify-write under an exclusive ``flock`` (``ca/.issued.lock``), so an
enrolment and a revocation at the same moment cannot lose each other's entry; the file is
replaced atomically. A fleet made before the index existed has none: revocation then reads
the certificate in the device's bundle and records it. A damaged index is an error, never
an empty one: forgetting a revocation would let a stolen unit back in.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from healthhub.protocol.clock import format_utc, parse_utc
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetFolderError, FleetLayout

HEADER = (
    "# Health Hub: every certificate the fleet CA issued, and what it revoked.\n"
    "# Written by healthhub-provision (init, device, revoke, rotate); do not edit.\n"
)
LOCK_FILE = ".issued.lock"
#: What a certificate is for: a device's client certificate, the broker's server
#: certificate, or a practice-side client's (bridge, console).
PURPOSES = ("device", "server", "client")


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    subject: str  # the certificate's CN: a device id, the broker host, a practice client
    purpose: str
    not_after: str
    revoked_at: str | None = None
    #: Replaced by a renewal (CRL reason ``superseded``) rather than revoked with its device.
    superseded: bool = False

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": format_serial(self.serial),
            "subject": self.subject,
            "purpose": self.purpose,
            "not_after": self.not_after,
            "revoked_at": self.revoked_at,
            "superseded": self.superseded,
        }

    @classmethod
    def from_json(cls, value: Any) -> IssuedCertificate:
        if not isinstance(value, dict):
            raise ValueError("an entry is not a mapping")
        purpose = str(value["purpose"])
        if purpose not in PURPOSES:
            raise ValueError(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
        revoked_at = value.get("revoked_at")
        if revoked_at is not None:
            parse_utc(revoked_at, field="revoked_at")
        return cls(
            serial=parse_serial(value["serial"]),
            subject=str(value["subject"]),
            purpose=purpose,
            not_after=str(value["not_after"]),
            revoked_at=revoked_at,
            superseded=bool(value.get("superseded", False)),
        )


@dataclass(frozen=True)
class DeviceRevocation:
    at: str
    reason: str


@dataclass
class CertificateIndex:
    certificates: list[IssuedCertificate] = field(default_factory=list)
    revoked_devices: dict[str, DeviceRevocation] = field(default_factory=dict)
    #: The number of the last CRL written (RFC 5280 5.2.3: increases with each CRL).
    crl_number: int = 0

    def find(self, serial: int) -> IssuedCertificate | None:
        return next((c for c in self.certificates if c.serial == serial), None)

    def record(self, cert: x509.Certificate, purpose: str) -> IssuedCertificate:
        """Add ``cert`` (once: recording it again changes nothing)."""
        known = self.find(cert.serial_number)
        if known is not None:
            return known
        entry = IssuedCertificate(
            serial=cert.serial_number,
            subject=common_name(cert),
            purpose=purpose,
            not_after=format_utc(cert.not_valid_after_utc),
        )
        self.certificates.append(entry)
        return entry

    def of_device(self, device: str) -> list[IssuedCertificate]:
        return [c for c in self.certificates if c.purpose == "device" and c.subject == device]

    def revoke(self, serials: list[int], *, at: datetime, superseded: bool) -> list[int]:
        """Mark ``serials`` revoked; returns those that were not revoked already."""
        newly = []
        for index, entry in enumerate(self.certificates):
            if entry.serial in serials and not entry.revoked:
                self.certificates[index] = replace(
                    entry, revoked_at=format_utc(at), superseded=superseded
                )
                newly.append(entry.serial)
        return newly

    def revoked(self) -> list[IssuedCertificate]:
        return [c for c in self.certificates if c.revoked]

    def to_json(self) -> dict[str, Any]:
        return {
            "crl_number": self.crl_number,
            "revoked_devices": {
                device: {"at": r.at, "reason": r.reason}
                for device, r in sorted(self.revoked_devices.items())
            },
            "certificates": [c.to_json() for c in self.certificates],
        }

    @classmethod
    def from_json(cls, value: Any) -> CertificateIndex:
        if not isinstance(value, dict):
            raise ValueError("not a mapping")
        devices = value.get("revoked_devices") or {}
        if not isinstance(devices, dict):
            raise ValueError("revoked_devices is not a mapping")
        return cls(
            certificates=[IssuedCertificate.from_json(c) for c in value.get("certificates") or []],
            revoked_devices={
                str(device): DeviceRevocation(str(r["at"]), str(r.get("reason", "")))
                for device, r in devices.items()
            },
            crl_number=int(value.get("crl_number", 0)),
        )


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def format_serial(serial: int) -> str:
    """A serial as people and OpenSSL show it: upper-case hex, colon-free."""
    return f"{serial:X}"


def parse_serial(text: object) -> int:
    if not isinstance(text, str) or not text:
        raise ValueError(f"serial {text!r} is not a hexadecimal string")
    return int(text, 16)


def read_index(layout: FleetLayout) -> CertificateIndex:
    """The index as it is on disk (empty if the fleet has none yet); no lock is taken.

    :class:`FleetFolderError` if it exists but cannot be read.
    """
    path = layout.issued_certificates
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CertificateIndex()
    except OSError as exc:
        raise FleetFolderError(f"{path} cannot be read: {exc}") from None
    try:
        return CertificateIndex.from_json(yaml.safe_load(text) or {})
    except (yaml.YAMLError, KeyError, TypeError, ValueError, MalformedMessage) as exc:
        raise FleetFolderError(
            f"{path} is damaged ({exc}); restore it from the fleet folder's backup: "
            "without it revocations could be forgotten"
        ) from None


def write_index(layout: FleetLayout, index: CertificateIndex) -> None:
    text = HEADER + yaml.safe_dump(index.to_json(), sort_keys=False, allow_unicode=True)
    write_atomic(layout.issued_certificates, text.encode("utf-8"), mode=0o600)


@contextlib.contextmanager
def updating(layout: FleetLayout) -> Iterator[CertificateIndex]:
    """The index, locked for a read-modify-write; written back when the block ends normally."""
    folder = layout.issued_certificates.parent
    if not folder.is_dir():
        raise FleetFolderError(f"{folder} missing: {layout.root} is not a whole fleet")
    with open(folder / LOCK_FILE, "a", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        index = read_index(layout)
        before = index.to_json()
        yield index
        if index.to_json() != before:
            write_index(layout, index)


def revoked_devices(layout: FleetLayout) -> dict[str, DeviceRevocation]:
    """Devices revoked as such (not merely a superseded certificate), by id."""
    return dict(read_index(layout).revoked_devices)
