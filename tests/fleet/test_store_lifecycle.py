"""The store's schema migrations, several writers at once, alerts' life, devices' history.

All but the unnumbered (SQLite-only) store run on SQLite and on PostgreSQL (``store_target``).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from healthhub.fleet.store import AlertNotFound, Filed, PracticeStore, StoreError
from healthhub.fleet.store_schema import LATEST, schema_version
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.ids import uuid7

# The schema as issue 2's store wrote it, before migrations were numbered.
UNNUMBERED = """
CREATE TABLE envelopes (id TEXT PRIMARY KEY, device TEXT NOT NULL, site TEXT NOT NULL,
  seq INTEGER NOT NULL, stream TEXT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
  body TEXT NOT NULL, received_at TEXT NOT NULL, UNIQUE (device, seq));
CREATE TABLE progress (device TEXT PRIMARY KEY, confirmed_seq INTEGER NOT NULL);
CREATE TABLE rejections (reason TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE device_reports (device TEXT PRIMARY KEY, status TEXT, status_at TEXT,
  telemetry TEXT, telemetry_at TEXT);
INSERT INTO envelopes VALUES ('e1', 'wall-1', 'practice-a', 1, 'readings', 'heart_rate',
  '2026-11-01T10:00:00.000Z', '{"components":[]}', '2026-11-01T10:00:01.000Z');
INSERT INTO progress VALUES ('wall-1', 1);
"""


def alert(seq: int, device: str = "wall-1", site: str = "practice-a", minute: int = 0) -> Filed:
    env = Envelope(
        str(uuid7()),
        device,
        site,
        seq,
        "alerts",
        "help_requested",
        f"2026-11-23T10:{minute:02d}:00.000Z",
        {},
    )
    return Filed(env, {"reason": "help_requested"}, "2026-11-23T10:00:05.000Z")


def test_an_unnumbered_store_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(UNNUMBERED)
    store = PracticeStore(path)
    assert schema_version(store._db) == LATEST
    assert store.confirmations() == {"wall-1": 1}
    assert store.count("readings") == 1
    assert store.alerts() == []  # the new tables are there
    store.close()
    store = PracticeStore(path)  # opening again applies nothing twice
    rows = store._db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, LATEST + 1))


def test_a_store_newer_than_the_software_is_refused(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    with store._db.transaction():  # as a newer healthhub would have left it
        store._db.execute(
            "INSERT INTO schema_version VALUES (?, 'from the future', 'x')", (LATEST + 1,)
        )
    store.close()
    with pytest.raises(StoreError, match="newer than this software"):
        PracticeStore(store_target)


WRITER = textwrap.dedent(
    """
    import random, sys
    from healthhub.fleet.store import Filed, PracticeStore
    from healthhub.protocol.envelope import Envelope
    path, parity, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = PracticeStore(path)
    rng = random.Random(parity)
    for device in ("wall-1", "kiosk-1", "kiosk-2"):
        seqs = [s for s in range(1, n + 1) if s % 2 == parity]
        while seqs:
            k = rng.randint(1, 7)
            batch, seqs = seqs[:k], seqs[k:]
            store.file([
                Filed(Envelope(f"{device}-{s}", device, "practice-a", s, "readings",
                      "heart_rate", "2026-11-23T10:00:00.000Z", {}), {"components": []},
                      "2026-11-23T10:00:01.000Z")
                for s in batch
            ])
    """
)


def test_two_writers_interleaving_one_device_confirm_the_whole_prefix(
    store_target: str | Path,
) -> None:
    """Two bridges (two processes) each get half of every device's messages, as a shared
    subscription hands them out: neither holds the other's seqs in memory, yet the
    confirmed seq reaches the end, since it is worked out in the database."""
    path, n = store_target, 200
    PracticeStore(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(parity), str(n)])
        for parity in (0, 1)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = PracticeStore(path)
    assert store.confirmations() == {"wall-1": n, "kiosk-1": n, "kiosk-2": n}
    assert store.count("readings") == 3 * n


def test_an_alert_is_acknowledged_once_and_the_first_stands(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    first, second = alert(1), alert(2, minute=1)
    store.file([first, second])
    assert [a["id"] for a in store.alerts(open_only=True)] == [
        second.envelope.id,
        first.envelope.id,
    ]
    done = store.acknowledge_alert(first.envelope.id, "dr.jones", "2026-11-23T10:03:00.000Z")
    assert (done["acknowledged_by"], done["acknowledged_at"]) == (
        "dr.jones",
        "2026-11-23T10:03:00.000Z",
    )
    again = store.acknowledge_alert(first.envelope.id, "nurse.lee", "2026-11-23T10:09:00.000Z")
    assert again["acknowledged_by"] == "dr.jones"
    assert [a["id"] for a in store.alerts(open_only=True)] == [second.envelope.id]
    with pytest.raises(AlertNotFound):
        store.acknowledge_alert("not-an-alert", "dr.jones")
    with pytest.raises(ValueError, match="printable"):
        store.acknowledge_alert(second.envelope.id, "bad\nname")


def test_readings_are_not_alerts_to_acknowledge(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    env = Envelope("r1", "wall-1", "practice-a", 1, "readings", "heart_rate", "t", {})
    store.file([Filed(env, {"components": []}, "t")])
    with pytest.raises(AlertNotFound):
        store.acknowledge_alert("r1", "dr.jones")


def test_escalation_goes_up_once_per_level_and_only_while_open(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    item = alert(1)
    store.file([item])
    alert_id = item.envelope.id
    assert store.mark_escalated(alert_id, 1, "2026-11-23T10:05:00.000Z")
    assert not store.mark_escalated(alert_id, 1, "2026-11-23T10:05:01.000Z")  # a second writer
    assert store.mark_escalated(alert_id, 2, "2026-11-23T10:10:00.000Z")
    store.acknowledge_alert(alert_id, "dr.jones", "2026-11-23T10:11:00.000Z")
    assert not store.mark_escalated(alert_id, 3, "2026-11-23T10:15:00.000Z")
    (shown,) = store.alerts()
    assert (shown["escalations"], shown["escalated_at"]) == (2, "2026-11-23T10:10:00.000Z")
    assert shown["acknowledged_by"] == "dr.jones"


def test_alerts_of_one_site(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    store.file([alert(1), alert(1, device="kiosk-9", site="practice-b")])
    assert {a["site"] for a in store.alerts(site="practice-b")} == {"practice-b"}
    assert len(store.alerts()) == 2


def test_status_history_keeps_each_change_once(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    online = {"state": "online", "device": "wall-1", "at": "2026-11-23T08:00:00.000Z"}
    offline = {"state": "offline", "device": "wall-1", "at": "2026-11-23T09:30:00.000Z"}
    store.record_report("wall-1", "status", online, "2026-11-23T08:00:01.000Z")
    store.record_report("wall-1", "status", offline, "2026-11-23T09:30:02.000Z")
    # the retained status again, at the bridge's reconnect: not a new change
    store.record_report("wall-1", "status", offline, "2026-11-23T11:00:00.000Z")
    store.record_report("wall-1", "telemetry", {"at": "2026-11-23T08:01:00.000Z"}, "x")
    history = store.status_history()
    assert [(h["state"], h["at"]) for h in history] == [
        ("online", "2026-11-23T08:00:00.000Z"),
        ("offline", "2026-11-23T09:30:00.000Z"),
    ]
    assert store.status_history(since="2026-11-23T09:00:00.000Z")[0]["state"] == "offline"
    assert store.status_history(until="2026-11-23T09:00:00.000Z")[0]["state"] == "online"
    assert store.status_history(device="kiosk-1") == []
    assert store.reports()["wall-1"]["status"] == offline


def test_bridges_starting_together_on_a_new_store_all_open_it(tmp_path: Path) -> None:
    """Setting WAL mode is refused at once ("database is locked"), not waited for, while
    another connection holds the lock: each opener must wait instead of failing."""
    path = tmp_path / "new.sqlite"
    start = threading.Barrier(8)
    opened: list[PracticeStore] = []
    failed: list[BaseException] = []

    def open_store() -> None:
        start.wait()
        try:
            opened.append(PracticeStore(path))
        except BaseException as exc:
            failed.append(exc)

    for _ in range(5):  # the race is narrow: a few rounds on a new file each
        path.unlink(missing_ok=True)
        threads = [threading.Thread(target=open_store) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for store in opened:
            store.close()
        opened.clear()
        assert not failed, failed
