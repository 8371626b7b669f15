"""Shared bridge instances: client ids and subscriptions, and the late, lower ack put right.

The ack test runs two ``Bridge`` objects on one store (SQLite and PostgreSQL) against the
real broker and reads the retained ack with an independent subscriber.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mqtt_clients import publish, subscribe
from processes import Enrol, run_cli, wait_until

from healthhub.fleet.bridge import Bridge, Incoming
from healthhub.fleet.bridge_sharing import SESSION_EXPIRY_S, SHARED_SESSION_EXPIRY_S, Membership
from healthhub.fleet.store import PracticeStore
from healthhub.protocol import topics
from healthhub.protocol.clock import format_utc
from healthhub.protocol.envelope import Envelope, seal_envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.keys import read_key
from healthhub.protocol.sealed import Sealer
from healthhub.protocol.status import ack_payload, parse_ack
from healthhub.provisioning.broker_process import BrokerProcess
from tests.fleet.test_bridge_health_alerts import BODY, alert


def test_a_single_bridge_keeps_its_client_id_subscriptions_and_week_long_session() -> None:
    alone = Membership()
    assert alone.client_id == topics.BRIDGE_IDENTITY
    assert alone.session_s == SESSION_EXPIRY_S
    assert alone.subscriptions() == [
        (topics.ALL_UP, 1),
        (topics.ALL_STATUS, 1),
        (topics.ALL_TELEMETRY, 0),
        (topics.ALL_CONFIG_REPORTED, 1),
        (topics.ALL_CONTENT_REPORTED, 1),
        (topics.ALL_SOFTWARE_REPORTED, 1),
    ]
    assert alone.stale_subscriptions() == []


def test_a_shared_instance_shares_only_the_data_and_watches_the_acks() -> None:
    member = Membership("ingest", "b")
    assert member.client_id == f"{topics.BRIDGE_IDENTITY}-b"
    assert member.session_s == SHARED_SESSION_EXPIRY_S
    assert member.subscriptions() == [
        (f"$share/ingest/{topics.ROOT}/devices/+/up/readings", 1),
        (f"$share/ingest/{topics.ROOT}/devices/+/up/submissions", 1),
        (f"$share/ingest/{topics.ROOT}/devices/+/up/usage", 1),
        # every instance: an alert must not wait with a dead member for its turn
        (f"{topics.ROOT}/devices/+/up/alerts", 1),
        (topics.ALL_STATUS, 1),  # every instance: the latest status is the last write
        (topics.ALL_TELEMETRY, 0),
        (topics.ALL_CONFIG_REPORTED, 1),
        (topics.ALL_CONTENT_REPORTED, 1),
        (topics.ALL_SOFTWARE_REPORTED, 1),
        (f"{topics.ROOT}/devices/+/ack", 0),
    ]
    # every data stream once: shared, or (alerts) at every instance
    assert sorted(f.rsplit("/", 1)[1] for f, _ in member.subscriptions()[:4]) == sorted(
        topics.STREAMS
    )
    # what an earlier run under this client id may have left in its session
    assert member.stale_subscriptions() == [topics.ALL_UP, f"$share/ingest/{topics.ALL_UP}"]
    assert Membership("ingest", "b", session_expiry_s=0).session_s == 0
    with pytest.raises(ValueError, match="instance name"):
        Membership("ingest")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--share", "ingest"], "--share needs --instance"),
        (["--share", "in/gest", "--instance", "a"], "share group"),
        (["--share", "ingest", "--instance", "a+"], "instance name"),
        (["--share", "ingest", "--instance", "a", "--session-expiry", "-1"], "session-expiry"),
    ],
)
def test_bad_sharing_options_exit_2(
    fleet: FleetLayout, tmp_path: Path, args: list[str], says: str
) -> None:
    store = str(tmp_path / "store.sqlite")
    result = run_cli(
        "healthhub-fleet",
        "bridge",
        "--fleet",
        str(fleet.root),
        "--store",
        store,
        *args,
        check=False,
    )
    assert result.returncode == 2
    assert says in result.stderr
    assert not Path(store).exists()


def reading(fleet: FleetLayout, seq: int) -> Incoming:
    clear = Envelope(
        id=str(uuid7()),
        device="wall-1",
        site="practice-a",
        seq=seq,
        stream="readings",
        kind="body_weight",
        at=format_utc(datetime.now(UTC)),
        body={"components": [{"code": "weight", "value": 70 + seq, "unit": "kg"}]},
    )
    sealed = seal_envelope(Sealer(read_key(fleet.ingest_pub)), clear)
    return Incoming(topics.up("wall-1", "readings"), sealed.to_bytes(), mid=seq, qos=1)


def seen(payload: bytes) -> Incoming:
    """The retained ack as a shared instance receives it."""
    return Incoming(topics.ack("wall-1"), payload, mid=0, qos=0)


def retained_ack(fleet: FleetLayout) -> int:
    result = subscribe(fleet, "console", topics.ack("wall-1"), count=1, wait_s=10)
    assert result.returncode == 0, result.stderr
    return parse_ack(result.stdout.strip().split(" ", 1)[1].encode())


def test_a_late_lower_ack_is_published_again_at_the_stores_confirmed_seq(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, store_target: str | Path
) -> None:
    enrol("wall-1")
    stores = [PracticeStore(store_target), PracticeStore(store_target)]
    a = Bridge(fleet, stores[0], Membership("ingest", "a"))
    b = Bridge(fleet, stores[1], Membership("ingest", "b"))
    try:
        for one in (a, b):
            one.start()
        wait_until(lambda: a.connected.is_set() and b.connected.is_set(), 30, "both connected")
        a.file_batch([reading(fleet, 2)])  # a gap below it: nothing to confirm yet
        assert a.counters.acks_published == 0
        b.file_batch([reading(fleet, 1)])  # b's commit confirms a's seq 2 too
        assert stores[1].confirmed("wall-1") == 2
        wait_until(lambda: retained_ack(fleet) == 2, 10, "b's ack of 2")

        # a's ack of 1 reaches the broker last, as from a slower instance.
        late = publish(fleet, "bridge", topics.ack("wall-1"), ack_payload(1), retain=True)
        assert late.returncode == 0, late.stderr
        assert retained_ack(fleet) == 1
        a.file_batch([seen(ack_payload(1))])
        assert a.counters.acks_refreshed == 1
        wait_until(lambda: retained_ack(fleet) == 2, 10, "the ack of 2 again")

        a.file_batch([seen(ack_payload(2)), seen(ack_payload(3))])  # not below the store
        b.file_batch([seen(b"")])  # cleared: put back
        assert (a.counters.acks_refreshed, b.counters.acks_refreshed) == (1, 1)
        assert stores[0].rejections() == {}
    finally:
        for one in (a, b):
            one.stop()
            one.close()
        for store in stores:
            store.close()
    assert retained_ack(fleet) == 2


def test_a_shared_instance_counts_alerts_another_instance_filed_apart_from_duplicates(
    fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    enrol("wall-1")
    store = PracticeStore(tmp_path / "store.sqlite")
    a, b = (
        Bridge(fleet, store, Membership("ingest", "a")),
        Bridge(fleet, store, Membership("ingest", "b")),
    )
    alone = Bridge(fleet, store)
    first, second = alert(fleet, 1, BODY), reading(fleet, 2)
    try:
        a.file_batch([first])
        b.file_batch([first])  # every instance receives every alert
        b.file_batch([second])
        a.file_batch([second])  # a redelivered reading: a duplicate as before
        alone.file_batch([first])  # a single bridge: an alert again is a duplicate
    finally:
        for one in (a, b, alone):
            one.close()
        store.close()
    counted = [(one.counters.stored, one.counters.duplicates, one.counters.alert_copies)
               for one in (a, b, alone)]  # fmt: skip
    assert counted == [(1, 1, 0), (1, 0, 1), (0, 1, 0)]


class Earlier(Membership):
    """The subscriptions an earlier run under the same client id left in its session."""

    def __init__(self, share: str, instance: str, old: str) -> None:
        super().__init__(share, instance)
        object.__setattr__(self, "old", old)

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.old, 1)]

    def stale_subscriptions(self) -> list[str]:
        return []


@pytest.mark.parametrize(
    "old", [f"$share/ingest/{topics.ALL_UP}", topics.ALL_UP], ids=["whole-up-shared", "unshared"]
)
def test_filters_a_kept_session_holds_from_an_earlier_run_are_dropped_at_connect(
    fleet: FleetLayout, broker: BrokerProcess, enrol: Enrol, tmp_path: Path, old: str
) -> None:
    """Left in place, the earlier filter would give this member a second copy of each message
    (an alert through ``up/alerts`` and through ``old``); it must get each one once."""
    enrol("wall-1")
    store = PracticeStore(tmp_path / "store.sqlite")

    def running(membership: Membership) -> tuple[Bridge, threading.Thread]:
        one = Bridge(fleet, store, membership)
        one.start()
        thread = threading.Thread(target=one.run, daemon=True)
        thread.start()
        wait_until(one.connected.is_set, 30, "connected")
        return one, thread

    def send(message: Incoming) -> None:
        sent = publish(fleet, "wall-1", message.topic, message.payload)
        assert sent.returncode == 0, sent.stderr

    def halt(one: Bridge, thread: threading.Thread) -> None:
        one.stop()
        thread.join(10)
        one.close()  # a clean disconnect: the broker keeps the session

    earlier = running(Earlier("ingest", "b", old))
    try:
        # retried: the first one may come before the broker has taken the SUBSCRIBE
        first = reading(fleet, 1)  # the same envelope each try: later copies are duplicates
        wait_until(lambda: send(first) or earlier[0].counters.stored, 30, "filed")
    finally:
        halt(*earlier)
    later = running(Membership("ingest", "b"))
    try:
        send(alert(fleet, 2, BODY))
        send(reading(fleet, 3))  # after the alert: once it is filed, every copy has come
        wait_until(lambda: store.confirmed("wall-1") == 3, 30, "the alert and the reading")
    finally:
        halt(*later)
        store.close()
    counters = later[0].counters
    # copies of the first reading the old session still held may come too (duplicates);
    # the alert and the reading after it come once each
    assert counters.stored == 2
    assert counters.alert_copies == 0
