"""The fleet CA's certificate revocation list, ``ca/crl.pem``, as mosquitto's ``crlfile``.

mosquitto checks each client certificate against it at the TLS handshake (OpenSSL's
``X509_V_FLAG_CRL_CHECK``, leaf certificates only), so the CRL must always be there and
always be valid, or *every* client is refused: mosquitto will not start without the file,
and OpenSSL rejects every handshake with a CRL whose ``thisUpdate`` is ahead of the broker's
clock or whose ``nextUpdate`` has passed. Hence:

- ``healthhub-provision init`` writes an empty CRL, and writing the broker configuration
  makes one for a fleet older than revocation (:func:`ensure_crl`);
- ``thisUpdate`` is set a few minutes back (as certificates are, for a clock a little
  behind) and ``nextUpdate`` is the CA's own expiry: nothing re-signs the CRL on a timer,
  and it cannot be meant to outlive the CA that signs it;
- it is rebuilt from the index of issued certificates
  (:mod:`healthhub.provisioning.certificate_index`) and left byte-for-byte alone when it
  already lists exactly the revoked serials, so revoking twice changes nothing.

The file is public (serial numbers, signed by the CA) and mode 0644 beside ``ca.crt``: the
broker reads both from the same folder as the same user (``broker_config.broker_user``), so a
broker that can read its ``cafile`` can read its ``crlfile``.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization

from healthhub.protocol.clock import parse_utc
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetFolderError, FleetLayout
from healthhub.provisioning.certificate_index import CertificateIndex, updating
from healthhub.provisioning.certificates import BACKDATE, Issuer, load_issuer


def build_crl(
    issuer: Issuer, index: CertificateIndex, *, number: int
) -> x509.CertificateRevocationList:
    """A CRL of every revoked certificate in ``index``, signed by the fleet CA."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now - BACKDATE)
        .next_update(issuer.cert.not_valid_after_utc)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for entry in index.revoked():
        assert entry.revoked_at is not None
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(parse_utc(entry.revoked_at, field="revoked_at"))
        )
        if entry.superseded:  # RFC 5280 5.3.1: no reason code rather than "unspecified"
            revoked = revoked.add_extension(
                x509.CRLReason(x509.ReasonFlags.superseded), critical=False
            )
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(issuer.key, hashes.SHA256())


def load_crl(layout: FleetLayout) -> x509.CertificateRevocationList:
    """The CRL on disk; :class:`FleetFolderError` if it is missing or not a CRL."""
    try:
        return x509.load_pem_x509_crl(layout.crl.read_bytes())
    except (OSError, ValueError) as exc:
        raise FleetFolderError(f"{layout.crl} cannot be read as a CRL: {exc}") from None


def _still_right(layout: FleetLayout, issuer: Issuer, index: CertificateIndex) -> bool:
    """The CRL on disk is the CA's, valid now, and lists exactly the revoked serials."""
    try:
        crl = load_crl(layout)
    except FleetFolderError:
        return False
    now = dt.datetime.now(dt.UTC)
    next_update = crl.next_update_utc
    try:
        signed = crl.is_signature_valid(issuer.key.public_key())
    except (InvalidSignature, TypeError):
        signed = False
    return (
        signed
        and crl.issuer == issuer.cert.subject
        and crl.last_update_utc <= now
        and next_update is not None
        and next_update > now
        and {r.serial_number for r in crl} == {c.serial for c in index.revoked()}
    )


def write_crl(layout: FleetLayout, index: CertificateIndex) -> bool:
    """Make ``ca/crl.pem`` list what ``index`` says is revoked; True if the file changed.

    Call it holding the index (:func:`~healthhub.provisioning.certificate_index.updating`),
    which records the CRL number used.
    """
    issuer = load_issuer(layout.ca_cert, layout.ca_key)
    if _still_right(layout, issuer, index):
        return False
    index.crl_number += 1
    crl = build_crl(issuer, index, number=index.crl_number)
    write_atomic(layout.crl, crl.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return True


def ensure_crl(layout: FleetLayout) -> bool:
    """Make sure the CRL is there and right (a fleet made before revocation existed has
    none; a damaged or stale one is re-signed); True if it was written."""
    with updating(layout) as index:
        return write_crl(layout, index)
