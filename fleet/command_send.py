"""``healthhub-fleet cmd``: sign a command for one device, send it, follow its answers.

The request goes on ``devices/{device}/cmd/req`` (QoS 1, not retained: a command is for
now, and one that waited on the broker for an unit switched off overnight would act at the
wrong time; its expiry is the second guard). It carries the MQTT v5 response topic (the
device's ``cmd/res``, the only answer topic its ACL lets it write) and the command id as
correlation data. The device answers ``accepted`` and then one final state; the console
matches answers by correlation data, so answers to other consoles' commands are ignored.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from healthhub.fleet.console import ConsoleError
from healthhub.fleet.console_session import ConsoleSession
from healthhub.fleet.registry import DeviceRegistry
from healthhub.protocol import commands, topics
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key


@dataclass
class CommandOutcome:
    device: str
    name: str
    id: str
    expires_at: str
    answers: list[dict[str, Any]] = field(default_factory=list)  # in the order they came

    @property
    def state(self) -> str:
        """The last state the device gave, or ``sent`` (no answer yet)."""
        return str(self.answers[-1]["state"]) if self.answers else "sent"

    @property
    def final(self) -> dict[str, Any] | None:
        last = self.answers[-1] if self.answers else None
        return last if last is not None and last["state"] in commands.FINAL_STATES else None

    def to_json(self) -> dict[str, Any]:
        final = self.final or {}
        return {
            "device": self.device,
            "name": self.name,
            "id": self.id,
            "expires_at": self.expires_at,
            "state": self.state,
            "reason": final.get("reason", ""),
            "detail": final.get("detail"),
            "answers": [{"state": a["state"], "at": a["at"]} for a in self.answers],
        }


def send(
    layout: FleetLayout,
    device: str,
    name: str,
    args: dict[str, int] | None = None,
    *,
    lifetime_s: float = commands.DEFAULT_LIFETIME_S,
    wait_s: float | None = None,
) -> CommandOutcome:
    """Sign and send ``name`` to ``device``; with ``wait_s``, wait that long for its final
    state. :class:`~healthhub.protocol.commands.CommandRejected` for a command the device
    would refuse anyway (unknown name, bad argument), :class:`ConsoleError` for a device
    not enrolled here."""
    if device not in DeviceRegistry(layout).devices():
        raise ConsoleError(f"device {device} is not enrolled in this fleet")
    command = commands.make(device, name, args, lifetime_s=lifetime_s)
    payload = commands.encode(command, read_key(layout.signing_key))
    outcome = CommandOutcome(device, name, command.id, command.expires_at)
    correlation = command.id.encode("ascii")
    answered = threading.Condition()

    def on_message(message: mqtt.MQTTMessage) -> None:
        props = message.properties
        if props is None or getattr(props, "CorrelationData", None) != correlation:
            return  # another console's command
        try:
            answer = commands.parse_result(bytes(message.payload))
        except MalformedMessage:
            return
        with answered:
            outcome.answers.append(answer)
            answered.notify_all()

    session = ConsoleSession(layout, "cmd", on_message)
    try:
        response_topic = topics.command_response(device)
        session.subscribe([(response_topic, 1)], settle=False)
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = response_topic
        props.CorrelationData = correlation
        session.publish(topics.command_request(device), payload, properties=props)
        if wait_s is not None:
            deadline = time.monotonic() + wait_s
            with answered:
                while outcome.final is None and time.monotonic() < deadline:
                    answered.wait(max(0.0, deadline - time.monotonic()))
        return outcome
    finally:
        session.close()


def summary(outcome: CommandOutcome) -> str:
    """One line for people: what became of the command."""
    final = outcome.final
    if final is None:
        return f"{outcome.name} {outcome.id} to {outcome.device}: {outcome.state}"
    reason = f": {final['reason']}" if final.get("reason") else ""
    return f"{outcome.name} {outcome.id} on {outcome.device}: {final['state']}{reason}"


def detail_text(outcome: CommandOutcome) -> str:
    """The final answer's detail for people (log lines one per line; anything else JSON)."""
    final = outcome.final or {}
    detail = final.get("detail")
    if not isinstance(detail, dict):
        return ""
    lines = detail.get("lines")
    if isinstance(lines, list):
        return "\n".join(str(line) for line in lines)
    shown = {k: v for k, v in detail.items() if k != "png_base64"}
    return json.dumps(shown, indent=2, sort_keys=True) if shown else ""
