"""Status LED: shows the agent's broker link to staff walking past the unit.

The agent calls ``show_link(state)`` on every change of its link (and once at start, possibly
before ``run()``); the LED follows with gpiozero ``LED`` (gpiozero 2.0.1 documentation, "API -
Output Devices", LED: ``on()``, ``off()``, ``blink(on_time, off_time)`` on a background
thread):

=================  ==========================================
link state         LED
=================  ==========================================
``connected``      steady on
``connecting``     slow blink (``slow_blink_s`` on, as long off)
``disconnected``   fast blink (``fast_blink_s`` on, as long off)
``stopped``        off
anything else      fast blink: something is wrong
=================  ==========================================

``identify(seconds)`` (the ``identify`` command) flashes it every :data:`IDENTIFY_BLINK_S`
for that long, so a technician finds the unit among many; then it shows the link again.

Until the agent has said anything the LED stays off. Options (``backend: gpio``): ``pin``
(required), ``active_high`` (true: the LED lights when the pin is high), ``slow_blink_s``
(1.0), ``fast_blink_s`` (0.2), ``pin_factory``. ``backend: simulator`` runs the same code on
a ``MockFactory`` (its pin's bounded state history is the LED).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from healthhub.drivers.base import PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.gpio.peripheral import GpioPeripheral, RunContext, Simulated
from healthhub.drivers.gpio.pin_factory import FactoryName, PinName, check_pins, opening
from healthhub.drivers.options import Options
from healthhub.drivers.registry import register

log = logging.getLogger(__name__)

IDENTIFY_BLINK_S = 0.1


class StatusLedOptions(Options):
    pin: PinName
    active_high: bool = True
    slow_blink_s: float = Field(default=1.0, gt=0, le=10)
    fast_blink_s: float = Field(default=0.2, gt=0, le=10)
    pin_factory: FactoryName | None = None

    @model_validator(mode="after")
    def _slow_is_slower(self) -> Self:
        if self.slow_blink_s <= self.fast_blink_s:
            raise ValueError("slow_blink_s must be longer than fast_blink_s")
        return self


class SimulatedStatusLedOptions(StatusLedOptions):
    pin: PinName = 22


@dataclass(frozen=True)
class Lamp:
    """What the LED does: ``on``, ``off``, or ``blink`` with ``period_s`` on and as long off."""

    mode: Literal["on", "off", "blink"]
    period_s: float = 0.0

    def describe(self) -> str:
        return f"blinking every {self.period_s:g} s" if self.mode == "blink" else self.mode


def lamp_for(link: str | None, options: StatusLedOptions) -> Lamp:
    if link is None or link == "stopped":
        return Lamp("off")
    if link == "connected":
        return Lamp("on")
    if link == "connecting":
        return Lamp("blink", options.slow_blink_s)
    return Lamp("blink", options.fast_blink_s)  # disconnected, or a state we do not know


class StatusLed(GpioPeripheral):
    options_model = StatusLedOptions
    options: StatusLedOptions

    def __init__(self, spec: PeripheralSpec, *, pin_factory: Any = None) -> None:
        super().__init__(spec, pin_factory=pin_factory)
        self._link: str | None = None
        self._led: Any = None
        self._sink: ReadingSink | None = None
        #: What the LED was last told to do (None: no LED open yet).
        self.lamp: Lamp | None = None
        self._identifying: asyncio.TimerHandle | None = None

    def show_link(self, state: str) -> None:
        if state not in ("connected", "connecting", "disconnected", "stopped"):
            log.warning("peripheral %s: unknown link state %r: blinking fast", self.name, state)
        self._link = state
        if self._led is not None:
            self._apply()

    def identify(self, seconds: float) -> bool:
        if self._led is None:
            return False
        if self._identifying is not None:
            self._identifying.cancel()
        self._identifying = asyncio.get_running_loop().call_later(seconds, self._identified)
        self._led.blink(on_time=IDENTIFY_BLINK_S, off_time=IDENTIFY_BLINK_S, background=True)
        self.lamp = Lamp("blink", IDENTIFY_BLINK_S)
        if self._sink is not None:
            self._sink.state(self.name, PeripheralState.WAITING, f"identifying for {seconds:g} s")
        return True

    def _identified(self) -> None:
        self._identifying = None
        if self._led is not None:
            self.lamp = None  # show the link again, whatever it was before
            self._apply()
            lamp = lamp_for(self._link, self.options)
            if self._sink is not None:
                self._sink.state(self.name, PeripheralState.WAITING, lamp.describe())

    def open(self, run: RunContext) -> str:
        from gpiozero import LED

        check_pins(self.spec, run.factory, pin=self.options.pin)
        with opening(self.spec, pin=self.options.pin):
            led = LED(
                self.options.pin, active_high=self.options.active_high, pin_factory=run.factory
            )
        run.devices.callback(self._close)
        self._led = led
        self._sink = run.sink
        self._apply()
        return self.lamp.describe() if self.lamp is not None else ""

    def _close(self) -> None:
        if self._identifying is not None:
            self._identifying.cancel()
            self._identifying = None
        led, self._led, self.lamp = self._led, None, None
        if led is not None:
            led.close()

    def _apply(self) -> None:
        if self._identifying is not None:
            return  # the link shows again when identifying ends
        lamp = lamp_for(self._link, self.options)
        if lamp == self.lamp:
            return  # a blink restarted on every repeat of a state would stutter
        if lamp.mode == "on":
            self._led.on()
        elif lamp.mode == "off":
            self._led.off()
        else:
            self._led.blink(on_time=lamp.period_s, off_time=lamp.period_s, background=True)
        changed = self.lamp is not None
        self.lamp = lamp
        if changed and self._sink is not None:  # staff and telemetry see what the LED shows
            self._sink.state(self.name, PeripheralState.WAITING, lamp.describe())


class SimulatedStatusLed(Simulated, StatusLed):
    options_model = SimulatedStatusLedOptions
    options: SimulatedStatusLedOptions


register("status_led", "gpio")(StatusLed)
register("status_led", "simulator")(SimulatedStatusLed)
