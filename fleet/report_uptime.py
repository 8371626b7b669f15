"""Online, offline and unknown minutes of a device over a report's period.

Made from the store's ``status_history``: every online/offline status the bridge saw (the
device's birth and its Last Will or clean shutdown). Each change is timed by when the
bridge *received* it, not by the time inside the status: a Last Will is written when the
device connects and published by the broker when the device drops, so the time it carries
is the connection's, not the outage's. Before the first change the bridge ever saw, and
before a device existed, its state is unknown; those minutes are counted apart rather than
guessed. Nothing is counted beyond "now": a period that runs into the future stops there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from healthhub.protocol.clock import parse_utc
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.status import OFFLINE, ONLINE


@dataclass
class Uptime:
    online_minutes: float = 0.0
    offline_minutes: float = 0.0
    unknown_minutes: float = 0.0
    #: Offline spans that overlap the period (one already under way at its start counts).
    outages: int = 0

    def add(self, other: Uptime) -> None:
        self.online_minutes += other.online_minutes
        self.offline_minutes += other.offline_minutes
        self.unknown_minutes += other.unknown_minutes
        self.outages += other.outages

    @property
    def availability(self) -> float | None:
        """Share of the known minutes the device was online; None if none are known."""
        known = self.online_minutes + self.offline_minutes
        return self.online_minutes / known if known else None


def status_changes(rows: Iterable[dict[str, object]]) -> dict[str, list[tuple[datetime, str]]]:
    """Per device, its (received at, state) changes oldest first; malformed rows are left out."""
    found: dict[str, list[tuple[datetime, str]]] = {}
    for row in rows:
        state, device = row.get("state"), row.get("device")
        if state not in (ONLINE, OFFLINE) or not isinstance(device, str):
            continue
        try:
            moment = parse_utc(row.get("received_at") or row.get("at"), field="received_at")
        except MalformedMessage:
            continue
        found.setdefault(device, []).append((moment, str(state)))
    for changes in found.values():
        changes.sort()
    return found


def device_uptime(changes: list[tuple[datetime, str]], start: datetime, end: datetime) -> Uptime:
    """Minutes in each state between ``start`` and ``end`` (UTC) from sorted ``changes``."""
    uptime = Uptime()
    if end <= start:
        return uptime
    state: str | None = None
    for moment, new in changes:
        if moment > start:
            break
        state = new  # the last change at or before the start holds at the start
    if state == OFFLINE:
        uptime.outages += 1
    cursor = start
    for moment, new in changes:
        if moment <= start:
            continue
        if moment >= end:
            break
        _count(uptime, state, (moment - cursor).total_seconds() / 60)
        if new == OFFLINE and state != OFFLINE:
            uptime.outages += 1
        state, cursor = new, moment
    _count(uptime, state, (end - cursor).total_seconds() / 60)
    return uptime


def _count(uptime: Uptime, state: str | None, minutes: float) -> None:
    if state == ONLINE:
        uptime.online_minutes += minutes
    elif state == OFFLINE:
        uptime.offline_minutes += minutes
    else:
        uptime.unknown_minutes += minutes
