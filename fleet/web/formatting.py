"""How the dashboard writes times and durations for practice staff (UK local time)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from healthhub.protocol.clock import parse_utc
from healthhub.protocol.errors import MalformedMessage

_LOCAL = ZoneInfo("Europe/London")  # the tzdata package backs it where the OS has none
LOCAL_NAME = "UK time"


def when(text: object) -> str:
    """``2026-11-23T10:00:00.000Z`` -> ``23 Nov 2026 10:00``; ``-`` if absent or unreadable."""
    try:
        moment = parse_utc(text)
    except MalformedMessage:
        return "-"
    return moment.astimezone(_LOCAL).strftime("%d %b %Y %H:%M")


def duration(seconds: object) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def minutes_between(start: object, end: object) -> int | None:
    """Whole minutes from ``start`` to ``end`` (ISO 8601), None if either is unreadable."""
    try:
        delta = parse_utc(end) - parse_utc(start)
    except MalformedMessage:
        return None
    return max(0, round(delta.total_seconds() / 60))
