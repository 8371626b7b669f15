"""gpiozero's HC-SR04 driver, with every single echo reading handed over as it is taken.

gpiozero ``DistanceSensor`` (gpiozero 2.0.1, ``gpiozero/input_devices.py``; documentation
"API - Input Devices", DistanceSensor (HC-SR04)) pings from a background queue thread every
``sample_wait`` = 0.06 s (the datasheet asks for a measurement cycle over 60 ms so that an
echo is not taken for the next ping): it raises TRIG for 10 us, waits up to 100 ms for ECHO
to rise and fall, and converts the pulse width by the factory's edge timestamps at 343.26 m/s
(sound in air at about 20 Cel) into a fraction of ``max_distance`` (clipped at 1.0), or None
when no echo came. Its ``value`` is a median over its queue; a height measurement needs the
single readings instead (their spread shows whether the person moved), so
:class:`TappedDistanceSensor` hands each one to ``tap`` from the queue thread, by overriding
``_read``, the hook through which gpiozero's ``GPIOQueue`` samples every smoothed input.

This module imports gpiozero; the height backends import it inside ``run()`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gpiozero import DistanceSensor

#: Seconds between pings (``DistanceSensor`` fixes ``sample_wait`` at 0.06 s).
PING_INTERVAL_S = 0.06
#: The longest one ping can take when nothing echoes (DistanceSensor waits 50 ms for a
#: previous echo to end, then 100 ms for this one).
PING_TIMEOUT_S = 0.15

#: Called from gpiozero's queue thread with each reading: a fraction of max_distance, or
#: None when no echo came back.
Tap = Callable[[float | None], None]


class TappedDistanceSensor(DistanceSensor):  # type: ignore[misc]  # gpiozero is untyped
    def __init__(self, echo: Any, trigger: Any, *, tap: Tap, **kwargs: Any) -> None:
        self._tap = tap  # before the queue thread starts in DistanceSensor.__init__
        super().__init__(echo, trigger, **kwargs)

    def _read(self) -> float | None:
        value: float | None = super()._read()
        self._tap(value)
        return value
