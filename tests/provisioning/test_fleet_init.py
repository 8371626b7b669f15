"""healthhub-provision init: the fleet's CA, certificates, keys and manifest."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from processes import run_cli

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.protocol.keys import read_key
from healthhub.provisioning.errors import InvalidRequest
from healthhub.provisioning.fleet import init_fleet


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def client_verifier(ca: x509.Certificate) -> verification.ClientVerifier:
    """Web-PKI client verification, except that our client certificates have no SAN:
    the broker knows a client by its CN (use_identity_as_username)."""
    end_entity = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
    )
    return (
        verification.PolicyBuilder()
        .store(verification.Store([ca]))
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=end_entity
        )
        .build_client_verifier()
    )


@pytest.fixture
def made(tmp_path: Path) -> FleetLayout:
    run_cli(
        "healthhub-provision",
        "init",
        str(tmp_path / "f"),
        "--name",
        "North PCN",
        "--broker-host",
        "hub.practice.example",
        "--broker-port",
        "18884",
    )
    return FleetLayout(tmp_path / "f")


def test_ca_is_a_ten_year_self_signed_ca(made: FleetLayout) -> None:
    ca = cert(made.ca_cert)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ca.verify_directly_issued_by(ca)
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert 365 * 10 <= lifetime.days <= 365 * 10 + 5
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert ca.signature_hash_algorithm is not None
    assert ca.signature_hash_algorithm.name == "sha256"
    assert "North PCN" in common_name(ca)


def test_server_certificate_names_the_broker_host_and_this_machine(made: FleetLayout) -> None:
    server = cert(made.server_cert)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["hub.practice.example", "localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    store = verification.Store([cert(made.ca_cert)])
    for name in ("hub.practice.example", "localhost"):
        verifier = (
            verification.PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
        )
        verifier.verify(server, [])
    by_ip = (
        verification.PolicyBuilder()
        .store(store)
        .build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    by_ip.verify(server, [])
    other = (
        verification.PolicyBuilder()
        .store(store)
        .build_server_verifier(x509.DNSName("evil.example"))
    )
    with pytest.raises(verification.VerificationError):
        other.verify(server, [])


def test_ip_broker_host_is_an_ip_san(tmp_path: Path) -> None:
    layout = init_fleet(tmp_path / "f", name="LAN", broker_host="192.168.1.10", broker_port=8883)
    sans = cert(layout.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sans.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.168.1.10"),
        ipaddress.ip_address("127.0.0.1"),
    ]
    assert sans.value.get_values_for_type(x509.DNSName) == ["localhost"]


def test_bridge_and_console_client_certificates(made: FleetLayout) -> None:
    verifier = client_verifier(cert(made.ca_cert))
    for name, expected_cn in (("bridge", "healthhub-bridge"), ("console", "healthhub-console")):
        files = made.client(name)
        client = cert(files.cert)
        assert common_name(client) == expected_cn
        eku = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        verifier.verify(client, [])
        key = load_pem_private_key(files.key.read_bytes(), password=None)
        assert key.public_key() == client.public_key()
        assert files.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    with pytest.raises(verification.VerificationError):  # a server cert is no client cert
        verifier.verify(cert(made.server_cert), [])


def test_keys_and_modes(made: FleetLayout) -> None:
    for secret in (
        made.ca_key,
        made.server_key,
        made.signing_key,
        made.ingest_key,
        made.client("bridge").key,
        made.client("console").key,
    ):
        assert mode(secret) == 0o600, secret
    for folder in (made.ca_cert.parent, made.signing_key.parent, made.client("bridge").key.parent):
        assert mode(folder) == 0o700, folder
    signing = SigningKey(read_key(made.signing_key))
    assert bytes(signing.verify_key) == read_key(made.signing_pub)
    ingest = PrivateKey(read_key(made.ingest_key))
    assert bytes(ingest.public_key) == read_key(made.ingest_pub)


def test_manifest(made: FleetLayout) -> None:
    manifest = load_manifest(made)
    assert (manifest.name, manifest.broker_host, manifest.broker_port) == (
        "North PCN",
        "hub.practice.example",
        18884,
    )
    assert "created_at" in yaml.safe_load(made.manifest.read_text())


def test_defaults(tmp_path: Path) -> None:
    run_cli("healthhub-provision", "init", str(tmp_path / "f"), "--name", "Default")
    manifest = load_manifest(FleetLayout(tmp_path / "f"))
    assert (manifest.broker_host, manifest.broker_port) == ("localhost", 8883)


def test_init_refuses_to_overwrite_a_fleet(made: FleetLayout) -> None:
    before = {
        p: (p.read_bytes(), p.stat().st_mtime_ns) for p in made.root.rglob("*") if p.is_file()
    }
    result = run_cli("healthhub-provision", "init", str(made.root), "--name", "Again", check=False)
    assert result.returncode == 1
    assert "refusing to overwrite" in result.stderr
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in made.root.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in made.root.parent.iterdir()) == ["f"]  # no staging left


def test_init_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("mine")
    result = run_cli("healthhub-provision", "init", str(tmp_path / "f"), "--name", "X", check=False)
    assert result.returncode == 1
    assert "not an empty folder" in result.stderr
    assert [p.name for p in (tmp_path / "f").iterdir()] == ["notes.txt"]


def test_init_into_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    layout = init_fleet(tmp_path / "f", name="X")
    assert load_manifest(layout).name == "X"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "X", "--broker-port", "0"], "not a TCP port"),
        (["--name", "X", "--broker-port", "70000"], "not a TCP port"),
        (["--name", "X", "--broker-port", "http"], "invalid int value"),
        (["--name", "X", "--broker-host", "hub practice"], "not a host name"),
        (["--name", "   "], "must be 1-64 printable characters"),
        ([], "required: --name"),
    ],
)
def test_init_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("healthhub-provision", "init", str(tmp_path / "f"), *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "f").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failed_init_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from healthhub.provisioning import fleet as fleet_module

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(fleet_module, "write_key", broken)
    with pytest.raises(OSError, match="disk full"):
        init_fleet(tmp_path / "f", name="X")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    init_fleet(tmp_path / "f", name="X")  # nothing left behind to refuse


def test_init_bad_name_raises_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        init_fleet(tmp_path / "f", name="x" * 65)
