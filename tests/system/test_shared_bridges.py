"""Two bridges share the ingest load (MQTT v5 ``$share``) and one is killed mid-stream.

Real parts: mosquitto with the generated TLS/ACL configuration, four agents taking simulated
readings, two ``healthhub-fleet bridge --share`` processes filing into one SQLite store.
Whatever the broker does with the killed member's messages (mosquitto holds them for its
session, ``docs/scaling.md``), every reading is filed exactly once, every device is confirmed
to its last seq, and the retained acks end at the last seqs. Two ways:

- ``expired``: the killed member's session expires (``--session-expiry 3``); the broker drops
  what it held, the devices send it again, the other member files it all; the killed member
  then restarts with nothing to pick up and files nothing.
- ``resumed``: the killed member comes back within its session and picks up what the broker
  held for it (the devices may also have sent it again to the other member).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from mqtt_clients import subscribe
from paho.mqtt.enums import CallbackAPIVersion
from processes import Enrol, Service, agent, bridge, configure, rejections, rows, wait_until

from healthhub.protocol import topics
from healthhub.protocol.fleet_layout import FleetLayout, load_manifest
from healthhub.protocol.status import parse_ack
from healthhub.protocol.tls import client_context
from healthhub.provisioning.broker_process import BrokerProcess
from tests.fleet.test_bridge_health_alerts import BODY, alert

pytestmark = pytest.mark.system

DEVICES = ("wall-1", "wall-2", "wall-3", "kiosk-1")
READINGS = 100  # per device: 400 in all
GROUP = "ingest"


@dataclass(frozen=True)
class Outbox:
    last_seq: int
    confirmed_seq: int
    depth: int


def outbox(config: Path) -> Outbox | None:
    """The agent's outbox as it is on disk, read-only (None before the agent has made it)."""
    found = rows(config.parent / "state" / "outbox.sqlite", "SELECT key, value FROM meta")
    if not found:
        return None
    meta = dict(found)
    depth = rows(config.parent / "state" / "outbox.sqlite", "SELECT count(*) FROM outbox")
    return Outbox(int(meta["last_seq"]), int(meta["confirmed_seq"]), int(depth[0][0]))


def taken(config: Path) -> int:
    stats = outbox(config)
    return 0 if stats is None else stats.last_seq


def reports(service: Service, since: int = 0) -> list[dict[str, Any]]:
    """The counters a bridge logged (periodic, and the last one at a clean stop), from byte
    ``since`` of its log."""
    found = []
    for line in service.log()[since:].splitlines():
        for marker in ("healthhub.fleet.bridge: bridge: ", "healthhub.fleet: bridge stopped: "):
            if marker in line:
                found.append(json.loads(line.split(marker, 1)[1]))
    return found


def stored(service: Service, since: int = 0) -> int:
    found = reports(service, since)
    return int(found[-1]["stored"]) if found else 0


def retained_ack(fleet: FleetLayout, device: str) -> int:
    """The ack the broker holds for ``device``, read by an independent subscriber."""
    result = subscribe(fleet, "console", topics.ack(device), count=1, wait_s=10)
    assert result.returncode == 0, result.stderr
    _, payload = result.stdout.strip().split(" ", 1)
    return parse_ack(payload.encode())


def enrol_devices(enrol: Enrol) -> dict[str, Path]:
    """Four devices, each to take READINGS readings, quickly, and to resend after 1 s
    without a confirmation. Enrolled before the bridges start, so that they know them."""
    configs = {}
    for number, device in enumerate(DEVICES):
        config = enrol(device, role="kiosk" if device.startswith("kiosk") else "wall")
        configure(
            config,
            peripherals=[
                {
                    "name": "scale",
                    "driver": "scale",
                    "backend": "simulator",
                    "interval_s": 0.05,
                    "count": READINGS,
                    "seed": number,
                }
            ],
            broker={"reconnect_initial_s": 0.2, "reconnect_max_s": 1.0},
            outbox={"resend_after_s": 1},
        )
        configs[device] = config
    return configs


@pytest.mark.parametrize("session", ["expired", "resumed"])
def test_two_shared_bridges_one_killed_mid_stream_file_everything_exactly_once(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path, session: str
) -> None:
    configs = enrol_devices(enrol)
    store = tmp_path / "store.sqlite"
    options: tuple[str, ...] = ("--report-every", "0.2")
    if session == "expired":
        options += ("--session-expiry", "3")

    def member(name: str) -> Service:
        return bridge(fleet.root, store, tmp_path, share=GROUP, instance=name, options=options)

    a, b = member("a").start(), member("b").start()
    wait_until(
        lambda: all("bridge connected" in one.log() for one in (a, b)), 30, "both bridges connected"
    )
    for config in configs.values():
        agent(config, tmp_path).start()

    # Both members file while the devices are still taking readings; then b dies.
    wait_until(lambda: min(stored(a), stored(b)) >= 20, 60, "both bridges to file some readings")
    b.kill()
    stored_by_b = stored(b)
    taken_at_kill = sum(taken(config) for config in configs.values())
    assert taken_at_kill < READINGS * len(DEVICES), "b must die while readings are still taken"

    wait_until(
        lambda: all(taken(config) == READINGS for config in configs.values()),
        60,
        "every device to take its readings",
    )
    restarted_at = len(b.log())
    if session == "resumed":
        b = member("b").start()

    def confirmed_everywhere() -> bool:
        stats = [outbox(config) for config in configs.values()]
        return all(s is not None and s.confirmed_seq == s.last_seq == READINGS for s in stats)

    wait_until(confirmed_everywhere, 90, "every device confirmed to its last seq", every=0.3)
    for device, config in configs.items():
        stats = outbox(config)
        assert stats is not None
        assert stats.depth == 0, f"{device}: the outbox empties"
        held = rows(store, "SELECT seq, id FROM envelopes WHERE device = ? ORDER BY seq", (device,))
        assert [seq for seq, _ in held] == list(range(1, READINGS + 1)), f"{device}: 1..{READINGS}"
        assert len({envelope_id for _, envelope_id in held}) == READINGS, "each id once"
        assert rows(store, "SELECT confirmed_seq FROM progress WHERE device = ?", (device,)) == [
            (READINGS,)
        ]
    assert rejections(store) == {}, "no conflicts, no rejections"
    # The load was shared: each member filed part of it.
    assert stored(a) > 0
    assert stored_by_b > 0
    wait_until(
        lambda: all(retained_ack(fleet, device) == READINGS for device in DEVICES),
        30,
        "the retained acks to end at the last seqs",
    )

    if session == "expired":
        b = member("b").start()  # a new session: nothing held for it
    wait_until(lambda: "bridge connected" in b.log()[restarted_at:], 30, "b connected again")
    wait_until(
        lambda: any(r["queue"]["depth"] == 0 for r in reports(b, restarted_at)),
        30,
        "b to have drained what it was given",
    )
    for service in (a, b):
        assert service.stop() == 0
    second_run = reports(b, restarted_at)[-1]
    if session == "expired":
        assert second_run["stored"] == 0, "everything was filed by a before b came back"
    total = rows(store, "SELECT count(*), count(DISTINCT id) FROM envelopes")
    assert total == [(READINGS * len(DEVICES), READINGS * len(DEVICES))], "nothing filed twice"
    assert all(retained_ack(fleet, device) == READINGS for device in DEVICES)


def test_alerts_reach_the_practice_while_a_dead_member_still_holds_its_turn(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    """A dead member keeps its turn of the round robin for its whole session (120 s), and a
    shared message given to it waits there until the device sends it again. Alerts are not
    shared: the live member files every one at once. (Shared, every other alert here would
    wait with b: these are sent once and never again.)"""
    enrol("wall-1")
    store = tmp_path / "store.sqlite"

    def member(name: str) -> Service:
        return bridge(fleet.root, store, tmp_path, share=GROUP, instance=name)

    a, b = member("a").start(), member("b").start()
    wait_until(
        lambda: all("bridge connected" in one.log() for one in (a, b)), 30, "both bridges connected"
    )
    b.kill()  # its session (120 s) lives on at the broker, and with it b's turn
    sender = Member(fleet, "wall-1")
    try:
        sent = [alert(fleet, seq, BODY) for seq in range(1, 5)]
        for message in sent:
            sender.publish(message.topic, message.payload)
        ids = {json.loads(message.payload)["id"] for message in sent}

        def filed() -> set[str]:
            held = (
                rows(store, "SELECT id FROM envelopes WHERE stream = 'alerts'")
                if store.exists()
                else []
            )
            return {alert_id for (alert_id,) in held}

        wait_until(lambda: filed() == ids, 30, "every alert filed by the live member")
    finally:
        sender.close()
        assert a.stop() == 0
    assert rows(store, "SELECT count(*), count(DISTINCT id) FROM envelopes") == [(4, 4)]


class Member:
    """A plain MQTT v5 client with a fleet identity (``bridge`` or a device id)."""

    def __init__(self, fleet: FleetLayout, who: str) -> None:
        files = fleet.client("bridge") if who == "bridge" else None
        cert, key = (
            (files.cert, files.key)
            if files is not None
            else (fleet.device_dir(who) / "device.crt", fleet.device_dir(who) / "device.key")
        )
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{who}-probe", protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(client_context(fleet.ca_cert, cert, key))
        self.received: list[tuple[str, bytes]] = []
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.connect("localhost", load_manifest(fleet).broker_port)
        self.client.loop_start()

    def subscribe(self, topic: str) -> None:
        """Subscribe and wait for the SUBACK (publishing before it would race it)."""
        done: list[Any] = []
        self.client.on_subscribe = lambda c, u, mid, codes, p: done.append(codes)
        wait_until(self.client.is_connected, 10, "connected")
        self.client.subscribe(topic, qos=1)
        wait_until(lambda: done, 10, f"SUBACK for {topic}")

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_device_in_the_bridges_share_group_reads_nothing(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol
) -> None:
    """mosquitto checks what it delivers to a shared subscription against the reader's ACL
    on the message's own topic, so a device that joins the bridges' group gets nothing."""
    for device in ("wall-1", "wall-2"):
        enrol(device)
    bridge_member, intruder, sender = (Member(fleet, who) for who in ("bridge", "wall-2", "wall-1"))
    try:
        bridge_member.subscribe(f"$share/{GROUP}/{topics.ALL_UP}")
        intruder.subscribe(f"$share/{GROUP}/{topics.ALL_UP}")
        # Positive control: the intruder's shared subscriptions do deliver what it may read.
        intruder.subscribe(f"$share/control/{topics.ack('wall-2')}")
        for n in range(20):
            sender.publish(topics.up("wall-1", "readings"), f"reading {n}".encode())
        bridge_member.publish(topics.ack("wall-2"), b'{"seq": 1}')
        wait_until(lambda: intruder.received, 10, "the control ack at wall-2")
        intruder.close()
        # Everything the broker distributed before this one has been delivered.
        sender.publish(topics.up("wall-1", "readings"), b"last")
        wait_until(
            lambda: (topics.up("wall-1", "readings"), b"last") in bridge_member.received,
            10,
            "the last message at the bridge",
        )
    finally:
        for member in (bridge_member, intruder, sender):
            member.close()
    assert intruder.received == [(topics.ack("wall-2"), b'{"seq": 1}')]
    assert all(topic == topics.up("wall-1", "readings") for topic, _ in bridge_member.received)
