"""healthhub-provision revoke: the CRL, the records, the ACL, and a real mosquitto refusing a
revoked certificate while other devices carry on."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from mqtt_clients import identity, publish, subscribe
from processes import BROKER_LOG, Enrol, run_cli, wait_until

from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_config import render_acl, write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess
from healthhub.provisioning.certificate_index import read_index, revoked_devices
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.errors import AlreadyExists


def crl(fleet: FleetLayout) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(fleet.crl.read_bytes())


def serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def ca_cert(fleet: FleetLayout) -> x509.Certificate:
    return x509.load_pem_x509_certificate(fleet.ca_cert.read_bytes())


def revoke(fleet: FleetLayout, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("healthhub-provision", "revoke", str(fleet.root), *args, check=False)


def test_a_new_fleet_has_an_empty_crl_signed_by_its_ca_and_the_broker_uses_it(
    fleet: FleetLayout,
) -> None:
    revocations = crl(fleet)
    ca = ca_cert(fleet)
    assert revocations.is_signature_valid(ca.public_key())
    assert revocations.issuer == ca.subject
    assert len(revocations) == 0
    # Valid from before now (a clock a little behind) until the CA itself expires.
    assert revocations.next_update_utc == ca.not_valid_after_utc
    assert stat.S_IMODE(os.stat(fleet.crl).st_mode) == 0o644
    assert fleet.crl.parent == fleet.ca_cert.parent  # read as the cafile is, by the same user
    assert f"crlfile {fleet.crl}" in fleet.broker_conf.read_text().splitlines()
    purposes = sorted(c.purpose for c in read_index(fleet).certificates)
    assert purposes == ["client", "client", "server"]


def test_revoke_lists_the_devices_certificates_drops_its_grants_and_keeps_its_id(
    fleet: FleetLayout, enrol: Enrol
) -> None:
    enrol("wall-1")
    enrol("wall-2")
    bundle_serial = serial(fleet.device_dir("wall-1") / "device.crt")
    result = revoke(fleet, "--device", "wall-1", "--reason", "stolen from the waiting room")
    assert result.returncode == 0, result.stderr
    assert "device wall-1 revoked" in result.stdout
    assert "broker: not running" in result.stdout

    revocations = crl(fleet)
    assert revocations.is_signature_valid(ca_cert(fleet).public_key())
    assert [r.serial_number for r in revocations] == [bundle_serial]
    assert (
        revocations.get_revoked_certificate_by_serial_number(
            serial(fleet.device_dir("wall-2") / "device.crt")
        )
        is None
    )
    recorded = revoked_devices(fleet)["wall-1"]
    assert recorded.reason == "stolen from the waiting room"

    acl = render_acl(fleet)
    assert "user wall-1" not in acl
    assert "user wall-2" in acl
    assert "user wall-1" not in fleet.broker_acl.read_text()
    # The bundle stays (the bridge still knows wall-1's site for what it sent before)...
    assert (fleet.device_dir("wall-1") / "device.yaml").exists()
    # ...and the id is never enrolled again, even with its bundle gone.
    again = run_cli(
        "healthhub-provision",
        "device",
        str(fleet.root),
        "--site",
        "practice-a",
        "--id",
        "wall-1",
        check=False,
    )
    assert again.returncode == 1
    assert "was revoked" in again.stderr
    for path in fleet.device_dir("wall-1").iterdir():
        if path.is_file():
            path.unlink()
    fleet.device_dir("wall-1").rmdir()
    with pytest.raises(AlreadyExists, match="never enrolled again"):
        enrol_device(fleet, device="wall-1", site="practice-a")


def test_revoking_twice_changes_nothing(fleet: FleetLayout, enrol: Enrol) -> None:
    enrol("wall-1")
    assert revoke(fleet, "--device", "wall-1").returncode == 0
    first = fleet.crl.read_bytes()
    index = fleet.issued_certificates.read_bytes()
    again = revoke(fleet, "--device", "wall-1", "--reason", "a different story")
    assert again.returncode == 0, again.stderr
    assert "already revoked" in again.stdout
    assert fleet.crl.read_bytes() == first
    assert fleet.issued_certificates.read_bytes() == index


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--device", "wall-9"], 1, "device wall-9 is not enrolled"),
        (["--device", "Wall 9"], 2, "device id 'Wall 9' is not valid"),
        (["--device", "wall-1", "--reason", "two\nlines"], 2, "--reason must be one line"),
    ],
)
def test_unknown_devices_and_bad_arguments_are_clear_errors(
    fleet: FleetLayout, enrol: Enrol, args: list[str], code: int, message: str
) -> None:
    enrol("wall-1")
    before = fleet.crl.read_bytes()
    result = revoke(fleet, *args)
    assert result.returncode == code
    assert message in result.stderr
    assert fleet.crl.read_bytes() == before
    assert revoked_devices(fleet) == {}


def test_a_fleet_older_than_revocation_gets_its_crl_and_keeps_its_listener(
    fleet: FleetLayout, enrol: Enrol
) -> None:
    enrol("wall-1")
    write_broker_config(fleet, bind="0.0.0.0")
    # What a fleet made before this feature has: no CRL, no index, no crlfile line.
    fleet.crl.unlink()
    fleet.issued_certificates.unlink()
    conf = fleet.broker_conf.read_text().replace(f"crlfile {fleet.crl}\n", "")
    fleet.broker_conf.write_text(conf)
    result = revoke(fleet, "--device", "wall-1")
    assert result.returncode == 0, result.stderr
    lines = fleet.broker_conf.read_text().splitlines()
    assert f"crlfile {fleet.crl}" in lines
    assert any(line.startswith("listener ") and line.endswith(" 0.0.0.0") for line in lines)
    assert [r.serial_number for r in crl(fleet)] == [
        serial(fleet.device_dir("wall-1") / "device.crt")
    ]
    index = yaml.safe_load(fleet.issued_certificates.read_text())
    assert [c["subject"] for c in index["certificates"]] == ["wall-1"]


def reloads(log: Path) -> int:
    return log.read_text(errors="replace").count("Reloading config")


def test_mosquitto_refuses_a_revoked_certificate_and_serves_the_others(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-1")
    enrol("wall-2")
    ack = topics.ack("wall-1")
    assert subscribe(fleet, "wall-1", ack, count=1, wait_s=1).returncode == 27  # timed out: in
    # A session wall-1 already has when it is revoked.
    seen = tmp_path / "open-session.txt"
    argv = ["mosquitto_sub", *identity(fleet, "wall-1"), "-t", topics.command_request("wall-1")]
    with seen.open("wb") as out:
        open_session = subprocess.Popen([*argv, "-v"], stdout=out, stderr=subprocess.STDOUT)
    try:

        def subscribed() -> bool:  # a probe that arrives shows it connected and subscribed
            publish(fleet, "console", topics.command_request("wall-1"), b"before-revocation")
            return "before-revocation" in seen.read_text()

        wait_until(subscribed, 20, "the open session to be subscribed", every=0.5)
        log = tmp_path / BROKER_LOG
        before = reloads(log)
        result = revoke(fleet, "--device", "wall-1", "--reason", "lost")
        assert result.returncode == 0, result.stderr
        # The fixture's broker is not run by `broker --run`: SIGHUP, and we are told to restart.
        assert "broker: reloaded" in result.stdout
        assert "restart it to close open connections" in result.stdout
        wait_until(lambda: reloads(log) > before, 10, "mosquitto to reload")

        refused = subscribe(fleet, "wall-1", ack, count=1, wait_s=3)
        assert refused.returncode not in (0, 27), refused  # the handshake failed
        assert "certificate verify failed" in broker.log_tail(40)
        assert subscribe(fleet, "wall-2", topics.ack("wall-2"), count=1, wait_s=1).returncode == 27

        # Measured: the open session survives SIGHUP but is denied everything.
        publish(fleet, "console", topics.command_request("wall-1"), b"after-revocation")
        time.sleep(1.0)
        assert open_session.poll() is None, "still connected: a CRL is read at handshakes only"
        assert "after-revocation" not in seen.read_text()
        # A restart (what `revoke` does to a broker run by `broker --run`) ends it.
        broker.restart()
        wait_until(lambda: "certificate verify failed" in broker.log_tail(40), 20, "a refusal")
    finally:
        open_session.terminate()
        open_session.wait(10)
