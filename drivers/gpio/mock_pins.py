"""gpiozero's MockFactory as the simulators' hardware, and an HC-SR04 made of mock pins.

gpiozero's ``MockFactory`` is a real pin backend (gpiozero 2.0.1, ``gpiozero/pins/mock.py``):
the same device code runs on it as on a Pi. Two additions make it fit a simulator that runs
for days and an ultrasonic sensor that really answers:

- :class:`BoundedHistoryPin` keeps the last :data:`HISTORY_LIMIT` state changes; ``MockPin``
  keeps every one, so a blinking LED would grow without bound in a long demo.
- :class:`EchoingTriggerPin` and :class:`EchoPin` behave as an HC-SR04 ("Ultrasonic Ranging
  Module HC-SR04", ElecFreaks datasheet, as distributed with SparkFun SEN-15569): at the
  falling edge of the >= 10 us trigger pulse the module sends its 40 kHz burst and raises
  ECHO for the round trip of the sound, range = high time x speed of sound / 2. gpiozero's
  ``DistanceSensor`` times that pulse from the pin's edge timestamps (the factory's
  ``ticks``), so the echo pin stamps its falling edge exactly one round trip after its
  rising edge: the width is exact and the test is deterministic, where a thread sleeping for
  the width (gpiozero's own ``MockTriggerPin``) would add scheduler jitter of several
  centimetres. No target within range gives no echo pulse at all, the timeout gpiozero
  reads as "no echo".

This module imports gpiozero; the backends import it inside ``run()`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import monotonic
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPin, PinState

#: State changes a simulated pin remembers (a blinking LED changes state twice a blink).
HISTORY_LIMIT = 256
#: The speed of sound gpiozero's DistanceSensor assumes (m/s, dry air at about 20 Cel); the
#: simulated room is at the same temperature, so a scripted distance reads back exactly.
SPEED_OF_SOUND_M_S = 343.26

#: Where a simulated sensor looks: the next distance in cm, or None for no echo at all.
DistanceSource = Callable[[], float | None]


class BoundedHistoryPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A ``MockPin`` that remembers only its last :data:`HISTORY_LIMIT` state changes."""

    def _change_state(self, value: Any) -> bool:
        changed: bool = super()._change_state(value)
        if len(self.states) > HISTORY_LIMIT:
            del self.states[:-HISTORY_LIMIT]
        return changed


class EchoPin(BoundedHistoryPin):
    """The HC-SR04's ECHO output, as the Pi's input pin sees it."""

    _state: bool  # MockPin's own fields, which this class sets with a timestamp of its own
    _last_change: float

    def pulse(self, width_s: float) -> None:
        """Raise the pin and lower it ``width_s`` later, by the edges' timestamps."""
        rise = monotonic()
        self._edge(True, rise)
        self._edge(False, rise + width_s)

    def _edge(self, state: bool, at: float) -> None:
        if self._function != "input" or self._state == state:
            return
        self._state = state
        self.states.append(PinState(at - self._last_change, state))
        if len(self.states) > HISTORY_LIMIT:
            del self.states[:-HISTORY_LIMIT]
        self._last_change = at
        wanted = "rising" if state else "falling"
        if self._when_changed is not None and self._edges in ("both", wanted):
            self._call_when_changed()


class EchoingTriggerPin(BoundedHistoryPin):
    """The HC-SR04's TRIG input: the end of each trigger pulse makes ``echo_pin`` answer."""

    def __init__(
        self, factory: Any, info: Any, *, echo_pin: EchoPin, distance: DistanceSource
    ) -> None:
        super().__init__(factory, info)
        self.echo_pin = echo_pin
        self.distance = distance
        self.pings = 0

    def _set_state(self, value: Any) -> None:
        was_high = bool(self._state)
        super()._set_state(value)
        if was_high and not value:
            self.pings += 1
            distance_cm = self.distance()
            if distance_cm is not None:
                self.echo_pin.pulse(echo_width_s(distance_cm))


def echo_width_s(distance_cm: float) -> float:
    """The ECHO high time for a target ``distance_cm`` away (sound goes there and back)."""
    return 2 * distance_cm / 100 / SPEED_OF_SOUND_M_S


@contextmanager
def owned_mock_factory() -> Iterator[Any]:
    """A ``MockFactory`` of bounded-history pins for one run, closed after it."""
    factory = MockFactory(pin_class=BoundedHistoryPin)
    try:
        yield factory
    finally:
        factory.close()


def ultrasonic_pins(
    factory: Any, echo: int | str, trigger: int | str, distance: DistanceSource
) -> EchoingTriggerPin:
    """Put a simulated HC-SR04 on ``factory``'s ``echo`` and ``trigger`` pins.

    Call before a ``DistanceSensor`` opens those pins: the factory then hands it these.
    """
    echo_pin = factory.pin(echo, pin_class=EchoPin)
    trigger_pin: EchoingTriggerPin = factory.pin(
        trigger, pin_class=EchoingTriggerPin, echo_pin=echo_pin, distance=distance
    )
    return trigger_pin
