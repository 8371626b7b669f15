"""The device's renewed identity: the key is made and kept on the device, a certificate is
installed only if it is the fleet CA's, for this device and this key, and a damaged renewed
identity is reported and passed over for the enrolment's."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from healthhub.agent.identity import IdentityRejected, IdentityStore
from healthhub.provisioning.certificates import (
    Issuer,
    certify,
    create_ca,
    issue,
    new_key,
    write_cert,
    write_private_key,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@pytest.fixture(scope="module")
def ca() -> Issuer:
    return create_ca("Test PCN")


@pytest.fixture
def store(tmp_path: Path, ca: Issuer) -> IdentityStore:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    cert, key = issue(ca, "kiosk-1", unit="practice-a")
    write_cert(bundle / "device.crt", cert)
    write_private_key(bundle / "device.key", key)
    write_cert(bundle / "ca.crt", ca.cert)
    return IdentityStore(
        tmp_path / "state",
        device="kiosk-1",
        ca_file=bundle / "ca.crt",
        bundle_cert=bundle / "device.crt",
        bundle_key=bundle / "device.key",
    )


def requested_key(store: IdentityStore) -> ec.EllipticCurvePublicKey:
    csr = x509.load_pem_x509_csr(store.request().encode("ascii"))
    assert csr.is_signature_valid
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_request_keeps_a_new_p256_key_private_and_asks_for_this_device(
    store: IdentityStore,
) -> None:
    csr = x509.load_pem_x509_csr(store.request().encode("ascii"))
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=kiosk-1"
    key = csr.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert isinstance(key.curve, ec.SECP256R1)
    assert mode(store.folder) == 0o700
    assert mode(store.pending_file) == 0o600
    pending = serialization.load_pem_private_key(store.pending_file.read_bytes(), None)
    assert pending.public_key() == key
    assert "PRIVATE" not in store.request()  # only the request travels


def test_installed_certificate_is_preferred_and_kept_with_its_key(
    store: IdentityStore, ca: Issuer
) -> None:
    before = store.current()
    assert before.source == "enrolment"
    assert before.problem is None
    cert = certify(ca, requested_key(store), "kiosk-1", unit="practice-a")
    renewed, previous = store.install(pem(cert))
    assert previous is None
    assert renewed.source == "renewed"
    assert renewed.serial == f"{cert.serial_number:X}" != before.serial
    assert mode(store.renewed_file) == 0o600
    chosen = store.current()
    assert (chosen.source, chosen.serial, chosen.problem) == ("renewed", renewed.serial, None)
    data = store.renewed_file.read_bytes()
    assert x509.load_pem_x509_certificate(data) == cert
    assert serialization.load_pem_private_key(data, None).public_key() == cert.public_key()


def test_a_second_request_replaces_the_first_key(store: IdentityStore, ca: Issuer) -> None:
    first = requested_key(store)
    requested_key(store)
    stale = certify(ca, first, "kiosk-1")
    with pytest.raises(IdentityRejected, match="not for this device's key"):
        store.install(pem(stale))
    assert not store.renewed_file.exists()


def expired(ca: Issuer, public_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    fresh = certify(ca, public_key, "kiosk-1")
    builder = (
        x509.CertificateBuilder()
        .subject_name(fresh.subject)
        .issuer_name(fresh.issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
    )
    for extension in fresh.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(ca.key, hashes.SHA256())


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("another device", "is for 'kiosk-2', not kiosk-1"),
        ("another CA", "not issued by this device's fleet CA"),
        ("another key", "not for this device's key"),
        ("expired", "expired"),
        ("server certificate", "not a TLS client certificate"),
        ("not a certificate", "not a PEM certificate"),
    ],
)
def test_a_wrong_certificate_is_refused_and_nothing_changes(
    store: IdentityStore, ca: Issuer, case: str, message: str
) -> None:
    key = requested_key(store)
    made = {
        "another device": lambda: pem(certify(ca, key, "kiosk-2")),
        "another CA": lambda: pem(certify(create_ca("Other PCN"), key, "kiosk-1")),
        "another key": lambda: pem(certify(ca, new_key().public_key(), "kiosk-1")),
        "expired": lambda: pem(expired(ca, key)),
        "server certificate": lambda: pem(certify(ca, key, "kiosk-1", server_hosts=["x"])),
        "not a certificate": lambda: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    }
    with pytest.raises(IdentityRejected, match=message):
        store.install(made[case]())
    assert not store.renewed_file.exists()
    assert store.current().source == "enrolment"


def test_install_without_a_request_is_refused(store: IdentityStore, ca: Issuer) -> None:
    with pytest.raises(IdentityRejected, match=r"send cert\.request first"):
        store.install(pem(certify(ca, new_key().public_key(), "kiosk-1")))


@pytest.mark.parametrize("damage", ["truncated", "another key", "another device"])
def test_a_damaged_renewed_identity_is_reported_and_the_enrolment_used(
    store: IdentityStore, ca: Issuer, damage: str
) -> None:
    cert = certify(ca, requested_key(store), "kiosk-1")
    store.install(pem(cert))
    data = store.renewed_file.read_bytes()
    if damage == "truncated":
        store.renewed_file.write_bytes(data[: len(data) // 2])
    elif damage == "another key":
        other = new_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        store.renewed_file.write_bytes(pem(cert).encode() + other)
    else:
        wrong, key = issue(ca, "kiosk-2")
        store.renewed_file.write_bytes(
            pem(wrong).encode()
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    chosen = store.current()
    assert chosen.source == "enrolment"
    assert chosen.cert_file == store.bundle_cert
    assert chosen.key_file == store.bundle_key
    assert chosen.problem is not None
    assert str(store.renewed_file) in chosen.problem


def test_roll_back_puts_the_previous_identity_back(store: IdentityStore, ca: Issuer) -> None:
    first, _ = store.install(pem(certify(ca, requested_key(store), "kiosk-1")))
    second, previous = store.install(pem(certify(ca, requested_key(store), "kiosk-1")))
    assert store.current().serial == second.serial != first.serial
    store.roll_back(previous)
    assert store.current().serial == first.serial
    store.roll_back(None)
    assert store.current().source == "enrolment"


def test_a_renewed_identity_is_used_at_start_whatever_the_clock_says(
    store: IdentityStore, ca: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Pi boots with the clock it last saved (or none) until NTP answers: the renewed
    certificate must not be passed over for the revoked enrolment one on a clock behind."""
    cert = certify(ca, requested_key(store), "kiosk-1", unit="practice-a")
    store.install(pem(cert))
    behind = cert.not_valid_before_utc - dt.timedelta(days=300)
    monkeypatch.setattr("healthhub.agent.identity._now", lambda: behind)
    chosen = store.current()
    assert (chosen.source, chosen.problem) == ("renewed", None)
    # Installing still checks the dates: a certificate from the future is refused then.
    future = certify(ca, requested_key(store), "kiosk-1", unit="practice-a")
    with pytest.raises(IdentityRejected, match="check the device's clock"):
        store.install(pem(future))
