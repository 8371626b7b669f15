"""Operating hours: is the unit open now, and if not, when does it open next?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from healthhub.ui.i18n import N_

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


@dataclass(frozen=True)
class Opening:
    day: date
    at: time

    @property
    def day_name(self) -> str:
        return DAY_NAMES[self.day.weekday()]


def _ranges(hours: Sequence[str]) -> list[tuple[time, time]]:
    found = []
    for text in hours:
        start, end = text.split("-")
        end_time = time(23, 59, 59) if end == "24:00" else time.fromisoformat(end)
        found.append((time.fromisoformat(start), end_time))
    return sorted(found)


class OperatingHours:
    """``hours`` maps mon..sun to ``["08:00-12:30", "13:30-18:00"]``; None means always open."""

    def __init__(
        self, hours: Mapping[str, Sequence[str]] | None, closures: Sequence[date] = ()
    ) -> None:
        self._always = hours is None
        self._ranges = {day: _ranges((hours or {}).get(day, ())) for day in WEEKDAYS}
        self._closures = set(closures)

    def is_open(self, now: datetime) -> bool:
        if self._always:
            return True
        if now.date() in self._closures:
            return False
        moment = now.time()
        return any(a <= moment < b for a, b in self._ranges[WEEKDAYS[now.weekday()]])

    def next_opening(self, now: datetime) -> Opening | None:
        """When the unit next opens after ``now`` (within two weeks), or None if never."""
        if self._always:
            return None
        for offset in range(15):
            day = now.date() + timedelta(days=offset)
            if day in self._closures:
                continue
            for start, _ in self._ranges[WEEKDAYS[day.weekday()]]:
                if offset > 0 or start > now.time():
                    return Opening(day, start)
        return None
