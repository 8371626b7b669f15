"""When a Bluetooth reading was taken: the device's time stamp if it is sane, else receipt time.

Health devices keep readings in memory and send them when next connected (BLP, WSP, HTP;
PLX over RACP), so a reading that arrives now may be hours old. Filing an old reading as
today's would put a wrong value at a wrong time in a patient's record, so:

- no time stamp, live: the time it arrived;
- no time stamp, known to come from storage (RACP, or PLX status "from storage"): refused,
  it cannot be dated;
- a time stamp within ``stale_after_s`` of arrival, either side: the device's time, never
  later than arrival (a clock a little fast does not date a reading in the future);
- further in the past: refused (an old stored record, or the device clock is behind);
- further in the future: refused (the device clock is ahead).

The GATT Date Time carries no time zone (GSS, "Date Time"). The decoders tag it UTC; with
``device_clock: local`` the same wall-clock reading is taken as the hub's local time,
as a device set by hand or by a phone shows it. Refusal reasons carry no times or values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal


@dataclass(frozen=True)
class Undatable:
    reason: str


def hub_time(
    stamp: datetime, device_clock: Literal["local", "utc"], zone: tzinfo | None = None
) -> datetime:
    """The device's wall-clock ``stamp`` as an aware UTC time.

    ``zone`` is the hub's local zone for ``device_clock: local``; None means the system's
    (DST rules applied per date)."""
    if device_clock == "utc":
        return stamp.astimezone(UTC)
    wall = stamp.replace(tzinfo=None)
    local = wall.astimezone() if zone is None else wall.replace(tzinfo=zone)
    return local.astimezone(UTC)


def taken_at(
    stamp: datetime | None, received_at: datetime, *, stored: bool, stale_after_s: float
) -> datetime | Undatable:
    """The time to file a reading under, or why it cannot be filed (a value-free reason)."""
    if stamp is None:
        if stored:
            return Undatable("a stored record without a time stamp cannot be dated; not filed")
        return received_at
    window = timedelta(seconds=stale_after_s)
    if stamp < received_at - window:
        return Undatable(
            f"time-stamped more than {stale_after_s:g} s before it arrived (an old stored "
            "record, or the device clock is behind); not filed"
        )
    if stamp > received_at + window:
        return Undatable(
            f"time-stamped more than {stale_after_s:g} s after it arrived (the device clock "
            "is ahead: set it); not filed"
        )
    return min(stamp, received_at)
