"""At most one signal per interval: a fidgeting person or a hammered button is one event."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class HoldOff:
    """Lets an event through if ``interval_s`` has passed since the last one it let through.

    Counted from the last event *let through*, not the last one seen: someone who keeps
    pressing the help button raises one alert per interval instead of none. ``clock`` is a
    monotonic clock in seconds (injected by tests instead of sleeping).
    """

    def __init__(self, interval_s: float, clock: Clock = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: float | None = None
        self.passed = 0
        self.held = 0

    def allow(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self.interval_s:
            self.held += 1
            return False
        self._last = now
        self.passed += 1
        return True
