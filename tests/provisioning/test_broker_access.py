"""The generated configuration against the real mosquitto: mTLS identities and the ACL.

Every denial is proved by an independent subscriber (the bridge) or by a positive
control on the same connection, never by the publisher's return code alone: with
MQTT v5 a denied publish still gets a PUBACK, whose reason code is "Not authorized".
"""

from __future__ import annotations

import os
import queue
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from processes import BROKER_LOG, Enrol, free_port

from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.provisioning.broker_config import refresh_acl, write_broker_config
from healthhub.provisioning.broker_process import BrokerProcess, reload_acl
from healthhub.provisioning.enrolment import enrol_device
from healthhub.provisioning.fleet import init_fleet

TIMEOUT_S = 10.0
NOT_AUTHORIZED = 135


class Peer:
    """One MQTT v5 client with a fleet identity, on paho's network thread.

    ``who`` is ``bridge``, ``console``, a device id, or ``none`` (TLS without a
    client certificate); ``fleet_for_cert`` lends a certificate from another fleet.
    """

    def __init__(self, fleet: FleetLayout, who: str, cert_fleet: FleetLayout | None = None) -> None:
        self.who = who
        self.port = load_manifest(fleet).broker_port
        context = ssl.create_default_context(cafile=str(fleet.ca_cert))
        issuer = cert_fleet or fleet
        if who in ("bridge", "console"):
            files = issuer.client(who)
            context.load_cert_chain(files.cert, files.key)
        elif who != "none":
            bundle = issuer.device_dir(who)
            context.load_cert_chain(bundle / "device.crt", bundle / "device.key")
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{who}-probe-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.tls_set_context(context)
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._connack: queue.Queue[ReasonCode] = queue.Queue()
        self._acks: dict[int, list[ReasonCode]] = {}
        self._acked = threading.Condition()
        self.disconnected = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, rc: ReasonCode, props: Any
    ) -> None:
        self._connack.put(rc)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.disconnected.set()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, bytes(message.payload)))

    def _ack(self, mid: int, codes: list[ReasonCode]) -> None:
        with self._acked:
            self._acks[mid] = codes
            self._acked.notify_all()

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: ReasonCode, props: Any) -> None:
        self._ack(mid, [rc])

    def _on_subscribe(
        self, client: Any, userdata: Any, mid: int, codes: list[ReasonCode], props: Any
    ) -> None:
        self._ack(mid, list(codes))

    def _wait_ack(self, mid: int, what: str) -> list[ReasonCode]:
        with self._acked:
            if not self._acked.wait_for(lambda: mid in self._acks, TIMEOUT_S):
                raise AssertionError(f"{self.who}: no {what} within {TIMEOUT_S} s")
            return self._acks.pop(mid)

    def connect(self) -> str:
        """``connected``, or how the broker refused: a TLS error, a CONNACK, a disconnect."""
        try:
            self.client.connect("localhost", self.port)
        except (ssl.SSLError, OSError) as exc:
            return f"refused in the TLS handshake: {exc}"
        self.client.loop_start()
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                code = self._connack.get(timeout=0.05)
            except queue.Empty:
                if self.disconnected.is_set():
                    return "refused: disconnected before CONNACK"
                continue
            return "connected" if not code.is_failure else f"refused by CONNACK: {code}"
        raise AssertionError(f"{self.who}: neither CONNACK nor disconnect in {TIMEOUT_S} s")

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """QoS 1; returns the PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return self._wait_ack(info.mid, f"PUBACK for {topic}")[0]

    def subscribe(self, topic: str) -> ReasonCode:
        """QoS 1; returns the SUBACK's reason code (granted QoS, or why not)."""
        result, mid = self.client.subscribe(topic, qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        assert mid is not None
        return self._wait_ack(mid, f"SUBACK for {topic}")[0]

    def next_message(self) -> tuple[str, bytes]:
        try:
            return self.messages.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise AssertionError(f"{self.who}: no message within {TIMEOUT_S} s") from None

    def received(self) -> list[tuple[str, bytes]]:
        """Everything received and not yet taken."""
        found = []
        while not self.messages.empty():
            found.append(self.messages.get_nowait())
        return found

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def peers() -> Iterator[list[Peer]]:
    """Peers a test made; all are disconnected at teardown."""
    made: list[Peer] = []
    yield made
    for peer in made:
        peer.close()


def connected(peers: list[Peer], fleet: FleetLayout, who: str) -> Peer:
    peer = Peer(fleet, who)
    peers.append(peer)
    assert peer.connect() == "connected", who
    return peer


def succeeded(code: ReasonCode) -> bool:
    return not code.is_failure


def test_device_certificate_connects_as_its_id(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, peers: list[Peer], tmp_path: Path
) -> None:
    enrol("wall-a")
    device = connected(peers, fleet, "wall-a")
    assert succeeded(device.publish(topics.status("wall-a"), b'{"state":"online"}'))
    log = (tmp_path / BROKER_LOG).read_text()
    assert "u'wall-a'" in log  # the username is the certificate's CN


def test_client_without_certificate_is_refused(
    fleet: FleetLayout, broker: BrokerProcess, peers: list[Peer]
) -> None:
    anonymous = Peer(fleet, "none")
    peers.append(anonymous)
    assert anonymous.connect().startswith("refused")
    assert broker.running  # and the broker carries on
    assert connected(peers, fleet, "bridge")


def test_certificate_from_another_fleet_is_refused(
    fleet: FleetLayout, broker: BrokerProcess, peers: list[Peer], tmp_path: Path
) -> None:
    other = init_fleet(tmp_path / "other", name="Other PCN", broker_port=free_port())
    enrol_device(other, device="wall-a", site="practice-a")
    enrol_device(fleet, device="wall-a", site="practice-a")  # same id, our CA
    impostor = Peer(fleet, "wall-a", cert_fleet=other)
    peers.append(impostor)
    assert impostor.connect().startswith("refused")


def test_device_cannot_publish_into_another_devices_subtree(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, peers: list[Peer]
) -> None:
    enrol("wall-a", site="practice-a")
    enrol("wall-b", site="practice-b")
    bridge = connected(peers, fleet, "bridge")
    assert succeeded(bridge.subscribe(topics.ALL_UP))
    device_a = connected(peers, fleet, "wall-a")

    denied = device_a.publish(topics.up("wall-b", "readings"), b"forged")
    allowed = device_a.publish(topics.up("wall-a", "readings"), b"genuine")

    assert denied.value == NOT_AUTHORIZED, str(denied)
    assert succeeded(allowed), str(allowed)
    # The bridge receives A's own publish; had the forged one passed, it would
    # have been queued to the bridge first (same connection, same order).
    assert bridge.next_message() == (topics.up("wall-a", "readings"), b"genuine")
    assert bridge.received() == []


def test_device_cannot_read_another_devices_ack_nor_forge_its_own(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, peers: list[Peer]
) -> None:
    enrol("wall-a", site="practice-a")
    enrol("wall-b", site="practice-b")
    bridge = connected(peers, fleet, "bridge")
    assert succeeded(bridge.publish(topics.ack("wall-b"), b'{"seq": 7}', retain=True))
    assert succeeded(bridge.publish(topics.ack("wall-a"), b'{"seq": 3}', retain=True))

    device_b = connected(peers, fleet, "wall-b")  # positive control: the retained ack is there
    assert succeeded(device_b.subscribe(topics.ack("wall-b")))
    assert device_b.next_message() == (topics.ack("wall-b"), b'{"seq": 7}')

    device_a = connected(peers, fleet, "wall-a")
    other_ack = device_a.subscribe(topics.ack("wall-b"))
    assert succeeded(device_a.subscribe(topics.ack("wall-a")))
    # Retained messages come in subscription order: A's own ack arrives, B's never did.
    assert device_a.next_message() == (topics.ack("wall-a"), b'{"seq": 3}')
    assert device_a.received() == []
    assert other_ack.is_failure or other_ack.value in (0, 1), str(other_ack)

    forged = device_a.publish(topics.ack("wall-a"), b'{"seq": 999999}', retain=True)
    assert forged.value == NOT_AUTHORIZED, str(forged)
    assert device_b.received() == []


def test_device_reads_its_site_and_fleet_documents_only(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, peers: list[Peer]
) -> None:
    enrol("wall-a", site="practice-a")
    console = connected(peers, fleet, "console")
    for topic, body in (
        (topics.site_config("practice-b"), b"b-config"),
        (topics.site_config("practice-a"), b"a-config"),
        (topics.FLEET_CONFIG, b"fleet-config"),
    ):
        assert succeeded(console.publish(topic, body, retain=True)), topic
    device_a = connected(peers, fleet, "wall-a")
    device_a.subscribe(topics.site_config("practice-b"))
    device_a.subscribe(topics.site_config("practice-a"))
    device_a.subscribe(topics.FLEET_CONFIG)
    assert device_a.next_message() == (topics.site_config("practice-a"), b"a-config")
    assert device_a.next_message() == (topics.FLEET_CONFIG, b"fleet-config")
    assert device_a.received() == []
    # Only the console writes desired documents.
    assert device_a.publish(topics.FLEET_CONFIG, b"mine").value == NOT_AUTHORIZED


def test_device_enrolled_after_start_is_allowed_after_sighup(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, peers: list[Peer], tmp_path: Path
) -> None:
    enrol("wall-a")
    bridge = connected(peers, fleet, "bridge")
    assert succeeded(bridge.subscribe(topics.ALL_UP))

    # Enrolled and in the ACL file, but the broker has not re-read it yet.
    enrol_device(fleet, device="late-1", site="practice-a")
    assert refresh_acl(fleet)
    early = connected(peers, fleet, "late-1")  # the certificate is valid already
    assert early.publish(topics.up("late-1", "readings"), b"too early").value == NOT_AUTHORIZED

    log = tmp_path / BROKER_LOG
    reloads = log.read_text().count("Reloading config")
    assert reload_acl(fleet)
    deadline = time.monotonic() + TIMEOUT_S
    while log.read_text().count("Reloading config") == reloads:
        assert time.monotonic() < deadline, "mosquitto did not reload on SIGHUP"
        time.sleep(0.01)

    late = connected(peers, fleet, "late-1")
    assert succeeded(late.publish(topics.up("late-1", "readings"), b"allowed"))
    # The bridge's connection survived the reload and did not get the early one.
    assert bridge.next_message() == (topics.up("late-1", "readings"), b"allowed")
    # mosquitto re-applies the ACL to connected clients too.
    assert succeeded(early.publish(topics.up("late-1", "readings"), b"same connection"))
    assert bridge.next_message() == (topics.up("late-1", "readings"), b"same connection")
    assert bridge.received() == []

    # The enrol fixture does all of that in one call.
    enrol("late-2")
    assert succeeded(connected(peers, fleet, "late-2").publish(topics.status("late-2"), b"{}"))


def test_broker_runs_as_the_provisioning_user(fleet: FleetLayout, broker: BrokerProcess) -> None:
    status = Path(f"/proc/{broker.pid}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert {int(uid) for uid in uids} == {os.geteuid()}


def test_generated_config_of_a_fresh_fleet_starts(tmp_path: Path) -> None:
    layout = init_fleet(tmp_path / "f", name="Fresh", broker_port=free_port())
    write_broker_config(layout)
    process = BrokerProcess(layout, log_path=tmp_path / "fresh.log")
    process.start()
    try:
        assert process.running
    finally:
        assert process.stop() == 0
