"""The practice's store: each envelope once, and how far each device is confirmed.

SQLite (WAL, ``synchronous=FULL``): the bridge tells a device to forget a
message only after this store has committed it. Envelope ids make filing
exactly-once: a resend of a message already held is counted as a duplicate
and changes nothing. A device's confirmed seq is the highest N such that every
seq from 1 to N is held (a contiguous prefix), so a gap is never confirmed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthhub.protocol.envelope import Envelope
from healthhub.protocol.errors import HealthHubError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id          TEXT PRIMARY KEY,
    device      TEXT NOT NULL,
    site        TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    stream      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (device, seq)
);
CREATE INDEX IF NOT EXISTS envelopes_stream_at ON envelopes (stream, at);
CREATE TABLE IF NOT EXISTS progress (
    device        TEXT PRIMARY KEY,
    confirmed_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejections (
    reason TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS device_reports (
    device       TEXT PRIMARY KEY,
    status       TEXT,
    status_at    TEXT,
    telemetry    TEXT,
    telemetry_at TEXT
);
"""


class StoreError(HealthHubError):
    """The practice store cannot be opened or written."""


@dataclass(frozen=True)
class Filed:
    """A checked envelope and its clear body, ready to be committed."""

    envelope: Envelope
    body: dict[str, Any]
    received_at: str


@dataclass
class FilingResult:
    stored: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, int]] = field(default_factory=list)
    # Devices whose confirmed seq moved, with the new value.
    advanced: dict[str, int] = field(default_factory=dict)
    # Devices that resent what was already confirmed: they have not seen the ack.
    resent_confirmed: set[str] = field(default_factory=set)


class PracticeStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            with self._db:
                self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"practice store {self.path} cannot be opened: {exc}") from None
        self._confirmed: dict[str, int] = dict(
            self._db.execute("SELECT device, confirmed_seq FROM progress").fetchall()
        )
        # Seqs held above each device's confirmed seq (the far side of a gap).
        self._above: dict[str, set[int]] = {}
        for device, seq in self._db.execute(
            "SELECT e.device, e.seq FROM envelopes e LEFT JOIN progress p USING (device)"
            " WHERE e.seq > coalesce(p.confirmed_seq, 0)"
        ):
            self._above.setdefault(device, set()).add(seq)

    def confirmed(self, device: str) -> int:
        return self._confirmed.get(device, 0)

    def confirmations(self) -> dict[str, int]:
        return dict(self._confirmed)

    def file(self, batch: Sequence[Filed]) -> FilingResult:
        """Commit a batch in one transaction; then, and only then, report what is confirmed."""
        result = FilingResult()
        above = {device: set(seqs) for device, seqs in self._above.items()}
        confirmed = dict(self._confirmed)
        try:
            with self._db:
                for item in batch:
                    env = item.envelope
                    cursor = self._db.execute(
                        "INSERT OR IGNORE INTO envelopes"
                        " (id, device, site, seq, stream, kind, at, body, received_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            env.id,
                            env.device,
                            env.site,
                            env.seq,
                            env.stream,
                            env.kind,
                            env.at,
                            json.dumps(item.body, sort_keys=True, separators=(",", ":")),
                            item.received_at,
                        ),
                    )
                    if cursor.rowcount == 1:
                        result.stored += 1
                        above.setdefault(env.device, set()).add(env.seq)
                    elif self._holds(env.id):
                        result.duplicates += 1
                        if env.seq <= confirmed.get(env.device, 0):
                            result.resent_confirmed.add(env.device)
                    else:
                        result.conflicts.append((env.device, env.seq))
                for device, seqs in above.items():
                    start = confirmed.get(device, 0)
                    seq = start
                    while seq + 1 in seqs:
                        seq += 1
                        seqs.discard(seq)
                    if seq > start:
                        confirmed[device] = seq
                        result.advanced[device] = seq
                        self._db.execute(
                            "INSERT INTO progress (device, confirmed_seq) VALUES (?, ?)"
                            " ON CONFLICT (device)"
                            " DO UPDATE SET confirmed_seq = excluded.confirmed_seq",
                            (device, seq),
                        )
        except sqlite3.Error as exc:
            raise StoreError(f"practice store write failed: {exc}") from None
        self._above, self._confirmed = above, confirmed
        return result

    def _holds(self, envelope_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM envelopes WHERE id = ?", (envelope_id,)).fetchone()
        return row is not None

    def count_rejection(self, reason: str, n: int = 1) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO rejections (reason, count) VALUES (?, ?)"
                " ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                (reason, n),
            )

    def rejections(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT reason, count FROM rejections").fetchall())

    def record_report(self, device: str, kind: str, payload: dict[str, Any], at: str) -> None:
        """Keep the latest status or telemetry of a device (what the console shows)."""
        if kind not in ("status", "telemetry"):
            raise ValueError(kind)
        text = json.dumps(payload, sort_keys=True)
        with self._db:
            self._db.execute(
                f"INSERT INTO device_reports (device, {kind}, {kind}_at) VALUES (?, ?, ?)"  # noqa: S608 - kind is one of two names
                f" ON CONFLICT (device) DO UPDATE SET {kind} = excluded.{kind},"
                f" {kind}_at = excluded.{kind}_at",
                (device, text, at),
            )

    def reports(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for device, status, telemetry in self._db.execute(
            "SELECT device, status, telemetry FROM device_reports"
        ):
            found[device] = {
                "status": json.loads(status) if status else None,
                "telemetry": json.loads(telemetry) if telemetry else None,
            }
        return found

    def count(self, stream: str | None = None) -> int:
        if stream is None:
            return int(self._db.execute("SELECT count(*) FROM envelopes").fetchone()[0])
        query = "SELECT count(*) FROM envelopes WHERE stream = ?"
        return int(self._db.execute(query, (stream,)).fetchone()[0])

    def envelopes(
        self, stream: str, *, kind: str | None = None, since: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Envelopes of ``stream`` (of ``kind``, from ``since``) with clear bodies, oldest first."""
        query = "SELECT id, device, site, seq, kind, at, body FROM envelopes WHERE stream = ?"
        params = [stream]
        if kind is not None:
            query += " AND kind = ?"
            params.append(kind)
        if since is not None:
            query += " AND at >= ?"
            params.append(since)
        query += " ORDER BY at, device, seq"
        for row in self._db.execute(query, params):
            yield {
                "id": row[0],
                "device": row[1],
                "site": row[2],
                "seq": row[3],
                "kind": row[4],
                "at": row[5],
                "body": json.loads(row[6]),
            }

    def readings(self, since: str | None = None) -> Iterator[dict[str, Any]]:
        """Readings in the export shape, oldest first."""
        for row in self.envelopes("readings", since=since):
            body = row.pop("body")
            yield {**row, "components": body.get("components", [])}

    def submissions(
        self, *, kind: str | None = None, since: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Submissions (forms, consent to file readings) with their clear bodies, oldest
        first: what the practice files (issue 8) and staff check before changing a record."""
        return self.envelopes("submissions", kind=kind, since=since)

    def alert_counts(self) -> dict[str, int]:
        """Alerts filed per device (what ``status`` shows; it refreshes every few seconds
        with ``--watch``, so it counts in SQL rather than decoding every alert)."""
        query = "SELECT device, count(*) FROM envelopes WHERE stream = 'alerts' GROUP BY device"
        return {device: int(count) for device, count in self._db.execute(query)}

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts from the units (urgent results, help requests, form actions), newest first.

        What staff need to act: where, when, why; the reading itself stays in the
        record. Acknowledging and escalating them is the practice side's next step.
        """
        query = (
            "SELECT id, device, site, kind, at, body, received_at FROM envelopes "
            "WHERE stream = 'alerts' ORDER BY at DESC"
        )
        found = []
        for row in self._db.execute(query):
            body = json.loads(row[5])
            found.append(
                {
                    "id": row[0],
                    "device": row[1],
                    "site": row[2],
                    "reason": row[3],
                    "at": row[4],
                    "received_at": row[6],
                    "measure": body.get("measure"),
                    "level": body.get("level"),
                    "reading": body.get("reading"),
                    # a form's action (PHQ-9 item 9): which form and action, never the answers
                    "form": body.get("form"),
                    "action": body.get("action"),
                }
            )
        return found

    def close(self) -> None:
        self._db.close()


def open_readonly(path: Path) -> PracticeStore:
    """Open an existing store (export, reports); a missing file is an error, not a new store."""
    if not Path(path).is_file():
        raise StoreError(f"practice store {path} not found (has the bridge run?)")
    return PracticeStore(path)
