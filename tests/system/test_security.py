"""Sealed bodies, per-device ACLs, mTLS, and a bridge that survives forged messages."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from mqtt_clients import publish, subscribe, subscriber
from processes import Enrol, agent, bridge, configure, filed, rejections, wait_until

from healthhub.protocol import canonical, topics
from healthhub.protocol import envelope as wire
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer
from healthhub.provisioning.broker_process import BrokerProcess

pytestmark = pytest.mark.system

COMPONENT_CODES = ("systolic", "diastolic", "weight", "spo2", "temperature", "pulse", "mm[Hg]")


def test_console_sees_clinical_bodies_only_as_ciphertext(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1", sim_interval=0.2)
    configure(config, telemetry={"interval_s": 0.5})
    the_agent = agent(config, tmp_path).start()
    try:
        got = subscribe(fleet, "console", "healthhub/v1/devices/wall-1/#", count=40, wait_s=20)
    finally:
        assert the_agent.stop() == 0
    messages: dict[str, list[dict[str, object]]] = {}
    for line in got.stdout.splitlines():
        topic, _, payload = line.partition(" ")
        messages.setdefault(topic.rsplit("wall-1/", 1)[1], []).append(json.loads(payload))
    readings = messages["up/readings"]
    assert readings, "the console saw readings go by"
    for envelope in readings:
        assert set(envelope["body"]) == {"sealed"}  # type: ignore[arg-type]
        # The header (kind, seq, time) is clear by contract; values and units are not.
        body = json.dumps(envelope["body"])
        assert not any(code in body for code in COMPONENT_CODES)
    status = messages["status"][0]
    assert status["state"] == "online"
    telemetry = messages["telemetry"][0]
    for key in ("uptime_s", "outbox", "disk", "memory", "versions", "link", "queues"):
        assert key in telemetry
    assert telemetry["outbox"]["bound"] == 100_000  # type: ignore[index]


def test_acl_keeps_each_device_in_its_own_subtree(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-1")
    enrol("wall-2", site="practice-b")
    seen = tmp_path / "bridge-sees.txt"
    watcher = subscriber(fleet, "bridge", "healthhub/v1/devices/+/up/#", seen)
    try:
        time.sleep(1.0)  # let the independent subscriber connect and subscribe
        publish(fleet, "wall-1", topics.up("wall-1", "readings"), b"own-topic")
        publish(fleet, "wall-1", topics.up("wall-2", "readings"), b"forged-for-wall-2")
        publish(fleet, "wall-1", topics.status("wall-2"), b"forged-status")
        publish(fleet, "wall-1", topics.ack("wall-1"), b'{"seq": 999}', retain=True)
        wait_until(lambda: "own-topic" in seen.read_text(), 15, "the allowed publish to arrive")
        time.sleep(1.0)
    finally:
        watcher.terminate()
        watcher.wait()
    text = seen.read_text()
    assert "forged" not in text

    # wall-1 cannot read wall-2's ack, even when one is retained; wall-2 can.
    assert (
        publish(fleet, "bridge", topics.ack("wall-2"), b'{"seq": 7}', retain=True).returncode == 0
    )
    assert "seq" not in subscribe(fleet, "wall-1", topics.ack("wall-2"), count=1, wait_s=2).stdout
    assert (
        '{"seq": 7}' in subscribe(fleet, "wall-2", topics.ack("wall-2"), count=1, wait_s=5).stdout
    )
    # ...and could not forge its own ack (only the bridge writes acks).
    assert "999" not in subscribe(fleet, "wall-1", topics.ack("wall-1"), count=1, wait_s=2).stdout
    # A client without a certificate is refused at the TLS handshake.
    refused = subscribe(fleet, "none", "healthhub/v1/#", count=1, wait_s=3)
    assert refused.returncode != 0
    assert refused.stdout == ""


def _envelope(fleet: FleetLayout, device: str, seq: int, **body_override: object) -> wire.Envelope:
    body = {
        "components": [{"code": "pulse", "value": 64, "unit": "/min"}],
        "source": {"peripheral": "test", "driver": "test", "backend": "test"},
        **body_override,
    }
    clear = wire.Envelope(
        id=str(uuid7()),
        device=device,
        site="practice-a",
        seq=seq,
        stream="readings",
        kind="heart_rate",
        at="2026-11-23T09:00:00.000Z",
        body=body,
    )
    return wire.seal_envelope(Sealer(read_key(fleet.ingest_pub)), clear)


def test_bridge_rejects_bad_envelopes_and_keeps_filing(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-1", simulate=False)
    store = tmp_path / "store.sqlite"
    the_bridge = bridge(fleet.root, store, tmp_path).start()
    wait_until(lambda: "bridge connected" in the_bridge.log(), 20, "the bridge to connect")
    up = topics.up("wall-1", "readings")
    tampered = _envelope(fleet, "wall-1", 1).to_json() | {"seq": 2}
    impossible = _envelope(
        fleet, "wall-1", 1, components=[{"code": "pulse", "value": 900, "unit": "/min"}]
    )
    other_device = _envelope(fleet, "wall-2", 1)
    other_site_json = _envelope(fleet, "wall-1", 1).to_json() | {"site": "practice-z"}
    for payload in (
        b"\x00\xffnot json at all",
        b'{"v": 1}',
        canonical.dumps(tampered),
        impossible.to_bytes(),
        other_device.to_bytes(),
        canonical.dumps(other_site_json),
    ):
        assert publish(fleet, "wall-1", up, payload).returncode == 0
    wait_until(lambda: sum(rejections(store).values()) >= 6, 20, "six rejections counted")
    assert rejections(store) == {
        "malformed": 2,
        "sealed-body": 1,  # a header changed after sealing
        "invalid-measurement": 1,
        "identity": 2,  # another device's envelope, and a site this device is not enrolled at
    }
    assert filed(store, "wall-1") == []
    assert the_bridge.running
    # The bridge goes on filing good messages and confirms them.
    good = _envelope(fleet, "wall-1", 1)
    publish(fleet, "wall-1", up, good.to_bytes())
    wait_until(lambda: filed(store, "wall-1") == [(1, good.id)], 20, "the good envelope filed")
    ack = subscribe(fleet, "wall-1", topics.ack("wall-1"), count=1, wait_s=5).stdout
    assert '{"seq":1}' in ack
    assert the_bridge.stop() == 0
    # Each line begins with a timestamp whose milliseconds may read 900; look at the messages.
    log = the_bridge.log()
    messages = [line.split(" ", 3)[-1] for line in log.splitlines()]
    assert not [m for m in messages if re.search(r"(?<!\d)900(?!\d)", m)], (
        "no clinical values in the bridge's log"
    )
    # Its counters and its intake queue's bound are reported.
    final = json.loads(log.rsplit("bridge stopped: ", 1)[1].splitlines()[0])
    assert final["queue"] == {"depth": 0, "bound": 10_000}
    assert final["rejected"] == rejections(store)
    assert final["stored"] == 1
