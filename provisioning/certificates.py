"""The fleet's X.509: a CA, the broker's server certificate and client certificates.

EC P-256 keys and SHA-256 signatures: small, fast on a Pi, and accepted by
mosquitto/OpenSSL. Private keys are PKCS#8 PEM, unencrypted (the services read
them unattended), written 0600. A client certificate's CN is its MQTT identity
(the broker runs with ``use_identity_as_username``), so the CN is the device id
or one of the reserved practice-side names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetFolderError

CA_YEARS = 10
SERVER_YEARS = 5
CLIENT_YEARS = 2
ORGANISATION = "Health Hub"
#: RFC 5280's upper bound for a CN (and an OU).
NAME_MAX = 64
#: Certificates are valid from a little before now, so a clock a few minutes
#: behind on a Pi without its RTC set yet still accepts a fresh one.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Issuer:
    """The fleet CA: its certificate and the key that signs every other certificate."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _years(years: int) -> dt.timedelta:
    return dt.timedelta(days=365 * years + years // 4)


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)]
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit[:NAME_MAX]))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:NAME_MAX]))
    return x509.Name(parts)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,  # ECDHE-ECDSA handshakes sign with it
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(fleet_name: str, *, years: int = CA_YEARS) -> Issuer:
    """A self-signed CA for one fleet; it may sign leaf certificates only (path length 0)."""
    key = new_key()
    name = _name(f"{fleet_name} CA", unit=fleet_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + _years(years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def subject_alternative_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses for ``hosts``, de-duplicated, in order."""
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue(
    issuer: Issuer,
    common_name: str,
    *,
    server_hosts: Sequence[str] | None = None,
    unit: str | None = None,
    years: int = CLIENT_YEARS,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate and its new key.

    With ``server_hosts`` it is a TLS server's (serverAuth, a SAN per host);
    without, a TLS client's (clientAuth), known to the broker by ``common_name``.
    """
    key = new_key()
    cert = certify(
        issuer, key.public_key(), common_name, server_hosts=server_hosts, unit=unit, years=years
    )
    return cert, key


def certify(
    issuer: Issuer,
    public_key: ec.EllipticCurvePublicKey,
    common_name: str,
    *,
    server_hosts: Sequence[str] | None = None,
    unit: str | None = None,
    years: int = CLIENT_YEARS,
) -> x509.Certificate:
    """A leaf certificate for a key made elsewhere (a device renewing its certificate keeps
    its private key to itself and sends only a CSR); the profile of :func:`issue`."""
    now = _now()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, unit))
        .issuer_name(issuer.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + _years(years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    if server_hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(subject_alternative_names(server_hosts)), critical=False
        )
    return builder.sign(issuer.key, hashes.SHA256())


def write_cert(path: Path, cert: x509.Certificate) -> None:
    write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, unencrypted, readable by its owner only."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(path, pem, mode=0o600)


def load_issuer(cert_path: Path, key_path: Path) -> Issuer:
    """The fleet CA from its files; :class:`FleetFolderError` if they are missing or wrong."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise FleetFolderError(
            f"cannot load the fleet CA ({cert_path}, {key_path}): {exc}; "
            "is this a fleet folder made by `healthhub-provision init`?"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise FleetFolderError(f"{key_path} is not the private key of {cert_path}")
    return Issuer(cert, key)
