"""healthhub-provision rotate, the parts that need no device: the certificate request is
checked before anything is issued, and a unit that cannot be renewed is a clear error.
The renewal itself, with a real agent and mosquitto: tests/system/test_revocation.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from processes import Enrol, run_cli

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.certificate_index import read_index
from healthhub.provisioning.rotation import RotationFailed, check_csr


def csr_pem(common_name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def test_a_good_request_gives_its_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    assert check_csr(csr_pem("wall-1", key), "wall-1") == key.public_key()


def test_a_request_with_a_broken_signature_is_refused() -> None:
    good = x509.load_pem_x509_csr(
        csr_pem("wall-1", ec.generate_private_key(ec.SECP256R1())).encode()
    )
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(RotationFailed, match="not signed by its key"):
        check_csr(tampered.decode(), "wall-1")


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (lambda: csr_pem("wall-2", ec.generate_private_key(ec.SECP256R1())), "for 'wall-2'"),
        (lambda: csr_pem("wall-1", ec.generate_private_key(ec.SECP384R1())), "not EC P-256"),
        (lambda: csr_pem("wall-1", rsa.generate_private_key(65537, 2048)), "not EC P-256"),
        (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----",
         "malformed"),
        (lambda: None, "without a certificate request"),
        (lambda: "x" * 5000, "without a certificate request"),
    ],
)  # fmt: skip
def test_a_wrong_request_is_refused(pem: Callable[[], object], message: str) -> None:
    with pytest.raises(RotationFailed, match=message):
        check_csr(pem(), "wall-1")


def rotate(fleet: FleetLayout, *args: str) -> tuple[int, str]:
    result = run_cli("healthhub-provision", "rotate", str(fleet.root), *args, check=False)
    return result.returncode, result.stderr


def test_unknown_revoked_and_malformed_are_clear_errors(fleet: FleetLayout, enrol: Enrol) -> None:
    enrol("wall-1")
    assert rotate(fleet, "--device", "wall-9") == (
        1, f"healthhub-provision rotate: device wall-9 is not enrolled in {fleet.root}\n"
    )  # fmt: skip
    code, err = rotate(fleet, "--device", "wall 1")
    assert (code, "device id 'wall 1' is not valid" in err) == (2, True)
    code, err = rotate(fleet, "--device", "wall-1", "--wait", "0")
    assert (code, "--wait must be" in err) == (2, True)
    run_cli("healthhub-provision", "revoke", str(fleet.root), "--device", "wall-1")
    code, err = rotate(fleet, "--device", "wall-1")
    assert (code, "was revoked" in err) == (1, True)


def test_no_broker_is_a_clear_error_and_nothing_is_issued(fleet: FleetLayout, enrol: Enrol) -> None:
    enrol("wall-1")
    issued = len(read_index(fleet).certificates)
    code, err = rotate(fleet, "--device", "wall-1", "--wait", "5")
    assert code == 1
    assert "cannot reach the fleet's broker" in err
    assert len(read_index(fleet).certificates) == issued


def test_a_damaged_index_stops_revocation_and_enrolment(fleet: FleetLayout, enrol: Enrol) -> None:
    enrol("wall-1")
    fleet.issued_certificates.write_text("certificates: [{serial: zz}]\n")
    crl = fleet.crl.read_bytes()
    result = run_cli(
        "healthhub-provision", "revoke", str(fleet.root), "--device", "wall-1", check=False
    )
    assert result.returncode == 1
    assert "is damaged" in result.stderr
    assert fleet.crl.read_bytes() == crl
    enrolled = run_cli(
        "healthhub-provision", "device", str(fleet.root), "--site", "practice-a", "--id",
        "wall-2", check=False,
    )  # fmt: skip
    assert enrolled.returncode == 1
    assert not fleet.device_dir("wall-2").exists()


@pytest.mark.parametrize("command", ["revoke", "rotate"])
def test_help(command: str) -> None:
    assert "--device" in run_cli("healthhub-provision", command, "--help").stdout
