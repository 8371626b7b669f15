"""The bridge: takes what devices send, files it at the practice, and confirms it back.

Messages arrive on paho's network thread and wait in a bounded queue (a full
queue blocks that thread, so the broker holds the rest: backpressure, not
loss). The filing thread takes them in batches and for each batch:

1. checks every envelope (well-formed, sent by the device its topic names,
   from that device's enrolled site, sealed body opens and its sealed header
   matches, a reading's components are valid). A bad message is logged
   (without its contents), counted in the store's ``rejections``, and not filed;
2. commits the good ones in one transaction (each envelope id once);
3. only then PUBACKs them to the broker (manual acks) and publishes, retained,
   ``devices/{device}/ack`` ``{"seq": N}`` for each device whose contiguous
   prefix moved.

The session is persistent, so what devices send while the bridge is down waits
at the broker; what the broker loses, devices send again.

Several instances can share the load (``--share GROUP --instance NAME``, MQTT v5 shared
subscriptions, :mod:`~healthhub.fleet.bridge_sharing`). The ack an instance publishes is
read from the store after its commit, so it covers what the other instances filed too.
Alerts are not shared: every instance files (and logs) every alert, so a dead member cannot
hold one back; the copies filed first by another instance are counted as ``alert_copies``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthhub.fleet.bridge_sharing import Membership
from healthhub.fleet.practice_client import connect, practice_client
from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol import canonical, device_health, topics
from healthhub.protocol import envelope as wire
from healthhub.protocol.clock import now_utc
from healthhub.protocol.errors import (
    InvalidMeasurement,
    MalformedMessage,
    ProtocolError,
    SealError,
)
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.measurements import parse_measurement
from healthhub.protocol.sealed import Opener
from healthhub.protocol.status import ack_payload, parse_ack, parse_status, parse_telemetry
from healthhub.protocol.submissions import READINGS_TO_RECORD, check_form_submission

log = logging.getLogger(__name__)

QUEUE_BOUND = 10_000
REPORT_EVERY_S = 60.0
BATCH_MAX = 2_000


class IdentityMismatch(ProtocolError):
    """An envelope that claims another device, stream or site than the one that sent it."""


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass(frozen=True)
class Report:
    """A device's status or telemetry, kept as the latest known."""

    device: str
    kind: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class SeenAck:
    """A device's retained ack as the broker holds it (shared instances watch them)."""

    device: str
    seq: int


@dataclass
class BridgeCounters:
    received: int = 0
    stored: int = 0
    # Envelopes already in the store (a device's resend, a redelivery, another instance's
    # share): on a shared instance, alerts are counted in ``alert_copies`` instead.
    duplicates: int = 0
    # A shared instance: alerts another instance had filed first. Every instance receives
    # every alert (``bridge_sharing.UNSHARED_STREAMS``), so with N live instances each alert
    # is counted here N - 1 times in all (a device's resend of an alert is counted here too).
    alert_copies: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    acks_published: int = 0
    # Acks seen below the store's confirmed seq and published again (an instance's ack
    # may reach the broker after a higher one from another instance).
    acks_refreshed: int = 0
    batches: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _announce_alert(filed: Filed) -> None:
    """Staff watching the bridge see an alert at once (where, why; never who or what value)."""
    env, body = filed.envelope, filed.body
    what = ", ".join(
        str(body[k])
        for k in ("form", "action", "measure", "check", "level")
        if isinstance(body.get(k), str)
    )
    log.warning(
        "ALERT from %s at %s: %s%s (%s)",
        env.device,
        env.site,
        env.kind,
        f" {what}" if what else "",
        env.id,
    )


def rejection_reason(exc: ProtocolError) -> str:
    """A short class of rejection, safe to log and count (never a value from the body)."""
    if isinstance(exc, SealError):
        return "sealed-body"
    if isinstance(exc, InvalidMeasurement):
        return "invalid-measurement"
    if isinstance(exc, IdentityMismatch):
        return "identity"
    if isinstance(exc, MalformedMessage):
        return "malformed"
    return "protocol"


class Bridge:
    def __init__(
        self, layout: FleetLayout, store: PracticeStore, membership: Membership | None = None
    ) -> None:
        self.layout = layout
        self.store = store
        self.membership = membership or Membership()
        self.registry = DeviceRegistry(layout)
        self.opener = Opener(read_key(layout.ingest_key))
        self.counters = BridgeCounters()
        self.connected = threading.Event()
        self._queue: queue.Queue[Incoming] = queue.Queue(QUEUE_BOUND)
        self._stop = threading.Event()
        self._republish = threading.Event()  # set at each connect
        self._client = practice_client(
            layout, "bridge", client_id=self.membership.client_id, manual_ack=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # -- network thread ------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the bridge: %s", reason_code)
            return
        if stale := self.membership.stale_subscriptions():
            client.unsubscribe(stale)
        client.subscribe(self.membership.subscriptions())
        # If the broker lost its retained acks, devices learn them again: from the filing
        # thread, which alone uses the store's connection (read here, on paho's thread, it
        # could see a batch not yet committed).
        self._republish.set()
        self.connected.set()
        log.info("bridge connected")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("bridge lost the broker (%s); paho reconnects", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._queue.put(Incoming(message.topic, bytes(message.payload), message.mid, message.qos))

    # -- filing thread -------------------------------------------------------

    def start(self) -> None:
        connect(self._client, self.layout, persistent_session_s=self.membership.session_s)
        self._client.loop_start()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def report(self) -> dict[str, Any]:
        """Counters and the intake queue's depth against its bound (logged periodically)."""
        return {
            **self.counters.to_json(),
            **self.membership.describe(),
            "queue": {"depth": self._queue.qsize(), "bound": QUEUE_BOUND},
            "connected": self.connected.is_set(),
        }

    def run(self, report_every_s: float = REPORT_EVERY_S) -> None:
        """File batches until :meth:`stop`; log :meth:`report` every ``report_every_s``."""
        next_report = time.monotonic() + report_every_s
        while not self._stop.is_set():
            if self._republish.is_set():
                self._republish.clear()
                self.republish_acks()
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + report_every_s
                log.info("bridge: %s", json.dumps(self.report(), sort_keys=True))
            try:
                first = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.file_batch(batch)

    def republish_acks(self) -> None:
        """Every device's confirmed seq as the store holds it, published retained again."""
        confirmed = self.store.confirmations()
        for device, seq in confirmed.items():
            self._publish_ack(device, seq)
        log.info("acks published again for %d device(s)", len(confirmed))

    def file_batch(self, batch: list[Incoming]) -> None:
        self.counters.received += len(batch)
        self.counters.batches += 1
        received_at = now_utc()
        filed: list[Filed] = []
        seen_acks: list[SeenAck] = []
        rejected: dict[str, int] = {}
        for message in batch:
            outcome = self._classify(message, received_at)
            if isinstance(outcome, SeenAck):
                seen_acks.append(outcome)
            elif isinstance(outcome, Filed):
                filed.append(outcome)
                if outcome.envelope.stream == "alerts":
                    _announce_alert(outcome)
            elif isinstance(outcome, Report):
                self.store.record_report(outcome.device, outcome.kind, outcome.payload, received_at)
            else:
                reason = rejection_reason(outcome)
                rejected[reason] = rejected.get(reason, 0) + 1
                detail = "" if isinstance(outcome, InvalidMeasurement) else f": {outcome}"
                log.warning("rejected a message on %s (%s)%s", message.topic, reason, detail)
        result = self.store.file(filed)
        for reason, n in rejected.items():
            self.store.count_rejection(reason, n)
            self.counters.rejected[reason] = self.counters.rejected.get(reason, 0) + n
        for device, seq in result.conflicts:
            log.error("device %s sent a different message with seq %d: not filed", device, seq)
            self.store.count_rejection("seq-conflict")
        # Committed: now the broker may forget them, and the devices too.
        for message in batch:
            self._client.ack(message.mid, message.qos)
        self.counters.stored += result.stored
        if self.membership.shared:
            self.counters.duplicates += result.duplicates - result.duplicate_alerts
            self.counters.alert_copies += result.duplicate_alerts
        else:
            self.counters.duplicates += result.duplicates
        self._publish_acks(sorted(set(result.advanced) | result.resent_confirmed), seen_acks)

    def _classify(
        self, message: Incoming, received_at: str
    ) -> Filed | Report | SeenAck | ProtocolError:
        """A filed envelope, a device report, a retained ack, or the error that rejects
        the message."""
        try:
            device, rest = topics.parse_device_topic(message.topic)
            if rest.startswith("up/"):
                return self._check(device, rest[3:], message.payload, received_at)
            if rest == "status":
                return Report(device, "status", parse_status(message.payload))
            if rest == "telemetry":
                return Report(device, "telemetry", parse_telemetry(message.payload))
            if rest in ("config/reported", "content/reported", "software/reported"):
                kind = rest.split("/")[0]
                return Report(device, kind, canonical.loads_object(message.payload, what=rest))
            if rest == "ack":  # an empty payload: the retained ack was cleared
                return SeenAck(device, parse_ack(message.payload) if message.payload else 0)
            raise ProtocolError(f"unexpected topic {message.topic}")
        except ProtocolError as exc:
            return exc

    def _check(self, device: str, stream: str, payload: bytes, received_at: str) -> Filed:
        env = wire.parse(payload)
        if env.device != device or env.stream != stream:
            raise IdentityMismatch(
                f"envelope says {env.device}/{env.stream} but was sent as {device}/{stream}"
            )
        site = self.registry.site_of(device)
        if site is None:
            raise IdentityMismatch(f"device {device} is not enrolled in this fleet")
        if env.site != site:
            raise IdentityMismatch(f"device {device} is enrolled at {site}, not {env.site}")
        body = wire.open_body(env, self.opener) if env.sealed else env.body
        if env.stream == "readings":
            parse_measurement(env.kind, body.get("components"))
        elif env.stream == "submissions" and env.kind != READINGS_TO_RECORD:
            check_form_submission(env.kind, body)
        elif env.stream == "alerts" and env.kind == device_health.REASON:
            device_health.check_health_alert(body)  # the unit's hardware, a closed set of fields
        return Filed(env, body, received_at)

    def _publish_acks(self, devices: list[str], seen: list[SeenAck]) -> None:
        """Publish the acks of ``devices``, and again every ack ``seen`` below the store's.

        Each is read from the store now: another instance may have confirmed more than this
        batch did. Two instances publish on two connections, so the broker may keep a lower
        ack that arrived last; whoever sees it publishes the current one again."""
        published = set(devices)
        for device in devices:
            self._publish_ack(device, self.store.confirmed(device))
        for ack in seen:
            if ack.device in published:
                continue
            current = self.store.confirmed(ack.device)
            if ack.seq < current:
                self.counters.acks_refreshed += 1
                self._publish_ack(ack.device, current)
                published.add(ack.device)

    def _publish_ack(self, device: str, seq: int) -> None:
        self._client.publish(topics.ack(device), ack_payload(seq), qos=1, retain=True)
        self.counters.acks_published += 1
