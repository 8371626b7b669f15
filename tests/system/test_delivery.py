"""Readings reach the practice exactly once, in order, whatever happens to the processes.

Each test runs the real parts: mosquitto with the generated TLS/ACL
configuration, the bridge and agents as separate processes.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from processes import (
    Enrol,
    agent,
    agent_status,
    bridge,
    configure,
    filed,
    rows,
    run_cli,
    taken,
    wait_until,
)

from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def assert_exactly_once(store: Path, device: str, taken: int) -> None:
    rows = filed(store, device)
    seqs = [seq for seq, _ in rows]
    assert seqs == list(range(1, taken + 1)), f"{device}: seqs must be 1..{taken} with no gaps"
    assert len({id_ for _, id_ in rows}) == taken, "each envelope id once"


def drain_and_check(config: Path, store: Path, log_dir: Path, device: str) -> int:
    """Stop taking readings, let the agent deliver its backlog, and check the store."""
    configure(config, peripherals=[])
    drainer = agent(config, log_dir, name=f"drain-{device}").start()
    try:
        taken = agent_status(config)["last_seq_taken"]
        wait_until(
            lambda: agent_status(config)["last_seq_confirmed"] == taken,
            120,
            f"{device} to have all {taken} readings confirmed",
            every=0.5,
        )
    finally:
        assert drainer.stop() == 0
    assert agent_status(config)["outbox"]["depth"] == 0
    assert_exactly_once(store, device, taken)
    return int(taken)


def test_readings_are_filed_once_and_leave_the_outbox(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1", sim_interval=0.05)
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    try:
        wait_until(lambda: len(filed(store, "wall-1")) >= 60, 60, "60 readings filed")
        # what the dashboard shows: the layers the unit reported holding, kept by the bridge
        kept = wait_until(
            lambda: rows(store, "SELECT config, content FROM device_reports WHERE device = ?"
                         " AND config IS NOT NULL AND content IS NOT NULL", ("wall-1",)),
            30, "the unit's config and content reports kept",
        )  # fmt: skip
        assert all(isinstance(json.loads(text)["layers"], dict) for text in kept[0])
        status = agent_status(config)
        assert status["link"]["state"] == "connected"
        assert status["last_seq_confirmed"] > 0
    finally:
        assert the_agent.stop() == 0
    total = drain_and_check(config, store, tmp_path, "wall-1")
    assert total >= 60

    export = run_cli("healthhub-fleet", "export", "--store", str(store), "--format", "jsonl")
    lines = [json.loads(line) for line in export.stdout.splitlines()]
    assert len(lines) == total
    first = lines[0]
    assert set(first) == {"id", "device", "site", "seq", "kind", "at", "components"}
    assert first["site"] == "practice-a"
    kinds = {line["kind"] for line in lines}
    assert {"blood_pressure", "body_weight", "oxygen_saturation", "body_temperature"} <= kinds
    for line in lines:
        for component in line["components"]:
            assert set(component) == {"code", "value", "unit"}
    assert the_bridge.stop() == 0


def test_kill9_agent_repeatedly_and_restart_broker_loses_nothing(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk", sim_interval=0.02)
    configure(
        config,
        broker={"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0},
        outbox={"resend_after_s": 2},
    )
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    rng = random.Random(3)
    for round_ in range(5):
        the_agent = agent(config, tmp_path, name=f"agent-{round_}").start()
        wait_until(lambda: taken(config) > 0, 30, "readings taken")
        time.sleep(rng.uniform(0.5, 1.5))
        if round_ == 2:
            broker.kill()  # the broker dies mid-stream without saving
            time.sleep(0.5)
            broker.start()
        if round_ == 3:
            # paho 1.6 died here: broker killed while the client is paused.
            the_agent.signal(signal.SIGSTOP)
            broker.kill()
            broker.start()
            the_agent.signal(signal.SIGCONT)
            time.sleep(1.5)
        the_agent.kill()
    total = drain_and_check(config, store, tmp_path, "kiosk-1")
    assert total > 100
    assert the_bridge.stop() == 0


def test_broker_outage_keeps_taking_readings_and_drains_on_return(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-2", sim_interval=0.1)
    configure(config, broker={"reconnect_initial_s": 0.5, "reconnect_max_s": 2.0})
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    wait_until(lambda: len(filed(store, "wall-2")) > 0, 30, "first readings filed")
    broker.stop()
    taken_at_outage = agent_status(config)["last_seq_taken"]
    wait_until(
        lambda: agent_status(config)["link"]["state"] in ("connecting", "disconnected"),
        30,
        "the agent to report the outage",
    )
    # Readings go on being taken and kept while the broker is away.
    wait_until(
        lambda: (
            agent_status(config)["outbox"]["depth"] >= 40
            and agent_status(config)["last_seq_taken"] > taken_at_outage + 40
        ),
        60,
        "readings to pile up in the outbox",
    )
    outage = agent_status(config)
    assert outage["outbox"]["oldest_age_s"] > 0
    assert outage["link"]["connect_attempts"] >= 2
    broker.start()
    wait_until(lambda: agent_status(config)["link"]["state"] == "connected", 60, "reconnection")
    wait_until(
        lambda: agent_status(config)["last_seq_confirmed"] >= outage["last_seq_taken"],
        60,
        "the backlog to drain",
    )
    assert the_agent.stop() == 0
    log = the_agent.log()
    assert "connecting to the broker failed" in log, "each retry is logged"
    assert "retrying in" in log
    drain_and_check(config, store, tmp_path, "wall-2")
    assert the_bridge.stop() == 0
