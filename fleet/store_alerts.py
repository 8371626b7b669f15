"""Alerts in the practice store: what staff see, acknowledge, and what escalates.

An alert is an envelope of the ``alerts`` stream, filed once like any other. Its life at
the practice (who acknowledged it and when, how far it escalated) is in ``alert_state``,
one row per alert, written with conditional upserts so that two writers (two bridges, a
watcher and the dashboard) cannot undo each other: the first acknowledgement stands, and
an escalation level is recorded once and only while the alert is open.
"""

from __future__ import annotations

import json
from typing import Any

from healthhub.fleet.store_db import Database, StoreError
from healthhub.protocol.clock import now_utc

#: A staff name as shown beside an acknowledgement (a login or initials, not a patient).
MAX_BY = 64

_COLUMNS = (
    "SELECT e.id, e.device, e.site, e.kind, e.at, e.body, e.received_at,"
    " s.acknowledged_at, s.acknowledged_by, s.escalated_at, coalesce(s.escalations, 0)"
    " FROM envelopes e LEFT JOIN alert_state s ON s.id = e.id WHERE e.stream = 'alerts'"
)


class AlertNotFound(StoreError):
    """No alert has that id (or not one this caller may see)."""


def _alert(row: Any) -> dict[str, Any]:
    body = json.loads(row[5])
    return {
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
        # a unit's own health (protocol/device_health.py): which check, and its figures
        "check": body.get("check"),
        "summary": body.get("summary") if row[3] == "device_health" else None,
        # who the unit says is told, and who next (its pushed alert settings)
        "route": body.get("route") if isinstance(body.get("route"), dict) else None,
        "acknowledged_at": row[7],
        "acknowledged_by": row[8],
        "escalated_at": row[9],
        "escalations": int(row[10]),
    }


def alerts(
    db: Database,
    *,
    open_only: bool = False,
    site: str | None = None,
    below_level: int | None = None,
) -> list[dict[str, Any]]:
    """Alerts newest first; ``open_only``: not yet acknowledged; ``site``: that site's;
    ``below_level``: not yet escalated to that level (what escalation looks at)."""
    query, params = _COLUMNS, []
    if open_only:
        query += " AND s.acknowledged_at IS NULL"
    if below_level is not None:
        query += f" AND coalesce(s.escalations, 0) < {int(below_level)}"
    if site is not None:
        query += " AND e.site = ?"
        params.append(site)
    return [_alert(row) for row in db.execute(query + " ORDER BY e.at DESC, e.id", params)]


def alert(db: Database, alert_id: str) -> dict[str, Any]:
    row = db.execute(_COLUMNS + " AND e.id = ?", (alert_id,)).fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id!r}")
    return _alert(row)


def acknowledge(db: Database, alert_id: str, by: str, at: str | None = None) -> dict[str, Any]:
    """Record that ``by`` acknowledged the alert; the first acknowledgement stands."""
    by = by.strip()
    if not by or len(by) > MAX_BY or not by.isprintable():
        raise ValueError(f"who acknowledged must be a name of 1 to {MAX_BY} printable characters")
    with db.transaction():
        alert(db, alert_id)  # an unknown id is an error, not a row for nothing
        db.execute(
            "INSERT INTO alert_state (id, acknowledged_at, acknowledged_by) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET acknowledged_at = excluded.acknowledged_at,"
            " acknowledged_by = excluded.acknowledged_by"
            " WHERE alert_state.acknowledged_at IS NULL",
            (alert_id, at or now_utc(), by),
        )
    return alert(db, alert_id)


def mark_escalated(db: Database, alert_id: str, level: int, at: str) -> bool:
    """Raise an open alert to escalation ``level``; True only for the writer that did it."""
    with db.transaction():
        current = alert(db, alert_id)
        if current["acknowledged_at"] is not None or current["escalations"] >= level:
            return False
        cursor = db.execute(
            "INSERT INTO alert_state (id, escalated_at, escalations) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET escalated_at = excluded.escalated_at,"
            " escalations = excluded.escalations"
            " WHERE alert_state.acknowledged_at IS NULL"
            " AND alert_state.escalations < excluded.escalations",
            (alert_id, at, level),
        )
        return cursor.rowcount == 1
