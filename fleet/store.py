"""The practice's store: each envelope once, and how far each device is confirmed.

The bridge tells a device to forget a message only after this store has committed it.
Envelope ids make filing exactly-once: a resend of a message already held is counted as a
duplicate and changes nothing. A device's confirmed seq is the highest N such that every
seq from 1 to N is held (a contiguous prefix), so a gap is never confirmed.

The confirmed seq is worked out from the database inside the write transaction, never from
a cache in this process, so several bridges may file into one store at once (MQTT shared
subscriptions, ``docs/scaling.md``). The database is behind :mod:`~healthhub.fleet.store_db`
and its schema is :mod:`~healthhub.fleet.store_schema`'s migrations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthhub.fleet import store_alerts
from healthhub.fleet.store_alerts import AlertNotFound
from healthhub.fleet.store_db import (
    Database,
    StoreError,
    describe,
    open_database,
    store_exists,
    store_target,
)
from healthhub.fleet.store_schema import migrate
from healthhub.protocol.envelope import Envelope

#: What the bridge keeps the latest of per device: its retained status (birth or Last Will),
#: telemetry, the configuration and content layers it reported holding, and its software
#: update state (the version it runs).
REPORT_KINDS = ("status", "telemetry", "config", "content", "software")

__all__ = ["AlertNotFound", "Filed", "FilingResult", "PracticeStore", "StoreError"]


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
    # Of the duplicates, how many were alerts (shared bridges all file every alert).
    duplicate_alerts: int = 0
    conflicts: list[tuple[str, int]] = field(default_factory=list)
    # Devices whose confirmed seq moved, with the new value.
    advanced: dict[str, int] = field(default_factory=dict)
    # Devices that resent what was already confirmed: they have not seen the ack.
    resent_confirmed: set[str] = field(default_factory=set)


class PracticeStore:
    def __init__(self, target: str | Path) -> None:
        # A SQLite file's Path, or a PostgreSQL URL as given (describe() prints it safely).
        self.path = target if isinstance(target, Path) else store_target(target)
        self._db: Database = open_database(target)
        try:
            migrate(self._db)
        except BaseException:
            self._db.close()
            raise

    def confirmed(self, device: str) -> int:
        row = self._db.execute(
            "SELECT confirmed_seq FROM progress WHERE device = ?", (device,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    def confirmations(self) -> dict[str, int]:
        rows = self._db.execute("SELECT device, confirmed_seq FROM progress")
        return {device: int(seq) for device, seq in rows}

    def file(self, batch: Sequence[Filed]) -> FilingResult:
        """Commit a batch in one transaction; then, and only then, report what is confirmed."""
        result = FilingResult()
        with self._db.transaction():
            before = {d: self.confirmed(d) for d in {item.envelope.device for item in batch}}
            for item in batch:
                env = item.envelope
                cursor = self._db.execute(
                    "INSERT INTO envelopes"
                    " (id, device, site, seq, stream, kind, at, body, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
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
                elif self._holds(env.id):
                    result.duplicates += 1
                    if env.stream == "alerts":
                        result.duplicate_alerts += 1
                    if env.seq <= before[env.device]:
                        result.resent_confirmed.add(env.device)
                else:
                    result.conflicts.append((env.device, env.seq))
            for device, start in before.items():
                seq = self._contiguous_from(device, start)
                if seq > start:
                    result.advanced[device] = seq
                    self._db.execute(
                        "INSERT INTO progress (device, confirmed_seq) VALUES (?, ?)"
                        " ON CONFLICT (device)"
                        " DO UPDATE SET confirmed_seq = excluded.confirmed_seq",
                        (device, seq),
                    )
        return result

    def _contiguous_from(self, device: str, start: int) -> int:
        """The end of the run of held seqs that starts right after ``start`` (two index
        lookups on ``UNIQUE (device, seq)``, however long the run)."""
        if (
            self._db.execute(
                "SELECT 1 FROM envelopes WHERE device = ? AND seq = ?", (device, start + 1)
            ).fetchone()
            is None
        ):
            return start
        row = self._db.execute(
            "SELECT min(e.seq) FROM envelopes e WHERE e.device = ? AND e.seq > ?"
            " AND NOT EXISTS (SELECT 1 FROM envelopes n"
            " WHERE n.device = e.device AND n.seq = e.seq + 1)",
            (device, start),
        ).fetchone()
        return int(row[0])

    def _holds(self, envelope_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM envelopes WHERE id = ?", (envelope_id,)).fetchone()
        return row is not None

    def count_rejection(self, reason: str, n: int = 1) -> None:
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO rejections (reason, count) VALUES (?, ?) ON CONFLICT (reason)"
                " DO UPDATE SET count = rejections.count + excluded.count",
                (reason, n),
            )

    def rejections(self) -> dict[str, int]:
        rows = self._db.execute("SELECT reason, count FROM rejections")
        return {reason: int(count) for reason, count in rows}

    def record_report(self, device: str, kind: str, payload: dict[str, Any], at: str) -> None:
        """Keep the latest status, telemetry, and configuration and content report of a
        device (what the console and the dashboard show), and every online/offline change in
        ``status_history`` (uptime in the reports). ``at`` is when the bridge received it; a
        status carries the device's own time."""
        if kind not in REPORT_KINDS:
            raise ValueError(kind)
        text = json.dumps(payload, sort_keys=True)
        with self._db.transaction():
            self._db.execute(
                f"INSERT INTO device_reports (device, {kind}, {kind}_at) VALUES (?, ?, ?)"  # noqa: S608 - kind is one of REPORT_KINDS
                f" ON CONFLICT (device) DO UPDATE SET {kind} = excluded.{kind},"
                f" {kind}_at = excluded.{kind}_at",
                (device, text, at),
            )
            if kind == "status" and isinstance(payload.get("at"), str):
                # A retained status comes again at every reconnect: the same row, kept once.
                self._db.execute(
                    "INSERT INTO status_history (device, state, at, received_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (device, str(payload.get("state")), payload["at"], at),
                )

    def status_history(
        self, *, device: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[dict[str, Any]]:
        """Every online/offline change the bridge saw (births and Last Wills), oldest first."""
        query = "SELECT device, state, at, received_at FROM status_history WHERE 1 = 1"
        params: list[str] = []
        for clause, value in (("device = ?", device), ("at >= ?", since), ("at < ?", until)):
            if value is not None:
                query += f" AND {clause}"
                params.append(value)
        rows = self._db.execute(query + " ORDER BY at, device", params)
        return [
            dict(zip(("device", "state", "at", "received_at"), row, strict=True)) for row in rows
        ]

    def reports(self) -> dict[str, dict[str, Any]]:
        """device -> {kind: the latest report of that kind, or None} for :data:`REPORT_KINDS`."""
        found: dict[str, dict[str, Any]] = {}
        query = f"SELECT device, {', '.join(REPORT_KINDS)} FROM device_reports"  # noqa: S608 - fixed names
        for device, *texts in self._db.execute(query):
            found[device] = {
                kind: json.loads(text) if text else None
                for kind, text in zip(REPORT_KINDS, texts, strict=True)
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

    def alerts(
        self, *, open_only: bool = False, site: str | None = None, below_level: int | None = None
    ) -> list[dict[str, Any]]:
        """Alerts from the units (urgent results, help requests, form actions), newest
        first, with whether and when staff acknowledged and escalated them."""
        return store_alerts.alerts(
            self._db, open_only=open_only, site=site, below_level=below_level
        )

    def alert(self, alert_id: str) -> dict[str, Any]:
        """One alert, as :meth:`alerts` lists it; :class:`AlertNotFound` if there is none."""
        return store_alerts.alert(self._db, alert_id)

    def acknowledge_alert(self, alert_id: str, by: str, at: str | None = None) -> dict[str, Any]:
        """Staff ``by`` saw alert ``alert_id``; the first acknowledgement stands."""
        return store_alerts.acknowledge(self._db, alert_id, by, at)

    def mark_escalated(self, alert_id: str, level: int, at: str) -> bool:
        """Record escalation ``level`` of an open alert; False if it is acknowledged or
        already at that level (another bridge or watcher escalated it first)."""
        return store_alerts.mark_escalated(self._db, alert_id, level, at)

    def close(self) -> None:
        self._db.close()


def open_readonly(path: str | Path) -> PracticeStore:
    """Open an existing store (export, reports); a missing file, or a database without the
    store's tables, is an error, not a new store."""
    if not store_exists(path):
        raise StoreError(f"practice store {describe(path)} not found (has the bridge run?)")
    return PracticeStore(path)
