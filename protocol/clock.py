"""Timestamps on the wire: UTC, ISO 8601, millisecond precision, ``Z`` suffix."""

from __future__ import annotations

from datetime import UTC, datetime

from healthhub.protocol.errors import MalformedMessage


def format_utc(moment: datetime) -> str:
    """``2026-11-23T10:15:30.123Z``; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("a wire timestamp needs a timezone")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_utc() -> str:
    return format_utc(datetime.now(UTC))


def parse_utc(text: object, *, field: str = "at") -> datetime:
    """Parse a wire timestamp; :class:`MalformedMessage` unless it is ISO 8601 with a zone."""
    if not isinstance(text, str):
        raise MalformedMessage(f"{field} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedMessage(f"{field} is not an ISO 8601 timestamp: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise MalformedMessage(f"{field} has no timezone: {text[:40]!r}")
    return moment.astimezone(UTC)
