"""healthhub-provision device: enrolment bundles and device.yaml."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from processes import run_cli

from healthhub.agent.config import load_config
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.enrolment import enrol_device, enrolled_devices
from healthhub.provisioning.errors import AlreadyExists, InvalidRequest
from healthhub.provisioning.fleet import init_fleet

# The device.yaml of the brief, verbatim: the agent parses this shape.
EXPECTED_KIOSK_YAML = """\
# Health Hub device configuration, written by healthhub-provision.
# Identity, broker and trust anchors are local-only: remote configuration never changes them.
device:
  id: kiosk-1
  site: practice-a
  role: kiosk
broker:
  host: localhost
  port: 8883
  ca_file: ca.crt
  cert_file: device.crt
  key_file: device.key
trust:
  signing_public_key_file: signing.pub
  ingest_public_key_file: ingest.pub
state_dir: state
outbox:
  max_messages: 100000
  resend_after_s: 30
telemetry:
  interval_s: 30
peripherals:
  - name: bp-monitor
    driver: blood_pressure
    backend: simulator
    interval_s: 5
  - name: scale
    driver: scale
    backend: simulator
    interval_s: 5
  - name: oximeter
    driver: pulse_oximeter
    backend: simulator
    interval_s: 5
  - name: thermometer
    driver: thermometer
    backend: simulator
    interval_s: 5
"""


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def made(tmp_path: Path) -> FleetLayout:
    return init_fleet(tmp_path / "f", name="North PCN", broker_port=8883)


def device_cli(made: FleetLayout, *args: str, check: bool = True) -> str:
    result = run_cli("healthhub-provision", "device", str(made.root), *args, check=check)
    return result.stdout + result.stderr


def test_bundle_contents(made: FleetLayout) -> None:
    device_cli(made, "--site", "practice-a", "--id", "kiosk-1", "--role", "kiosk", "--simulate")
    bundle = made.device_dir("kiosk-1")
    assert sorted(p.name for p in bundle.iterdir()) == [
        "ca.crt",
        "device.crt",
        "device.key",
        "device.yaml",
        "ingest.pub",
        "signing.pub",
    ]
    assert mode(bundle / "device.key") == 0o600
    assert mode(bundle) == 0o700
    for name, source in (
        ("ca.crt", made.ca_cert),
        ("signing.pub", made.signing_pub),
        ("ingest.pub", made.ingest_pub),
    ):
        assert (bundle / name).read_bytes() == source.read_bytes()
    device_cert = cert(bundle / "device.crt")
    subject = device_cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kiosk-1"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        "practice-a"
    )
    eku = device_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    device_cert.verify_directly_issued_by(cert(made.ca_cert))
    lifetime = device_cert.not_valid_after_utc - device_cert.not_valid_before_utc
    assert dt.timedelta(days=730) <= lifetime <= dt.timedelta(days=732)


def test_device_yaml_is_exactly_the_contract(made: FleetLayout) -> None:
    device_cli(made, "--site", "practice-a", "--id", "kiosk-1", "--role", "kiosk", "--simulate")
    text = made.device_dir("kiosk-1").joinpath("device.yaml").read_text()
    assert text == EXPECTED_KIOSK_YAML
    assert yaml.safe_load(text) == yaml.safe_load(EXPECTED_KIOSK_YAML)


def test_device_yaml_round_trips_through_the_agent(made: FleetLayout) -> None:
    path = enrol_device(made, device="wall-1", site="practice-b", simulate=True, sim_interval_s=2.5)
    data = yaml.safe_load(path.read_text())
    assert data["device"] == {"id": "wall-1", "site": "practice-b", "role": "wall"}
    assert {p["interval_s"] for p in data["peripherals"]} == {2.5}
    config = load_config(path)  # the agent accepts what provisioning writes
    assert config.broker.port == 8883
    assert config.broker.cert_file == path.parent / "device.crt"


def test_without_simulate_there_are_no_peripherals(made: FleetLayout) -> None:
    device_cli(made, "--site", "practice-a", "--id", "wall-1")
    data = yaml.safe_load(made.device_dir("wall-1").joinpath("device.yaml").read_text())
    assert data["peripherals"] == []
    assert data["device"]["role"] == "wall"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--site", "practice-a", "--id", "Kiosk 1"], "device id 'Kiosk 1' is not valid"),
        (["--site", "practice-a", "--id", "a/b"], "device id 'a/b' is not valid"),
        (["--site", "practice-a", "--id", "x_y"], "device id 'x_y' is not valid"),
        (["--site", "practice-a", "--id", "+"], "device id '+' is not valid"),
        (["--site", "practice-a", "--id", "healthhub-bridge"], "is reserved"),
        (["--site", "Practice A", "--id", "wall-1"], "site id 'Practice A' is not valid"),
        (["--site", "practice-a", "--id", "wall-1", "--role", "desk"], "invalid choice"),
        (["--site", "practice-a", "--id", "wall-1", "--sim-interval", "0"], "above 0"),
        (["--site", "practice-a", "--id", "wall-1", "--sim-interval", "nan"], "above 0"),
        (["--id", "wall-1"], "required: --site"),
    ],
)
def test_invalid_requests_exit_2(made: FleetLayout, args: list[str], message: str) -> None:
    result = run_cli("healthhub-provision", "device", str(made.root), *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert list(made.devices_dir.iterdir()) == []


def test_device_enrolled_twice_is_refused(made: FleetLayout) -> None:
    device_cli(made, "--site", "practice-a", "--id", "wall-1")
    key_before = made.device_dir("wall-1").joinpath("device.key").read_bytes()
    again = run_cli(
        "healthhub-provision",
        "device",
        str(made.root),
        "--site",
        "practice-b",
        "--id",
        "wall-1",
        check=False,
    )
    assert again.returncode == 1
    assert "already enrolled" in again.stderr
    assert made.device_dir("wall-1").joinpath("device.key").read_bytes() == key_before
    with pytest.raises(AlreadyExists):
        enrol_device(made, device="wall-1", site="practice-a")
    assert enrolled_devices(made) == {"wall-1": "practice-a"}


def test_not_a_fleet_exits_1_naming_init(tmp_path: Path) -> None:
    result = run_cli(
        "healthhub-provision",
        "device",
        str(tmp_path / "nowhere"),
        "--site",
        "practice-a",
        "--id",
        "wall-1",
        check=False,
    )
    assert result.returncode == 1
    assert "not a fleet folder" in result.stderr
    assert "healthhub-provision init" in result.stderr


def test_hints_without_a_broker(made: FleetLayout) -> None:
    out = device_cli(made, "--site", "practice-a", "--id", "wall-1")
    assert "no broker config yet" in out
    run_cli("healthhub-provision", "broker", str(made.root))
    out = device_cli(made, "--site", "practice-a", "--id", "wall-2")
    assert "needs SIGHUP" in out
    assert "user wall-2" in made.broker_acl.read_text()  # the ACL was re-rendered


def test_leftover_staging_folders_are_not_enrolments(made: FleetLayout) -> None:
    enrol_device(made, device="wall-1", site="practice-a")
    staging = made.devices_dir / ".wall-2.abc.partial"
    staging.mkdir()
    (staging / "device.yaml").write_text("device: {id: wall-2, site: practice-a}\n")
    assert enrolled_devices(made) == {"wall-1": "practice-a"}


def test_invalid_request_raises_before_anything_is_written(made: FleetLayout) -> None:
    with pytest.raises(InvalidRequest):
        enrol_device(made, device="wall-1", site="practice-a", role="desk")
    assert list(made.devices_dir.iterdir()) == []
