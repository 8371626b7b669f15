"""Start, readiness, watchdog, shutdown and loss: the agent as systemd and IT staff see it."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from mqtt_clients import subscribe
from processes import Enrol, agent, configure, run_cli, script, wait_until

from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def notify_socket(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(30)
    return server, path


def retained_status(fleet: FleetLayout, device: str) -> dict[str, object]:
    out = subscribe(fleet, "console", topics.status(device), count=1, wait_s=5).stdout
    return dict(json.loads(out.partition(" ")[2]))


def test_ready_watchdog_and_clean_sigterm(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    server, path = notify_socket(tmp_path)
    with server:
        the_agent = agent(
            config, tmp_path, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}
        ).start()
        messages = [server.recv(4096).decode() for _ in range(4)]
        assert any(m.startswith("READY=1") and "connected" in m for m in messages)
        assert sum(m == "WATCHDOG=1" for m in messages) >= 1
        assert retained_status(fleet, "wall-1")["state"] == "online"
        the_agent.signal(signal.SIGTERM)
        code = the_agent.stop()
    assert code == 0
    status = retained_status(fleet, "wall-1")
    assert status["state"] == "offline"
    assert status["site"] == "practice-a"


def test_ready_when_degraded_and_last_will_on_loss(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    configure(config, broker={"reconnect_initial_s": 0.2, "reconnect_max_s": 0.5})
    broker.stop()
    server, path = notify_socket(tmp_path)
    with server:
        the_agent = agent(config, tmp_path, env={"NOTIFY_SOCKET": path}).start()
        first = server.recv(4096).decode()
        assert first.startswith("READY=1\nSTATUS=degraded"), first
        broker.start()
        wait_until(lambda: retained_status(fleet, "wall-1").get("state") == "online", 30, "online")
    the_agent.kill()  # no clean shutdown: the broker publishes the Last Will
    wait_until(
        lambda: retained_status(fleet, "wall-1").get("state") == "offline",
        60,
        "the Last Will to mark the device offline",
    )


def test_state_database_that_cannot_be_opened_is_reported_and_kept(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    state = config.parent / "state"
    state.mkdir()
    database = state / "outbox.sqlite"
    damaged = b"SQLite format 3\x00" + b"\x5a" * 8000
    database.write_bytes(damaged)
    result = run_cli("healthhub-agent", "--config", str(config), check=False, timeout=30)
    assert result.returncode == 1
    assert str(database) in result.stderr
    assert "left exactly as it is" in result.stderr
    assert database.read_bytes() == damaged
    status = run_cli("healthhub-agent", "status", "--config", str(config), check=False)
    assert status.returncode == 1
    assert database.read_bytes() == damaged


def test_second_agent_on_the_same_state_is_refused(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    first = agent(config, tmp_path).start()
    try:
        wait_until((config.parent / "state" / "agent.lock").exists, 20, "the lock")
        second = run_cli("healthhub-agent", "--config", str(config), check=False, timeout=30)
        assert second.returncode == 1
        assert "another agent is running" in second.stderr
    finally:
        assert first.stop() == 0


def test_fleet_status_shows_online_and_outbox(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    enrol("wall-9")  # enrolled, never started
    configure(config, telemetry={"interval_s": 0.5})
    the_agent = agent(config, tmp_path).start()
    try:
        wait_until(lambda: retained_status(fleet, "kiosk-1").get("state") == "online", 20, "online")
        result = run_cli(
            "healthhub-fleet", "status", "--fleet", str(fleet.root), "--json", "--wait", "5"
        )
        # --watch: a refreshed document a line until Ctrl-C; the agent going offline shows.
        watch = subprocess.Popen(
            [script("healthhub-fleet"), "status", "--fleet", str(fleet.root), "--watch",
             "--json", "--every", "0.3"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert watch.stdout is not None
        first = json.loads(watch.stdout.readline())
        assert {r["device"]: r["state"] for r in first}["kiosk-1"] == "online"
    finally:
        assert the_agent.stop() == 0
    try:
        while True:
            line = json.loads(watch.stdout.readline())
            if {r["device"]: r["state"] for r in line}["kiosk-1"] == "offline":
                break
    finally:
        watch.send_signal(signal.SIGINT)
        assert watch.wait(10) == 0
    rows = {row["device"]: row for row in json.loads(result.stdout)}
    assert rows["kiosk-1"]["state"] == "online"
    assert rows["kiosk-1"]["link"] == "connected"
    assert isinstance(rows["kiosk-1"]["outbox_depth"], int)
    assert rows["wall-9"]["state"] == "never seen"
    text = run_cli("healthhub-fleet", "status", "--fleet", str(fleet.root), "--wait", "0").stdout
    assert "kiosk-1" in text
    assert "offline" in text
