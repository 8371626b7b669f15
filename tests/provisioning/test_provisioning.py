"""healthhub-provision: a fleet's keys and certificates, bundles, broker config and ACL."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from processes import run_cli

from healthhub.agent.config import load_config
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.protocol.keys import read_key


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


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


def test_init_creates_ca_server_and_client_identities(made: FleetLayout) -> None:
    ca = cert(made.ca_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = cert(made.server_cert)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {"hub.practice.example", "localhost"}
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    for name, common_name in (("bridge", "healthhub-bridge"), ("console", "healthhub-console")):
        client = cert(made.client(name).cert)
        assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == common_name
        client.verify_directly_issued_by(ca)
        assert mode(made.client(name).key) == 0o600
    server.verify_directly_issued_by(ca)
    for secret in (made.ca_key, made.server_key, made.signing_key, made.ingest_key):
        assert mode(secret) == 0o600
    assert len(read_key(made.signing_pub)) == 32
    assert len(read_key(made.ingest_pub)) == 32
    manifest = load_manifest(made)
    assert (manifest.name, manifest.broker_host, manifest.broker_port) == (
        "North PCN",
        "hub.practice.example",
        18884,
    )


def test_init_refuses_to_overwrite(made: FleetLayout) -> None:
    before = {p: p.read_bytes() for p in made.root.rglob("*") if p.is_file()}
    result = run_cli("healthhub-provision", "init", str(made.root), "--name", "Again", check=False)
    assert result.returncode == 1
    assert "refusing to overwrite" in result.stderr
    assert {p: p.read_bytes() for p in made.root.rglob("*") if p.is_file()} == before


def test_device_bundle(made: FleetLayout) -> None:
    run_cli(
        "healthhub-provision",
        "device",
        str(made.root),
        "--site",
        "practice-a",
        "--id",
        "kiosk-1",
        "--role",
        "kiosk",
        "--simulate",
        "--sim-interval",
        "2.5",
    )
    bundle = made.device_dir("kiosk-1")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "ca.crt",
        "device.crt",
        "device.key",
        "device.yaml",
        "ingest.pub",
        "signing.pub",
    ]
    device_cert = cert(bundle / "device.crt")
    assert device_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kiosk-1"
    device_cert.verify_directly_issued_by(cert(made.ca_cert))
    assert mode(bundle / "device.key") == 0o600
    text = (bundle / "device.yaml").read_text()
    assert text.startswith("# Health Hub device configuration")
    data = yaml.safe_load(text)
    assert data["device"] == {"id": "kiosk-1", "site": "practice-a", "role": "kiosk"}
    drivers = {p["driver"] for p in data["peripherals"]}
    assert drivers == {"blood_pressure", "scale", "pulse_oximeter", "thermometer"}
    assert {p["interval_s"] for p in data["peripherals"]} == {2.5}
    config = load_config(bundle / "device.yaml")  # the agent accepts what provisioning writes
    assert config.broker.port == 18884
    assert config.broker.cert_file == bundle / "device.crt"


@pytest.mark.parametrize("bad_id", ["Kiosk 1", "a/b", "healthhub-bridge", "x_y"])
def test_invalid_ids_exit_2(made: FleetLayout, bad_id: str) -> None:
    result = run_cli(
        "healthhub-provision",
        "device",
        str(made.root),
        "--site",
        "practice-a",
        "--id",
        bad_id,
        check=False,
    )
    assert result.returncode == 2
    assert "not valid" in result.stderr or "reserved" in result.stderr
    assert not any(made.devices_dir.iterdir())


def test_device_enrolled_twice_is_refused(made: FleetLayout) -> None:
    args = ["device", str(made.root), "--site", "practice-a", "--id", "wall-1"]
    run_cli("healthhub-provision", *args)
    again = run_cli("healthhub-provision", *args, check=False)
    assert again.returncode == 1
    assert "already enrolled" in again.stderr


def test_broker_config_and_acl(made: FleetLayout) -> None:
    for device, site in (("wall-1", "practice-a"), ("wall-2", "practice-b")):
        run_cli("healthhub-provision", "device", str(made.root), "--site", site, "--id", device)
    run_cli("healthhub-provision", "broker", str(made.root), "--bind", "127.0.0.1")
    conf = made.broker_conf.read_text()
    for line in (
        "listener 18884 127.0.0.1",
        "require_certificate true",
        "use_identity_as_username true",
        "allow_anonymous false",
        f"persistence_location {made.broker_data}/",
        f"acl_file {made.broker_acl}",
    ):
        assert line in conf
    acl = made.broker_acl.read_text().split("\n\n")
    wall1 = next(block for block in acl if "user wall-1" in block)
    assert "topic write healthhub/v1/devices/wall-1/up/#" in wall1
    assert "topic read healthhub/v1/sites/practice-a/config" in wall1
    assert "wall-2" not in wall1
    assert "practice-b" not in wall1
    assert "topic readwrite" not in made.broker_acl.read_text()
