"""Revoking a unit and renewing a unit's certificate, against a real mosquitto run by
`healthhub-provision broker --run`, real agents, and the bridge."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mqtt_clients import subscribe
from processes import (
    Enrol,
    Service,
    agent,
    agent_status,
    bridge,
    configure,
    connected,
    filed,
    run_cli,
    script,
    wait_until,
)

from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import reload_acl
from healthhub.provisioning.certificate_index import updating
from healthhub.provisioning.certificates import certify, load_issuer
from healthhub.provisioning.command_channel import CommandChannel
from healthhub.provisioning.revocation_list import write_crl
from healthhub.provisioning.rotation import check_csr

pytestmark = pytest.mark.system

#: Agents come back quickly after the broker restarts (the default backoff starts at 1 s).
QUICK_RECONNECT = {"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0}


def broker_runner(fleet: FleetLayout, log_dir: Path) -> Service:
    """The broker as a practice runs it: `healthhub-provision broker --run`."""
    argv = [script("healthhub-provision"), "broker", str(fleet.root), "--bind", "127.0.0.1"]
    runner = Service("broker", [*argv, "--run"], log_dir).start()
    wait_until(lambda: "mosquitto running on port" in runner.log(), 30, "the broker to run")
    return runner


def refused(fleet: FleetLayout, device: str) -> bool:
    """A real client with the bundle's certificate cannot connect (27 would be "timed out",
    i.e. connected and waiting for a message)."""
    result = subscribe(fleet, device, topics.ack(device), count=1, wait_s=2)
    return result.returncode not in (0, 27)


def bundle_serial(fleet: FleetLayout, device: str) -> str:
    cert = x509.load_pem_x509_certificate((fleet.device_dir(device) / "device.crt").read_bytes())
    return f"{cert.serial_number:X}"


def revoked_serials(fleet: FleetLayout) -> set[str]:
    crl = x509.load_pem_x509_crl(fleet.crl.read_bytes())
    return {f"{entry.serial_number:X}" for entry in crl}


def identity_status(config: Path) -> dict[str, Any]:
    status = json.loads((config.parent / "state" / "agent-status.json").read_text())
    return dict(status["identity"])


def test_a_revoked_unit_is_cut_off_and_what_it_filed_stays(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    lost = enrol("wall-1", sim_interval=0.2)
    kept = enrol("wall-2", sim_interval=0.2)
    for config in (lost, kept):
        configure(config, broker=QUICK_RECONNECT)
    runner = broker_runner(fleet, tmp_path)
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    agents = [agent(lost, tmp_path).start(), agent(kept, tmp_path).start()]
    try:
        wait_until(
            lambda: len(filed(store, "wall-1")) >= 10 and len(filed(store, "wall-2")) >= 10,
            90,
            "both units filing readings",
        )
        wait_until(lambda: connected(lost), 30, "wall-1 connected")
        result = run_cli(
            "healthhub-provision", "revoke", str(fleet.root), "--device", "wall-1",
            "--reason", "stolen from the waiting room",
        )  # fmt: skip
        assert f"certificates {bundle_serial(fleet, 'wall-1')}" in result.stdout
        assert "broker: restarted" in result.stdout
        assert "mosquitto restarted" in runner.log()

        # wall-2 comes back after the restart and goes on filing...
        so_far = len(filed(store, "wall-2"))
        wait_until(lambda: len(filed(store, "wall-2")) >= so_far + 10, 60, "wall-2 filing again")
        # ...while wall-1's open connection was cut and it cannot make a new one.
        status = agent_status(lost)
        assert status["link"]["state"] != "connected"
        assert agents[0].running, "the agent keeps its readings and keeps trying"
        assert refused(fleet, "wall-1")
        assert not refused(fleet, "wall-2")
        assert "certificate verify failed" in runner.log()

        # What the practice confirmed to wall-1 before the revocation is still filed.
        confirmed = status["last_seq_confirmed"]
        assert confirmed >= 10
        seqs = [seq for seq, _ in filed(store, "wall-1")]
        assert seqs[:confirmed] == list(range(1, confirmed + 1))
    finally:
        for service in agents:
            assert service.stop() == 0
        assert the_bridge.stop() == 0
        assert runner.stop() == 0
    export = run_cli("healthhub-fleet", "export", "--store", str(store), "--format", "jsonl")
    exported = [json.loads(line) for line in export.stdout.splitlines()]
    assert sum(1 for line in exported if line["device"] == "wall-1") == len(filed(store, "wall-1"))


def test_rotation_renews_on_the_unit_and_the_old_certificate_is_dead(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1", sim_interval=0.2)
    configure(config, broker=QUICK_RECONNECT)
    old_serial = bundle_serial(fleet, "wall-1")
    runner = broker_runner(fleet, tmp_path)
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    try:
        wait_until(lambda: connected(config), 60, "wall-1 connected")
        wait_until(lambda: len(filed(store, "wall-1")) >= 5, 60, "readings filed")
        assert identity_status(config)["source"] == "enrolment"
        result = run_cli(
            "healthhub-provision", "rotate", str(fleet.root), "--device", "wall-1",
            "--wait", "90", timeout=240,
        )  # fmt: skip
        new_serial = result.stdout.split("now uses certificate ", 1)[1].split()[0]
        assert new_serial != old_serial
        assert f"revoked as superseded: {old_serial}" in result.stdout
        assert "broker: reloaded" in result.stdout

        # The unit runs on its own new key, in its state folder; the old certificate is dead.
        identity = identity_status(config)
        assert (identity["source"], identity["serial"]) == ("renewed", new_serial)
        renewed = config.parent / "state" / "identity" / "device.pem"
        assert stat.S_IMODE(os.stat(renewed).st_mode) == 0o600
        assert not (config.parent / "state" / "identity" / "pending.key").exists()
        assert revoked_serials(fleet) == {old_serial}
        wait_until(lambda: refused(fleet, "wall-1"), 10, "the old certificate refused")
        assert agent_status(config)["link"]["state"] == "connected"
        so_far = len(filed(store, "wall-1"))
        wait_until(lambda: len(filed(store, "wall-1")) >= so_far + 5, 60, "readings flowing")
    finally:
        assert the_agent.stop() == 0

    # Started again, the agent takes the renewed identity (the bundle's is revoked) and its
    # outbox drains.
    configure(config, peripherals=[])
    again = agent(config, tmp_path, name="agent-wall-1-again").start()
    try:
        taken = agent_status(config)["last_seq_taken"]
        wait_until(
            lambda: agent_status(config)["last_seq_confirmed"] == taken,
            90,
            f"all {taken} readings confirmed",
            every=0.5,
        )
        assert agent_status(config)["outbox"]["depth"] == 0
        assert identity_status(config)["serial"] == new_serial
    finally:
        assert again.stop() == 0

    # A unit that does not answer is not renewed, and nothing is revoked.
    crl_before = fleet.crl.read_bytes()
    offline = run_cli(
        "healthhub-provision", "rotate", str(fleet.root), "--device", "wall-1", "--wait", "2",
        check=False,
    )  # fmt: skip
    assert offline.returncode == 1
    assert "did not answer cert.request" in offline.stderr
    assert fleet.crl.read_bytes() == crl_before
    assert the_bridge.stop() == 0
    assert runner.stop() == 0


def test_a_renewed_certificate_the_broker_refuses_is_rolled_back_on_the_unit(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1", simulate=False)
    configure(config, broker=QUICK_RECONNECT)
    runner = broker_runner(fleet, tmp_path)
    the_agent = agent(config, tmp_path).start()
    try:
        wait_until(lambda: connected(config), 60, "wall-1 connected")
        with CommandChannel(fleet, "wall-1") as channel:
            answer = channel.run("cert.request", None, wait_s=30)
            assert answer is not None
            assert answer["state"] == "succeeded", answer
            key = check_csr(answer["detail"]["csr"], "wall-1")
            cert = certify(load_issuer(fleet.ca_cert, fleet.ca_key), key, "wall-1")
            # The new certificate is on the CRL before the unit uses it: the broker refuses it.
            with updating(fleet) as index:
                index.record(cert, "device")
                index.revoke([cert.serial_number], at=dt.datetime.now(dt.UTC), superseded=False)
                write_crl(fleet, index)
            reloads = runner.log().count("Reloading config")
            assert reload_acl(fleet)
            wait_until(lambda: runner.log().count("Reloading config") > reloads, 10, "a reload")
            pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
            answer = channel.run("cert.install", {"certificate": pem}, wait_s=60)
        assert answer is not None
        assert answer["state"] == "failed", answer
        assert "the previous certificate is in use again" in answer["reason"]
        # The unit is back on its enrolment certificate, connected.
        assert identity_status(config)["source"] == "enrolment"
        assert not (config.parent / "state" / "identity" / "device.pem").exists()
        wait_until(lambda: connected(config), 30, "wall-1 connected again")
        assert "rolled back" in the_agent.log()
    finally:
        assert the_agent.stop() == 0
        assert runner.stop() == 0
