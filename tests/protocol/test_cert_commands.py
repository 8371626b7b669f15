"""cert.request and cert.install: the renewal commands' arguments are checked like any other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from healthhub.protocol import commands
from healthhub.protocol.commands import MAX_COMMAND_BYTES, CommandRejected, decode, encode, make
from healthhub.protocol.signed import generate_signing_key
from healthhub.provisioning.certificates import create_ca, issue

SEED, VERIFY = generate_signing_key()
NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pem() -> str:
    cert, _ = issue(create_ca("Test PCN"), "kiosk-1", unit="practice-a")
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_install_carries_one_certificate_through_signing(pem: str) -> None:
    command = make("kiosk-1", "cert.install", {"certificate": pem}, now=NOW)
    payload = encode(command, SEED)
    assert len(payload) < MAX_COMMAND_BYTES
    assert decode(payload, VERIFY, device="kiosk-1", now=NOW).args == {"certificate": pem}


def test_request_takes_no_arguments() -> None:
    assert make("kiosk-1", "cert.request", now=NOW).args == {}
    with pytest.raises(CommandRejected, match="takes no arguments"):
        make("kiosk-1", "cert.request", {"key": 1}, now=NOW)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "is required"),
        (42, "must be a PEM certificate"),
        ("not a certificate", "exactly one PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nzzz\n-----END CERTIFICATE-----é", "ASCII"),
        ("-----BEGIN CERTIFICATE-----\n" + "A" * 9000 + "\n-----END CERTIFICATE-----", "limit"),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "exactly one PEM certificate",
        ),
    ],
)
def test_install_refuses_anything_but_one_pem_certificate(value: object, message: str) -> None:
    args = {} if value is None else {"certificate": value}
    with pytest.raises(CommandRejected, match=message):
        commands.check_args("cert.install", args)


def test_two_certificates_are_refused(pem: str) -> None:
    with pytest.raises(CommandRejected, match="exactly one"):
        commands.check_args("cert.install", {"certificate": pem + pem})
