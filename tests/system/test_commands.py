"""Signed commands through mosquitto (TLS, ACLs): each answered on the MQTT v5 response
topic with its correlation data, acted on at most once; forged, expired and replayed
commands rejected; restart-agent answered ``succeeded`` once the agent is back."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from processes import Enrol, agent, agent_status, configure, connected, run_cli, wait_until

from healthhub.agent.device_actions import RESTART_EXIT_CODE
from healthhub.fleet.console_session import ConsoleSession
from healthhub.protocol import commands, topics
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.signed import generate_signing_key
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system


def cmd(fleet: FleetLayout, name: str, *extra: str, timeout: float = 30) -> tuple[int, Any]:
    result = run_cli(
        "healthhub-fleet",
        "cmd",
        "--fleet",
        str(fleet.root),
        "--device",
        "kiosk-1",
        name,
        "--wait",
        "--timeout",
        str(timeout),
        "--json",
        *extra,
        check=False,
        timeout=timeout + 30,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


class Answers:
    """A console session on kiosk-1's cmd/res: answers by correlation data."""

    def __init__(self, fleet: FleetLayout) -> None:
        self.by_correlation: dict[bytes, list[dict[str, Any]]] = {}
        self.changed = threading.Condition()
        self.session = ConsoleSession(fleet, "test", self._on_message)
        self.session.subscribe([(topics.command_response("kiosk-1"), 1)], settle=False)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None) if props else None
        with self.changed:
            self.by_correlation.setdefault(bytes(correlation or b""), []).append(
                commands.parse_result(bytes(message.payload))
            )
            self.changed.notify_all()

    def send(self, payload: bytes, correlation: bytes) -> None:
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = topics.command_response("kiosk-1")
        props.CorrelationData = correlation
        self.session.client.publish(
            topics.command_request("kiosk-1"), payload, qos=1, properties=props
        ).wait_for_publish(10)

    def states(self, correlation: bytes, count: int) -> list[dict[str, Any]]:
        with self.changed:
            ok = self.changed.wait_for(
                lambda: len(self.by_correlation.get(correlation, [])) >= count, 30
            )
            assert ok, f"{count} answer(s) for {correlation!r}: {self.by_correlation}"
            return list(self.by_correlation[correlation])


def test_commands_are_answered_once_each_and_bad_ones_are_refused(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    kiosk = enrol("kiosk-1", role="kiosk", simulate=False)
    configure(
        kiosk,
        telemetry={"interval_s": 0.3},
        peripherals=[{"name": "led", "driver": "status_led", "backend": "simulator"}],
        commands={
            "restart_ui": ["sh", "-c", "echo kiosk restarted"],
            "reboot": ["sh", "-c", "echo not today >&2; exit 3"],
        },
    )
    service = agent(kiosk, tmp_path).start()
    answers = Answers(fleet)
    seed = read_key(fleet.signing_key)
    try:
        wait_until(lambda: connected(kiosk), 60, "kiosk connected")
        code, identify = cmd(fleet, "identify", "--arg", "seconds=5")
        assert code == 0, identify
        assert identify["state"] == "succeeded"
        assert [a["state"] for a in identify["answers"]] == ["accepted", "succeeded"]
        assert identify["detail"]["leds"] == ["led"]

        code, logs = cmd(fleet, "collect-logs", "--arg", "lines=200")
        assert code == 0, logs
        lines = logs["detail"]["lines"]
        assert any("connected to broker" in line for line in lines)
        assert any("identify" in line and "accepted" in line for line in lines)

        code, ui = cmd(fleet, "restart-ui")
        assert code == 0, ui
        assert ui["detail"]["output"] == "kiosk restarted"

        code, reboot = cmd(fleet, "reboot")
        assert code == 1
        assert reboot["state"] == "failed"
        assert "exited with 3: not today" in reboot["reason"]

        code, flushed = cmd(fleet, "flush-outbox-now")
        assert code == 0, flushed
        assert flushed["detail"]["depth"] >= 0

        # Replayed: the same signed request twice is acted on once.
        again = commands.encode(commands.make("kiosk-1", "identify", {"seconds": 5}), seed)
        answers.send(again, b"first")
        assert [a["state"] for a in answers.states(b"first", 2)] == ["accepted", "succeeded"]
        answers.send(again, b"replay")
        [replayed] = answers.states(b"replay", 1)
        assert replayed["state"] == "rejected"
        assert replayed["reason"].startswith("replayed")

        # Expired before it arrived.
        past = datetime.now(UTC) - timedelta(minutes=10)
        stale = commands.make("kiosk-1", "identify", lifetime_s=60, now=past)
        answers.send(commands.encode(stale, seed), b"stale")
        [expired] = answers.states(b"stale", 1)
        assert expired["state"] == "expired"
        assert expired["id"] == stale.id

        # Signed by another key, or meant for another device.
        other_seed, _ = generate_signing_key()
        forged = commands.make("kiosk-1", "restart-agent")
        answers.send(commands.encode(forged, other_seed), b"forged")
        [refused] = answers.states(b"forged", 1)
        assert refused["state"] == "rejected"
        assert "signature" in refused["reason"]
        elsewhere = commands.make("wall-7", "restart-agent")
        answers.send(commands.encode(elsewhere, seed), b"elsewhere")
        [refused] = answers.states(b"elsewhere", 1)
        assert "not kiosk-1" in refused["reason"]
        assert service.running  # none of those restarted it

        # restart-agent: accepted now, succeeded once the agent is back.
        restart = commands.make("kiosk-1", "restart-agent")
        answers.send(commands.encode(restart, seed), restart.id.encode())
        assert answers.states(restart.id.encode(), 1)[0]["state"] == "accepted"
        assert service.process is not None
        assert service.process.wait(30) == RESTART_EXIT_CODE
        service = agent(kiosk, tmp_path, name="agent-kiosk-1-again").start()
        states = answers.states(restart.id.encode(), 2)
        assert [a["state"] for a in states] == ["accepted", "succeeded"]
        last = agent_status(kiosk)["commands"]["journal"]["last"]
        assert (last["id"], last["state"]) == (restart.id, "succeeded")
        status = ["healthhub-fleet", "status", "--fleet", str(fleet.root), "--wait", "5"]
        [row] = json.loads(run_cli(*status, "--json").stdout)
        assert row["last_command"]["name"] == "restart-agent"
        assert row["last_command"]["state"] == "succeeded"
        assert "restart-agent succeeded" in run_cli(*status).stdout
    finally:
        answers.session.close()
        assert service.stop() == 0
