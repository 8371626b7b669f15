"""The practice store: each envelope once, confirmation only of a contiguous prefix.

Each test runs on SQLite and on PostgreSQL (the ``store_target`` fixture).
"""

from __future__ import annotations

from pathlib import Path

from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.ids import uuid7

BODY = {"components": [{"code": "pulse", "value": 70, "unit": "/min"}]}


def filed(seq: int, device: str = "wall-1", id_: str | None = None) -> Filed:
    env = Envelope(
        id=id_ or str(uuid7()),
        device=device,
        site="practice-a",
        seq=seq,
        stream="readings",
        kind="heart_rate",
        at=f"2026-11-23T10:00:{seq % 60:02d}.000Z",
        body={"sealed": "x"},
    )
    return Filed(env, BODY, "2026-11-23T10:01:00.000Z")


def test_confirms_only_contiguous_prefix(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    result = store.file([filed(1), filed(2), filed(4), filed(5)])
    assert result.stored == 4
    assert result.advanced == {"wall-1": 2}
    assert store.confirmed("wall-1") == 2
    result = store.file([filed(3)])
    assert result.advanced == {"wall-1": 5}


def test_resend_is_not_a_duplicate_row(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    first = filed(1)
    store.file([first, filed(2)])
    result = store.file([first])
    assert (result.stored, result.duplicates) == (0, 1)
    assert result.resent_confirmed == {"wall-1"}  # the device missed the ack: send it again
    assert store.count("readings") == 2


def test_same_seq_with_another_id_is_a_conflict_not_filed(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    store.file([filed(1)])
    result = store.file([filed(1)])  # a new id for seq 1
    assert result.conflicts == [("wall-1", 1)]
    assert store.count() == 1


def test_progress_and_gaps_survive_restart(store_target: str | Path) -> None:
    path = store_target
    store = PracticeStore(path)
    store.file([filed(1), filed(3), filed(1, device="kiosk-1")])
    store.close()
    store = PracticeStore(path)
    assert store.confirmations() == {"wall-1": 1, "kiosk-1": 1}
    assert store.file([filed(2)]).advanced == {"wall-1": 3}


def test_export_shape(store_target: str | Path) -> None:
    store = PracticeStore(store_target)
    item = filed(1)
    store.file([item])
    (row,) = store.readings()
    assert row == {
        "id": item.envelope.id,
        "device": "wall-1",
        "site": "practice-a",
        "seq": 1,
        "kind": "heart_rate",
        "at": item.envelope.at,
        "components": BODY["components"],
    }
    assert list(store.readings(since="2027-01-01T00:00:00Z")) == []


def test_alert_counts_per_device_match_the_alerts_listed(store_target: str | Path) -> None:
    store = PracticeStore(store_target)

    def alert(seq: int, device: str) -> Filed:
        item = filed(seq, device)
        env = item.envelope
        body = {"reason": "help_requested", "source": "button:help"}
        return Filed(
            Envelope(env.id, env.device, env.site, seq, "alerts", "help_requested", env.at, {}),
            body,
            item.received_at,
        )

    store.file([filed(1), alert(2, "wall-1"), alert(3, "wall-1"), alert(1, "kiosk-1")])
    counts = store.alert_counts()
    assert counts == {"wall-1": 2, "kiosk-1": 1}
    listed = [a["device"] for a in store.alerts()]
    assert counts == {device: listed.count(device) for device in set(listed)}
