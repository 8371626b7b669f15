"""Signed commands from provisioning to one device, over the broker, as the console.

``healthhub-provision rotate`` must talk to a device (``cert.request``, ``cert.install``)
but may import only ``protocol`` (DESIGN.md, layout), not the console of ``fleet``: this is
the small part of it that rotation needs. It connects with the console's client certificate
(the only practice-side identity the ACL lets write ``devices/+/cmd/req``), listens on the
device's ``cmd/res``, and sends each command with the MQTT v5 response topic and its id as
correlation data, as ``healthhub-fleet cmd`` does; answers to other consoles' commands are
not ours and are ignored.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthhub.protocol import commands, topics
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.protocol.keys import read_key
from healthhub.protocol.tls import client_context
from healthhub.provisioning.errors import ProvisioningError

CONNECT_TIMEOUT_S = 15.0


class ChannelError(ProvisioningError):
    """The broker could not be reached, or refused what was sent."""


class CommandChannel:
    """One console connection for commands to ``device``; use as a context manager."""

    def __init__(self, layout: FleetLayout, device: str) -> None:
        self.layout = layout
        self.device = device
        self._seed = read_key(layout.signing_key)
        self._answers: dict[bytes, list[dict[str, Any]]] = {}
        self._changed = threading.Condition()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        files = layout.client("console")
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{topics.CONSOLE_IDENTITY}-provision-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        client.tls_set_context(client_context(files.ca, files.cert, files.key))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    def __enter__(self) -> CommandChannel:
        manifest = load_manifest(self.layout)
        try:
            self._client.connect_async(
                manifest.broker_host, manifest.broker_port, keepalive=30, clean_start=True
            )
        except (OSError, ValueError) as exc:
            raise ChannelError(f"cannot reach the fleet's broker: {exc}") from None
        self._client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S) or self._refused:
            self.close()
            raise ChannelError(
                "cannot reach the fleet's broker at "
                f"{manifest.broker_host}:{manifest.broker_port} "
                f"({self._refused or 'no answer'}): is it running?"
            )
        self._client.subscribe(topics.command_response(self.device), qos=1)
        if not self._subscribed.wait(CONNECT_TIMEOUT_S):
            self.close()
            raise ChannelError("the broker did not answer a subscription")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, u: Any, f: Any, code: ReasonCode, p: Any) -> None:
        if code.is_failure:
            self._refused = str(code)
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, u: Any) -> None:
        self._refused = "the connection failed"
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        if not isinstance(correlation, bytes | bytearray):
            return
        try:
            answer = commands.parse_result(bytes(message.payload))
        except MalformedMessage:
            return
        with self._changed:
            if bytes(correlation) in self._answers:
                self._answers[bytes(correlation)].append(answer)
                self._changed.notify_all()

    def run(
        self, name: str, args: Mapping[str, commands.ArgValue] | None, *, wait_s: float
    ) -> dict[str, Any] | None:
        """Sign and send ``name``; return the device's final answer, or None if none came
        within ``wait_s``. The command expires when we stop waiting for it, so a device
        that receives it later does not act on it."""
        command = commands.make(self.device, name, args, lifetime_s=wait_s)
        payload = commands.encode(command, self._seed)
        correlation = command.id.encode("ascii")
        with self._changed:
            self._answers[correlation] = []
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = topics.command_response(self.device)
        props.CorrelationData = correlation
        info = self._client.publish(
            topics.command_request(self.device), payload, qos=1, properties=props
        )
        try:
            info.wait_for_publish(CONNECT_TIMEOUT_S)
        except (RuntimeError, ValueError) as exc:
            raise ChannelError(f"sending {name} failed: {exc}") from None
        if not info.is_published():
            raise ChannelError(f"the broker did not take {name} within {CONNECT_TIMEOUT_S:g} s")
        deadline = time.monotonic() + wait_s
        with self._changed:
            while True:
                final = [
                    a for a in self._answers[correlation] if a["state"] in commands.FINAL_STATES
                ]
                if final:
                    return final[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
