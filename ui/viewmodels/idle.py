"""Forgetting a patient who walks away: idle, then a warning that counts down, then a wipe.

WCAG 2.2 SC 2.2.1 (Timing Adjustable): the user is warned before time runs out
and given at least 20 seconds to extend it with a simple action ("I'm still
here"). The clock is injected so tests step through it without waiting.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

MIN_WARNING_S = 20.0


class IdleState(enum.StrEnum):
    ACTIVE = "active"
    WARNING = "warning"
    EXPIRED = "expired"


class IdleTimer:
    def __init__(
        self,
        idle_timeout_s: float,
        warning_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._last_touch = clock()
        self.configure(idle_timeout_s, warning_s)

    def configure(self, idle_timeout_s: float, warning_s: float) -> None:
        """New timeouts (a pushed configuration); the time already idle still counts."""
        if warning_s < MIN_WARNING_S:
            raise ValueError(f"the warning must last at least {MIN_WARNING_S:g} s (WCAG 2.2.1)")
        self.idle_timeout_s = idle_timeout_s
        self.warning_s = warning_s

    def touch(self) -> None:
        """Any touch (or "I'm still here") starts the idle time again."""
        self._last_touch = self._clock()

    def state(self) -> IdleState:
        idle = self._clock() - self._last_touch
        if idle < self.idle_timeout_s:
            return IdleState.ACTIVE
        if idle < self.idle_timeout_s + self.warning_s:
            return IdleState.WARNING
        return IdleState.EXPIRED

    def remaining_s(self) -> int:
        """Whole seconds left on the warning (shown as the countdown)."""
        left = self.idle_timeout_s + self.warning_s - (self._clock() - self._last_touch)
        return max(0, min(int(self.warning_s), int(left + 0.999)))
