"""What a GATT decoder gives: a validated measurement and what the device said about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthhub.drivers.errors import ImpossibleValue
from healthhub.protocol.errors import InvalidMeasurement
from healthhub.protocol.measurements import Measurement, measurement


@dataclass(frozen=True)
class GattReading:
    measurement: Measurement
    taken_at: datetime | None = None  # the device's own time stamp, if it sent one
    user: int | None = None  # the device's user index (255: unknown user)
    notes: tuple[str, ...] = ()  # what the device flagged: "body_movement", "cuff_loose", ...
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.measurement.to_json(),
            "taken_at": None if self.taken_at is None else self.taken_at.isoformat(),
            "user": self.user,
            "notes": list(self.notes),
            "details": dict(self.details),
        }


def checked(kind: str, source: str, **values: float | None) -> Measurement:
    """The protocol's measurement, or :class:`ImpossibleValue` naming the characteristic."""
    try:
        return measurement(kind, **values)
    except InvalidMeasurement as exc:
        raise ImpossibleValue(f"{source}: {exc}") from None
