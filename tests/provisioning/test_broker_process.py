"""BrokerProcess and `healthhub-provision broker --run`: starting, stopping, reloading mosquitto."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from processes import script, wait_until

from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning import broker_process
from healthhub.provisioning.broker_process import BrokerProcess, pid_file, running_pid
from healthhub.provisioning.cli import main
from healthhub.provisioning.errors import BrokerNotInstalled, BrokerStartError

TIMEOUT_S = 10.0


def accepts_tls(fleet: FleetLayout, device: str) -> bool:
    """A TLS handshake with ``device``'s certificate succeeds (the broker is up and ours)."""
    context = ssl.create_default_context(cafile=str(fleet.ca_cert))
    bundle = fleet.device_dir(device)
    context.load_cert_chain(bundle / "device.crt", bundle / "device.key")
    port = load_manifest(fleet).broker_port
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="localhost"),
        ):
            return True
    except OSError:
        return False


def test_pid_file_lives_as_long_as_the_broker(fleet: FleetLayout, broker: BrokerProcess) -> None:
    assert running_pid(fleet) == broker.pid
    assert broker.port == load_manifest(fleet).broker_port
    assert broker.stop() == 0
    assert not pid_file(fleet).exists()
    assert running_pid(fleet) is None


def test_a_stale_pid_file_names_no_broker(fleet: FleetLayout) -> None:
    with subprocess.Popen(["sleep", "30"]) as other:
        pid_file(fleet).write_text(f"{other.pid}\n")
        try:
            assert running_pid(fleet) is None  # never SIGHUP a process that is not our broker
        finally:
            other.kill()


def test_paused_broker_stops_cleanly(fleet: FleetLayout, broker: BrokerProcess) -> None:
    broker.pause()
    assert broker.running
    assert broker.stop() == 0  # SIGTERM is handled once it is resumed, not SIGKILLed


def test_kill_and_restart(fleet: FleetLayout, broker: BrokerProcess, tmp_path: Path) -> None:
    first = broker.pid
    broker.kill()
    assert broker.returncode == -signal.SIGKILL
    broker.start()
    assert broker.running
    assert broker.pid != first
    broker.restart()
    assert running_pid(fleet) == broker.pid


def test_a_second_broker_for_the_fleet_is_refused(
    fleet: FleetLayout, broker: BrokerProcess, tmp_path: Path
) -> None:
    second = BrokerProcess(fleet, log_path=tmp_path / "second.log")
    with pytest.raises(BrokerStartError, match=f"already running \\(pid {broker.pid}\\)"):
        second.start()
    assert running_pid(fleet) == broker.pid  # the first one's pid file is untouched


def test_port_in_use_is_a_clear_error(fleet: FleetLayout, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", load_manifest(fleet).broker_port))
        squatter.listen()
        process = BrokerProcess(fleet, log_path=tmp_path / "mosquitto.log")
        with pytest.raises(BrokerStartError, match="in use by another process"):
            process.start()
    assert not pid_file(fleet).exists()


def test_start_failure_carries_the_log(fleet: FleetLayout, tmp_path: Path) -> None:
    fleet.broker_acl.unlink()
    process = BrokerProcess(fleet, log_path=tmp_path / "mosquitto.log")
    with pytest.raises(BrokerStartError, match="exited") as failure:
        process.start()
    assert "acl" in str(failure.value).lower()  # mosquitto's own words
    assert not process.running
    assert not pid_file(fleet).exists()


def test_missing_mosquitto_names_the_install_step(
    fleet: FleetLayout,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(broker_process, "FALLBACK_BINARIES", ())
    with pytest.raises(BrokerNotInstalled, match="make setup"):
        BrokerProcess(fleet).start()
    assert main(["broker", str(fleet.root), "--run"]) == 1
    err = capsys.readouterr().err
    assert "mosquitto not found: run `make setup` (installs it with apt-get)" in err


def test_broker_run_reloads_on_enrolment_and_stops_on_sigterm(
    fleet: FleetLayout, tmp_path: Path
) -> None:
    provision = script("healthhub-provision")
    log = tmp_path / "broker-run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [provision, "broker", str(fleet.root), "--bind", "127.0.0.1", "--run"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "running on port" in log.read_text(), TIMEOUT_S, "broker --run")
        mosquitto = running_pid(fleet)
        assert mosquitto is not None
        assert mosquitto != run.pid  # the pid file names mosquitto itself

        enrolled = subprocess.run(
            [provision, "device", str(fleet.root), "--site", "practice-a", "--id", "wall-9"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "reloading" in enrolled.stdout
        wait_until(lambda: "Reloading config" in log.read_text(), TIMEOUT_S, "ACL reload")
        assert accepts_tls(fleet, "wall-9")

        run.send_signal(signal.SIGTERM)
        assert run.wait(TIMEOUT_S) == 0
        assert "terminating" in log.read_text()  # mosquitto shut down, not orphaned
        assert not pid_file(fleet).exists()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        pid = running_pid(fleet)
        if pid is not None:  # mosquitto outlived its runner: the test has failed already
            os.kill(pid, signal.SIGKILL)
