"""The durable outbox: every message a device sends, from the moment it is taken
until the practice side confirms it.

SQLite in WAL mode with ``synchronous=FULL``: a transaction that returned from
COMMIT survives a power cut. A reading is sealed, given its sequence number and
envelope id, and committed *before* anyone is told it was taken. Rows are
deleted only by :meth:`Outbox.confirm`, which the agent calls with the seq in
the bridge's retained ack, never on a timeout or a PUBACK.

The outbox is bounded (``max_messages``). When it is full, new messages are
refused with :class:`OutboxFull` and nothing already held is dropped: a
clinical reading is never thrown away to make room.

One :class:`Outbox` is used from one thread at a time (the agent gives it a
thread of its own so the event loop never waits on fsync).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from healthhub.protocol import envelope as wire
from healthhub.protocol.clock import format_utc
from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.ids import uuid7
from healthhub.protocol.sealed import Sealer

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('last_seq', 0), ('confirmed_seq', 0);
CREATE TABLE IF NOT EXISTS outbox (
    seq      INTEGER PRIMARY KEY,
    id       TEXT NOT NULL UNIQUE,
    stream   TEXT NOT NULL,
    kind     TEXT NOT NULL,
    taken_at REAL NOT NULL,
    payload  BLOB NOT NULL
);
"""


class OutboxError(HealthHubError):
    """The outbox could not do what was asked; nothing it held was changed."""


class OutboxUnavailable(OutboxError):
    """The state database cannot be opened or is damaged. It is left exactly as it is."""


class OutboxFull(OutboxError):
    """The outbox holds ``max_messages`` unconfirmed messages; the new one was not taken."""


class OutboxWriteError(OutboxError):
    """A write failed (disk full, I/O error); the message was not taken."""


@dataclass(frozen=True)
class NewMessage:
    """A message to take: what the envelope will carry before it is numbered and sealed."""

    stream: str
    kind: str
    body: dict[str, Any]
    taken_at: datetime


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    bound: int
    last_seq: int
    confirmed_seq: int
    oldest_taken_at: float | None

    def oldest_age_s(self, now: float | None = None) -> float | None:
        if self.oldest_taken_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.oldest_taken_at)

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        age = self.oldest_age_s(now)
        return {
            "depth": self.depth,
            "bound": self.bound,
            "last_seq": self.last_seq,
            "confirmed_seq": self.confirmed_seq,
            "oldest_age_s": None if age is None else round(age, 3),
        }


@dataclass(frozen=True)
class StoredMessage:
    seq: int
    stream: str
    payload: bytes


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        device: str,
        site: str,
        sealer: Sealer,
        max_messages: int = 100_000,
    ) -> None:
        self.path = Path(path)
        self.device = device
        self.site = site
        self.max_messages = max_messages
        self._sealer = sealer
        self._db = _connect(self.path, create=True)
        try:
            self._last_seq, self._confirmed_seq = _read_meta(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            raise _unavailable(self.path, exc) from None

    # -- taking --------------------------------------------------------------

    def accept(self, messages: Sequence[NewMessage]) -> list[wire.Envelope | OutboxError]:
        """Take ``messages`` in one transaction (a group commit).

        Returns, per message, its committed envelope or the error that kept it
        out (:class:`OutboxFull`). If the commit itself fails every message
        gets an :class:`OutboxWriteError` and the outbox is as it was.
        """
        room = self.max_messages - (self._last_seq - self._confirmed_seq)
        results: list[wire.Envelope | OutboxError] = []
        rows: list[tuple[int, str, str, str, float, bytes]] = []
        seq = self._last_seq
        for message in messages:
            if len(rows) >= room:
                results.append(
                    OutboxFull(f"outbox full: {self.max_messages} messages await confirmation")
                )
                continue
            seq += 1
            envelope = self._envelope(seq, message)
            rows.append(
                (
                    seq,
                    envelope.id,
                    message.stream,
                    message.kind,
                    message.taken_at.timestamp(),
                    envelope.to_bytes(),
                )
            )
            results.append(envelope)
        if not rows:
            return results
        try:
            with self._db:
                self._db.executemany(
                    "INSERT INTO outbox (seq, id, stream, kind, taken_at, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (seq,))
        except sqlite3.Error as exc:
            error = OutboxWriteError(f"outbox write failed, message not taken: {exc}")
            return [error if isinstance(r, wire.Envelope) else r for r in results]
        self._last_seq = seq
        return results

    def _envelope(self, seq: int, message: NewMessage) -> wire.Envelope:
        clear = wire.Envelope(
            id=str(uuid7()),
            device=self.device,
            site=self.site,
            seq=seq,
            stream=message.stream,
            kind=message.kind,
            at=format_utc(message.taken_at),
            body=message.body,
        )
        if message.stream in wire.SEALED_STREAMS:
            return wire.seal_envelope(self._sealer, clear)
        return clear

    # -- sending -------------------------------------------------------------

    def read_after(self, seq: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages with a seq above ``seq``, in order."""
        rows = self._db.execute(
            "SELECT seq, stream, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [StoredMessage(r[0], r[1], bytes(r[2])) for r in rows]

    def confirm(self, seq: int) -> int:
        """The practice holds everything up to ``seq``: forget it. Returns rows deleted."""
        seq = min(seq, self._last_seq)
        if seq <= self._confirmed_seq:
            return 0
        with self._db:
            deleted = self._db.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'confirmed_seq'", (seq,))
        self._confirmed_seq = seq
        return int(deleted)

    # -- reporting -----------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def confirmed_seq(self) -> int:
        return self._confirmed_seq

    def stats(self) -> OutboxStats:
        return _stats(self._db, self.max_messages)

    def close(self) -> None:
        self._db.close()


def read_stats(path: Path, bound: int) -> OutboxStats:
    """Statistics of an outbox another process may be using; never creates or changes it."""
    if not Path(path).exists():
        raise OutboxUnavailable(f"{path}: no state database (has the agent run yet?)")
    db = _connect(Path(path), create=False)
    try:
        return _stats(db, bound)
    except sqlite3.Error as exc:
        raise _unavailable(Path(path), exc) from None
    finally:
        db.close()


def _stats(db: sqlite3.Connection, bound: int) -> OutboxStats:
    last_seq, confirmed_seq = _read_meta(db)
    depth, oldest = db.execute("SELECT count(*), min(taken_at) FROM outbox").fetchone()
    return OutboxStats(int(depth), bound, last_seq, confirmed_seq, oldest)


def _read_meta(db: sqlite3.Connection) -> tuple[int, int]:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    return int(meta["last_seq"]), int(meta["confirmed_seq"])


def _unavailable(path: Path, exc: BaseException) -> OutboxUnavailable:
    return OutboxUnavailable(
        f"state database {path} cannot be opened ({exc}). It has been left exactly as it is: "
        "it may hold readings the practice has not confirmed. Check the disk and permissions; "
        "to start afresh, move it aside and keep it for recovery."
    )


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(path, isolation_level="DEFERRED", check_same_thread=False)
    except (sqlite3.Error, OSError) as exc:
        raise _unavailable(path, exc) from None
    try:
        db.execute("PRAGMA busy_timeout = 5000")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        if create:
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: a committed reading survives a power cut (WAL + NORMAL may lose it).
            db.execute("PRAGMA synchronous = FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {version} is newer than this agent")
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as exc:
        db.close()
        raise _unavailable(path, exc) from None
    return db
