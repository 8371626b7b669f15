"""One short console connection to the fleet's broker: what the console's push and command
verbs share (connect with the console certificate, subscribe, collect what arrives)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthhub.fleet.console import RETAINED_SETTLE_S, ConsoleError
from healthhub.fleet.practice_client import connect, practice_client
from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout

CONNECT_TIMEOUT_S = 15.0
SUBSCRIBE_TIMEOUT_S = 15.0

OnMessage = Callable[[mqtt.MQTTMessage], None]


class ConsoleSession:
    """Connected on construction; :attr:`latest` holds the last payload seen per topic."""

    def __init__(self, layout: FleetLayout, purpose: str, on_message: OnMessage | None = None):
        self.client = practice_client(
            layout, "console", client_id=f"{topics.CONSOLE_IDENTITY}-{purpose}-{os.getpid()}"
        )
        self.lock = threading.Lock()
        self.latest: dict[str, bytes] = {}
        self.received = 0  # messages so far: a caller polling ``latest`` sees whether to look
        self._connected = threading.Event()
        self._subacks: dict[int, threading.Event] = {}
        self._refused: str | None = None
        self._hook = on_message
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        connect(self.client, layout)
        self.client.loop_start()
        if not self._connected.wait(CONNECT_TIMEOUT_S) or self._refused:
            self.close()
            raise ConsoleError(f"cannot reach the fleet's broker ({self._refused or 'timed out'})")

    def _on_connect(self, client: mqtt.Client, u: Any, f: Any, code: ReasonCode, p: Any) -> None:
        if code.is_failure:
            self._refused = str(code)
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
        with self.lock:
            done = self._subacks.get(mid)
        if done is not None:
            done.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.latest[message.topic] = bytes(message.payload)
            self.received += 1
        if self._hook is not None:
            self._hook(message)

    def subscribe(self, subscriptions: list[tuple[str, int]], *, settle: bool = True) -> None:
        """Subscribe and wait for the SUBACK; with ``settle``, also for retained messages."""
        done = threading.Event()
        with self.lock:
            _, mid = self.client.subscribe(subscriptions)
            if mid is not None:
                self._subacks[mid] = done
        if not done.wait(SUBSCRIBE_TIMEOUT_S):
            raise ConsoleError("the broker did not answer a subscription")
        if settle:
            time.sleep(RETAINED_SETTLE_S)  # retained messages follow the SUBACK at once

    def snapshot(self) -> dict[str, bytes]:
        with self.lock:
            return dict(self.latest)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        retain: bool = False,
        properties: Properties | None = None,
        wait: bool = True,
    ) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1; with ``wait``, until the broker took it. Any failure (the broker
        gone mid-push) is a :class:`ConsoleError`, not paho's bare RuntimeError."""
        try:
            info = self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)
        except (RuntimeError, ValueError) as exc:
            raise ConsoleError(f"publish to {topic} failed: {exc}") from None
        if wait:
            acknowledged(info)
        return info

    def close(self) -> None:
        # disconnect first: paho's network thread then leaves its select() at once, where
        # loop_stop() first would wait for it (up to a second per console command)
        self.client.disconnect()
        self.client.loop_stop()


def acknowledged(info: mqtt.MQTTMessageInfo) -> None:
    """Wait until the broker acknowledged a publish; :class:`ConsoleError` if it did not."""
    try:
        info.wait_for_publish(CONNECT_TIMEOUT_S)
    except (RuntimeError, ValueError) as exc:
        raise ConsoleError(f"publish failed: {exc}") from None
    if not info.is_published():
        raise ConsoleError(f"the broker did not acknowledge a publish in {CONNECT_TIMEOUT_S:g} s")
