"""``healthhub-provision rotate``: renew a device's certificate over the air.

The device makes the new key itself and keeps it (``cert.request`` answers with a
certificate signing request, never a key); the fleet checks the request (its signature, CN =
the device, an EC P-256 key as at enrolment), issues the certificate with the enrolment
profile (:func:`healthhub.provisioning.certificates.certify`, OU = the device's site) and
records it, and sends it with ``cert.install``. The device checks it (the fleet CA, its CN,
its pending key, its dates), installs it in its state folder and reconnects with it; it
answers ``succeeded`` only once connected with the new certificate, and puts the old one
back if it cannot connect. Only then does the fleet revoke every other certificate of the
device, as ``superseded``, and have the broker re-read its CRL (SIGHUP: the device is
already on its new certificate; ``--restart-broker`` also ends any connection the old key
may still have, for a key that might have leaked).

Any refusal or silence stops the rotation with nothing revoked: the device keeps working
with the certificate it has, and running ``rotate`` again starts over with a fresh key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from healthhub.protocol import topics
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_control import BrokerAction, apply_revocation
from healthhub.provisioning.certificate_index import format_serial, revoked_devices, updating
from healthhub.provisioning.certificates import certify, load_issuer
from healthhub.provisioning.command_channel import CommandChannel
from healthhub.provisioning.enrolment import enrolled_devices
from healthhub.provisioning.errors import InvalidRequest, ProvisioningError
from healthhub.provisioning.revocation import UnknownDevice, revoke_superseded

DEFAULT_WAIT_S = 120.0
#: A CSR is a few hundred bytes; anything much bigger is not one of ours.
MAX_CSR_CHARS = 4096


class RotationFailed(ProvisioningError):
    """The device refused, failed or did not answer; nothing was revoked."""


@dataclass(frozen=True)
class Rotation:
    device: str
    serial: str  # the new certificate's
    not_after: str
    superseded: tuple[str, ...]  # the device's other certificates, now revoked
    broker: BrokerAction


def check_csr(pem: object, device: str) -> ec.EllipticCurvePublicKey:
    """The public key of ``device``'s certificate request; :class:`RotationFailed` unless the
    request is well formed, self-signed correctly, for CN = ``device``, with an EC P-256 key."""
    if not isinstance(pem, str) or len(pem) > MAX_CSR_CHARS:
        raise RotationFailed(f"{device} answered cert.request without a certificate request")
    try:
        csr = x509.load_pem_x509_csr(pem.encode("ascii"))
    except (UnicodeEncodeError, ValueError):
        raise RotationFailed(f"{device} answered cert.request with a malformed request") from None
    if not csr.is_signature_valid:
        raise RotationFailed(f"{device}'s certificate request is not signed by its key")
    names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != device:
        raise RotationFailed(f"the certificate request is for {common_name[:64]!r}, not {device}")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise RotationFailed("the certificate request's key is not EC P-256 (the fleet's profile)")
    return key


def _final(answer: dict[str, Any] | None, name: str, device: str, wait_s: float) -> dict[str, Any]:
    if answer is None:
        raise RotationFailed(
            f"{device} did not answer {name} within {wait_s:g} s: is it online? "
            "(`healthhub-fleet status`); nothing was revoked"
        )
    if answer["state"] != "succeeded":
        reason = f": {answer['reason']}" if answer.get("reason") else ""
        raise RotationFailed(f"{device} {answer['state']} {name}{reason}; nothing was revoked")
    detail = answer.get("detail")
    return detail if isinstance(detail, dict) else {}


def rotate(
    layout: FleetLayout,
    device: str,
    *,
    wait_s: float = DEFAULT_WAIT_S,
    restart_broker: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> Rotation:
    """Renew ``device``'s certificate (see the module docstring); ``say`` hears each step."""
    try:
        topics.validate_id(device, what="device id")
    except ProtocolError as exc:
        raise InvalidRequest(str(exc)) from None
    if not 0 < wait_s <= 3600:
        raise InvalidRequest("--wait must be more than 0 and at most 3600 seconds")
    enrolled = enrolled_devices(layout)
    if device not in enrolled:
        raise UnknownDevice(f"device {device} is not enrolled in {layout.root}")
    revoked = revoked_devices(layout).get(device)
    if revoked is not None:
        raise RotationFailed(f"device {device} was revoked at {revoked.at}; it cannot be renewed")
    issuer = load_issuer(layout.ca_cert, layout.ca_key)
    with CommandChannel(layout, device) as channel:
        say(f"asking {device} for a certificate request (its new key stays on it)")
        detail = _final(
            channel.run("cert.request", None, wait_s=wait_s), "cert.request", device, wait_s
        )
        public_key = check_csr(detail.get("csr"), device)
        cert = certify(issuer, public_key, device, unit=enrolled[device])
        with updating(layout) as index:
            index.record(cert, "device")
        serial = format_serial(cert.serial_number)
        say(f"issued certificate {serial} (valid until {cert.not_valid_after_utc:%Y-%m-%d})")
        pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
        say(f"sending it to {device}, which reconnects with it")
        detail = _final(
            channel.run("cert.install", {"certificate": pem}, wait_s=wait_s),
            "cert.install",
            device,
            wait_s,
        )
    if detail.get("serial") != serial:
        raise RotationFailed(
            f"{device} reports certificate {detail.get('serial')!r} in use, not {serial}; "
            "nothing was revoked"
        )
    superseded = revoke_superseded(layout, device, keep=cert.serial_number)
    action = apply_revocation(layout, cut_sessions=restart_broker)
    return Rotation(
        device=device,
        serial=serial,
        not_after=cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        superseded=superseded.serials,
        broker=action,
    )
