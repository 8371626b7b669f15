"""The device's TLS identity: the enrolment bundle's, or a renewed one kept in the state folder.

``/etc/healthhub`` (the bundle) is read-only to the agent (systemd ``ProtectSystem=strict``,
read-only root images), so a certificate renewed over the air (``cert.request`` and
``cert.install``, driven by ``healthhub-provision rotate``) lives in the state folder:

    STATE_DIR/identity/            0700
      pending.key                  0600  the key made by cert.request, until installed
      device.pem                   0600  the renewed certificate, then its private key

The renewed certificate and its key share one file so that they are replaced together by one
atomic rename: a power cut leaves the old pair or the new one, never a key with the wrong
certificate. The key is made on the device and never leaves it; only the certificate
request and the certificate travel.

At start the agent uses ``device.pem`` when it is whole and right (the key is the
certificate's, the fleet CA issued it, its CN is this device, it has not expired), else the
bundle's certificate and key, and says why (:attr:`Identity.problem`, in the status file and
the log).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.files import write_atomic

log = logging.getLogger(__name__)

IDENTITY_DIR = "identity"
RENEWED_FILE = "device.pem"
PENDING_KEY_FILE = "pending.key"
#: A certificate dated this far ahead of the device's clock is still taken (the fleet
#: backdates new certificates by five minutes; a few seconds of disagreement is normal).
CLOCK_SKEW = dt.timedelta(minutes=5)


class IdentityRejected(HealthHubError):
    """A certificate the device will not use; ``str()`` says why (reported to the fleet)."""


@dataclass(frozen=True)
class Identity:
    """The certificate and key the agent presents to the broker."""

    cert_file: Path
    key_file: Path
    source: str  # "renewed" (the state folder's) or "enrolment" (the bundle's)
    serial: str | None = None  # upper-case hex, as `healthhub-provision` prints it
    not_after: str | None = None
    #: Why a renewed identity in the state folder is not the one used, if one is there.
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "serial": self.serial,
            "not_after": self.not_after,
            "problem": self.problem,
        }


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_der(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_certificate(
    cert: x509.Certificate, *, ca: x509.Certificate, device: str, key: Any, dates: bool = True
) -> None:
    """:class:`IdentityRejected` unless ``cert`` is a client certificate the fleet CA issued
    to ``device`` for ``key`` (a private or public key) and (with ``dates``) is valid now."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise IdentityRejected("the certificate was not issued by this device's fleet CA") from None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(names[0].value) if names else ""
    if common_name != device:
        raise IdentityRejected(f"the certificate is for {common_name[:64]!r}, not {device}")
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise IdentityRejected("the certificate lacks the client-certificate profile") from None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usage or constraints.ca:
        raise IdentityRejected("the certificate is not a TLS client certificate")
    public = key.public_key() if hasattr(key, "private_bytes") else key
    if _public_der(cert.public_key()) != _public_der(public):
        raise IdentityRejected("the certificate is not for this device's key")
    if not dates:
        return
    now = _now()
    if cert.not_valid_after_utc <= now:
        raise IdentityRejected(f"the certificate expired at {cert.not_valid_after_utc:%Y-%m-%d}")
    if cert.not_valid_before_utc > now + CLOCK_SKEW:
        raise IdentityRejected(
            f"the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
            "UTC: check the device's clock (NTP)"
        )


def _describe(cert_file: Path, source: str, problem: str | None = None) -> Identity:
    serial = not_after = None
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        serial = f"{cert.serial_number:X}"
        not_after = cert.not_valid_after_utc.isoformat().replace("+00:00", "Z")
    except (OSError, ValueError):
        pass  # client_context names an unreadable bundle file when the agent starts
    key_file = cert_file
    return Identity(cert_file, key_file, source, serial, not_after, problem)


class IdentityStore:
    """The renewed identity in ``state_dir``, the bundle's to fall back on, and renewal."""

    def __init__(
        self,
        state_dir: Path,
        *,
        device: str,
        ca_file: Path,
        bundle_cert: Path,
        bundle_key: Path,
    ) -> None:
        self.folder = state_dir / IDENTITY_DIR
        self.device = device
        self.ca_file = ca_file
        self.bundle_cert = bundle_cert
        self.bundle_key = bundle_key

    @property
    def renewed_file(self) -> Path:
        return self.folder / RENEWED_FILE

    @property
    def pending_file(self) -> Path:
        return self.folder / PENDING_KEY_FILE

    def _ca(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise IdentityRejected(f"cannot read the fleet CA {self.ca_file}: {exc}") from None

    def enrolment(self, problem: str | None = None) -> Identity:
        """The bundle's certificate and key (``broker.cert_file`` and ``key_file``)."""
        found = _describe(self.bundle_cert, "enrolment", problem)
        return Identity(
            self.bundle_cert, self.bundle_key, found.source, found.serial, found.not_after, problem
        )

    def current(self) -> Identity:
        """The identity to connect with: the renewed one if it is whole and right, else the
        bundle's (with the reason the renewed one was passed over, if there is one)."""
        if not self.renewed_file.exists():
            return self.enrolment()
        try:
            data = self.renewed_file.read_bytes()
            cert = x509.load_pem_x509_certificate(data)
            key = serialization.load_pem_private_key(data, password=None)
        except (OSError, ValueError, TypeError) as exc:
            problem = f"{self.renewed_file} cannot be read ({exc})"
        else:
            try:
                # Not its dates: a Pi starts with the clock it last saved (none on a read-only
                # root) until NTP answers, and the enrolment's certificate this one replaced
                # is revoked. The broker judges the dates against a clock it can trust.
                check_certificate(cert, ca=self._ca(), device=self.device, key=key, dates=False)
            except IdentityRejected as exc:
                problem = f"{self.renewed_file}: {exc}"
            else:
                return _describe(self.renewed_file, "renewed")
        log.warning("renewed identity not used, using the enrolment's: %s", problem)
        return self.enrolment(problem)

    def _make_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def request(self) -> str:
        """A new EC P-256 key, kept pending (0600), and a CSR for it (CN = this device), PEM.

        A later request replaces the pending key: only the newest request can be installed.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        self._make_folder()
        write_atomic(self.pending_file, _pem_key(key), mode=0o600)
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.device)]))
            .sign(key, hashes.SHA256())
        )
        log.info("certificate request made; its key is pending in %s", self.pending_file)
        return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def install(self, certificate_pem: str) -> tuple[Identity, bytes | None]:
        """Check ``certificate_pem`` against the pending key and the fleet CA, then make it
        and the pending key the renewed identity (one atomic write). Returns the new
        identity and what ``device.pem`` held before (for :meth:`roll_back`).

        :class:`IdentityRejected` says what is wrong; nothing is changed then.
        """
        try:
            pending = serialization.load_pem_private_key(
                self.pending_file.read_bytes(), password=None
            )
        except FileNotFoundError:
            raise IdentityRejected("no pending key: send cert.request first") from None
        except (OSError, ValueError, TypeError) as exc:
            raise IdentityRejected(f"the pending key cannot be read ({exc})") from None
        if not isinstance(pending, ec.EllipticCurvePrivateKey):
            raise IdentityRejected("the pending key is not an EC key")
        try:
            cert = x509.load_pem_x509_certificate(certificate_pem.encode("ascii"))
        except ValueError:
            raise IdentityRejected("the argument is not a PEM certificate") from None
        check_certificate(cert, ca=self._ca(), device=self.device, key=pending)
        try:
            previous: bytes | None = self.renewed_file.read_bytes()
        except FileNotFoundError:
            previous = None
        pem = cert.public_bytes(serialization.Encoding.PEM) + _pem_key(pending)
        write_atomic(self.renewed_file, pem, mode=0o600)
        log.info("renewed certificate %X installed", cert.serial_number)
        return _describe(self.renewed_file, "renewed"), previous

    def roll_back(self, previous: bytes | None) -> None:
        """Put back what ``device.pem`` held before :meth:`install` (nothing: remove it)."""
        if previous is None:
            self.renewed_file.unlink(missing_ok=True)
        else:
            write_atomic(self.renewed_file, previous, mode=0o600)

    def forget_pending(self) -> None:
        self.pending_file.unlink(missing_ok=True)
