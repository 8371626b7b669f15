"""``healthhub-provision revoke``: a lost or stolen unit may never reach the broker again.

Revoking device D:

1. every certificate issued to D (the index of issued certificates, and the one in D's
   bundle, which a fleet older than the index has only there) goes on the CA's CRL;
2. D is recorded as revoked: the ACL grants it nothing and its id is never enrolled again;
3. the broker is restarted (:func:`healthhub.provisioning.broker_control.apply_revocation`):
   a CRL is checked only at the TLS handshake, and mosquitto keeps an open connection
   through a SIGHUP, so the restart is what cuts off a session D already has.

What D sent before stays: the bundle stays in the fleet folder (so the bridge still knows
D's site and files what the broker still holds for it), and nothing in the practice store
is touched; exports and FHIR filing include D's readings as before. Revoking again changes
nothing and says so. Certificates replaced by a renewal are revoked the same way, as
``superseded`` (:func:`revoke_superseded`, used by ``rotate``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from healthhub.protocol import topics
from healthhub.protocol.clock import format_utc
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.certificate_index import (
    CertificateIndex,
    DeviceRevocation,
    format_serial,
    updating,
)
from healthhub.provisioning.enrolment import CERT_FILE, enrolled_devices
from healthhub.provisioning.errors import InvalidRequest, ProvisioningError
from healthhub.provisioning.revocation_list import write_crl

#: The longest ``--reason`` kept (it is for people reading the index, not for the CRL).
REASON_MAX = 200


class UnknownDevice(ProvisioningError):
    """No device by that id was ever enrolled in this fleet."""


@dataclass(frozen=True)
class Revocation:
    device: str
    #: Every certificate of the device that is now revoked, as hex serial numbers.
    serials: tuple[str, ...]
    #: Those this call revoked (empty when everything was revoked already).
    newly_revoked: tuple[str, ...]
    revoked_at: str
    crl_changed: bool


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if len(reason) > REASON_MAX or not reason.isprintable():
        raise InvalidRequest(
            f"--reason must be one line of at most {REASON_MAX} printable characters"
        )
    return reason


def _checked_id(device: str) -> str:
    try:
        return topics.validate_id(device, what="device id")
    except ProtocolError as exc:
        raise InvalidRequest(str(exc)) from None


def _bundle_certificate(layout: FleetLayout, device: str) -> x509.Certificate | None:
    path = layout.device_dir(device) / CERT_FILE
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"{path} cannot be read as a certificate: {exc}") from None


def _device_serials(layout: FleetLayout, index: CertificateIndex, device: str) -> list[int]:
    bundled = _bundle_certificate(layout, device)
    if bundled is not None:
        index.record(bundled, "device")  # a fleet older than the index knows it only here
    return [entry.serial for entry in index.of_device(device)]


def revoke_device(layout: FleetLayout, device: str, *, reason: str = "") -> Revocation:
    """Revoke every certificate of ``device`` and the device itself; write the CRL.

    The broker is not touched here (:func:`~healthhub.provisioning.broker_control.
    apply_revocation`). :class:`InvalidRequest` for a malformed id or reason,
    :class:`UnknownDevice` for an id this fleet never enrolled.
    """
    device = _checked_id(device)
    reason = check_reason(reason)
    enrolled = enrolled_devices(layout)
    now = dt.datetime.now(dt.UTC)
    with updating(layout) as index:
        serials = _device_serials(layout, index, device)
        if device not in enrolled and not serials and device not in index.revoked_devices:
            raise UnknownDevice(
                f"device {device} is not enrolled in {layout.root}; enrolled: "
                f"{', '.join(enrolled) or 'none'}"
            )
        newly = index.revoke(serials, at=now, superseded=False)
        record = index.revoked_devices.get(device)
        if record is None:
            record = DeviceRevocation(format_utc(now), reason)
            index.revoked_devices[device] = record
        crl_changed = write_crl(layout, index)
    return Revocation(
        device=device,
        serials=tuple(format_serial(s) for s in serials),
        newly_revoked=tuple(format_serial(s) for s in newly),
        revoked_at=record.at,
        crl_changed=crl_changed,
    )


def revoke_superseded(layout: FleetLayout, device: str, *, keep: int) -> Revocation:
    """Revoke every certificate of ``device`` except serial ``keep`` (its renewal), as
    superseded; the device stays enrolled. Write the CRL."""
    device = _checked_id(device)
    now = dt.datetime.now(dt.UTC)
    with updating(layout) as index:
        others = [s for s in _device_serials(layout, index, device) if s != keep]
        newly = index.revoke(others, at=now, superseded=True)
        crl_changed = write_crl(layout, index)
    return Revocation(
        device=device,
        serials=tuple(format_serial(s) for s in others),
        newly_revoked=tuple(format_serial(s) for s in newly),
        revoked_at=format_utc(now),
        crl_changed=crl_changed,
    )
