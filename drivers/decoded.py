"""What a frame decoder (GATT or serial) gives: a validated measurement and the device's notes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from healthhub.drivers.errors import ImpossibleValue
from healthhub.protocol.errors import InvalidMeasurement
from healthhub.protocol.measurements import Measurement, measurement


@dataclass(frozen=True)
class DecodedReading:
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
    """The protocol's measurement, or :class:`ImpossibleValue` naming its source (a
    characteristic, a serial protocol)."""
    try:
        return measurement(kind, **values)
    except InvalidMeasurement as exc:
        raise ImpossibleValue(f"{source}: {exc}") from None


@dataclass(frozen=True)
class FrameDecoder:
    """One frame decoder as installers name it (``healthhub-agent decode --driver NAME``).

    ``decode`` is pure: bytes in, a :class:`DecodedReading` out, or a
    :class:`~healthhub.drivers.errors.FrameError`; never any other exception.
    """

    name: str
    source: str  # where the format is defined: "GATT 0x2A35 ...", a manual's title
    decode: Callable[[bytes], DecodedReading]
    uuid: int | None = None  # the GATT characteristic, for Bluetooth decoders
