"""The outbox: durable before told, bounded, deleted only by confirmation, never destroyed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from healthhub.agent.outbox import (
    NewMessage,
    Outbox,
    OutboxFull,
    OutboxUnavailable,
    OutboxWriteError,
    read_stats,
)
from healthhub.protocol import envelope as wire
from healthhub.protocol.sealed import Opener, Sealer, generate_keypair

PRIVATE, PUBLIC = generate_keypair()


def reading(n: int = 0) -> NewMessage:
    return NewMessage(
        stream="readings",
        kind="heart_rate",
        body={"components": [{"code": "pulse", "value": 60 + n % 40, "unit": "/min"}]},
        taken_at=datetime.now(UTC),
    )


def open_outbox(path: Path, bound: int = 100) -> Outbox:
    return Outbox(
        path, device="wall-1", site="practice-a", sealer=Sealer(PUBLIC), max_messages=bound
    )


def test_accepted_messages_are_sealed_numbered_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = open_outbox(path)
    results = outbox.accept([reading(i) for i in range(3)])
    assert [r.seq for r in results if isinstance(r, wire.Envelope)] == [1, 2, 3]
    outbox.close()  # what is committed is on disk: a new connection sees it

    outbox = open_outbox(path)
    rows = outbox.read_after(0, 10)
    assert [r.seq for r in rows] == [1, 2, 3]
    env = wire.parse(rows[0].payload)
    assert env.sealed
    assert wire.open_body(env, Opener(PRIVATE))["components"][0]["code"] == "pulse"
    # The database file itself holds only ciphertext of the body.
    assert b'"pulse"' not in path.read_bytes()
    assert db_pragma(path, "journal_mode") == "wal"


def db_pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_synchronous_full_on_the_agents_connection(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.sqlite")
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_ids_are_made_once_and_kept(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.sqlite")
    (env,) = outbox.accept([reading()])
    assert isinstance(env, wire.Envelope)
    first = outbox.read_after(0, 1)[0].payload
    again = outbox.read_after(0, 1)[0].payload
    assert first == again
    assert wire.parse(first).id == env.id


def test_confirm_deletes_only_the_confirmed_prefix(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.sqlite")
    outbox.accept([reading(i) for i in range(5)])
    assert outbox.confirm(3) == 3
    assert [r.seq for r in outbox.read_after(0, 10)] == [4, 5]
    assert outbox.confirm(2) == 0  # an old ack changes nothing
    assert outbox.confirm(99) == 2  # never beyond what was taken
    assert outbox.confirmed_seq == 5
    stats = outbox.stats()
    assert (stats.depth, stats.last_seq, stats.confirmed_seq) == (0, 5, 5)
    # Sequence numbers continue after everything is confirmed and the outbox reopened.
    outbox.close()
    outbox = open_outbox(tmp_path / "outbox.sqlite")
    (env,) = outbox.accept([reading()])
    assert isinstance(env, wire.Envelope)
    assert env.seq == 6


def test_full_outbox_refuses_new_and_keeps_old(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.sqlite", bound=10)
    results = outbox.accept([reading(i) for i in range(12)])
    assert sum(isinstance(r, wire.Envelope) for r in results) == 10
    assert all(isinstance(r, OutboxFull) for r in results[10:])
    assert outbox.stats().depth == 10
    assert [r.seq for r in outbox.read_after(0, 100)] == list(range(1, 11))
    outbox.confirm(4)
    assert sum(isinstance(r, wire.Envelope) for r in outbox.accept([reading()] * 5)) == 4


def test_failed_commit_takes_nothing(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.sqlite")
    outbox.accept([reading()])
    # A trigger makes the disk "fail" mid-transaction, as a full disk would.
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        db.execute(
            "CREATE TRIGGER full BEFORE INSERT ON outbox WHEN NEW.seq = 3 "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    results = outbox.accept([reading(), reading()])
    assert all(isinstance(r, OutboxWriteError) for r in results)
    assert outbox.last_seq == 1
    assert [r.seq for r in outbox.read_after(0, 10)] == [1]


def test_not_a_database_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    garbage = b"this is not sqlite" * 100
    path.write_bytes(garbage)
    with pytest.raises(OutboxUnavailable, match="left exactly as it is"):
        open_outbox(path)
    assert path.read_bytes() == garbage


def test_corrupted_pages_are_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = open_outbox(path, bound=10_000)
    outbox.accept([reading(i) for i in range(500)])
    outbox.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 2, len(data), 4096):  # scribble over every page after the first two
        data[offset + 100 : offset + 200] = b"\xa5" * 100
    path.write_bytes(bytes(data))
    with pytest.raises(OutboxUnavailable):
        open_outbox(path)
    assert path.read_bytes() == bytes(data)


def test_read_stats_never_creates(tmp_path: Path) -> None:
    with pytest.raises(OutboxUnavailable, match="no state database"):
        read_stats(tmp_path / "outbox.sqlite", 10)
    assert not (tmp_path / "outbox.sqlite").exists()
