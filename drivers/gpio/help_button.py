"""Help button: a push button on a GPIO pin raises a staff alert.

gpiozero ``Button`` (gpiozero 2.0.1 documentation, "API - Input Devices", Button): with
``pull_up`` (default) the button connects the pin to ground and pressed reads low;
``bounce_time_s`` is handed to the pin driver, which ignores changes for that long after an
edge (contact bounce; lgpio debounces in its alert thread). Each press is one
``sink.signal(name, Signal.HELP_REQUESTED)``, and a hold-off (``hold_off_s``, default 10 s,
counted from the last alert raised) folds repeated presses, and any bounce the pin driver
lets through, into one staff alert instead of twenty.

A button that reads pressed when the peripheral starts is either held or wired against its
``pull_up`` setting (then it can never raise an alert): the state detail says so.

Options (``backend: gpio``): ``pin`` (required), ``pull_up`` (true), ``bounce_time_s``
(0.05; null: none), ``hold_off_s`` (10), ``pin_factory``. ``backend: simulator`` runs the
same code on a ``MockFactory`` and plays ``script`` (a list of ``{after_s, for_s}``: a
press held ``for_s`` seconds after ``after_s``), once or with ``repeat: true``.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from pydantic import Field

from healthhub.drivers.base import (
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    ReadingSink,
    Signal,
)
from healthhub.drivers.gpio import pulse_script
from healthhub.drivers.gpio.hold_off import Clock, HoldOff
from healthhub.drivers.gpio.peripheral import GpioPeripheral
from healthhub.drivers.gpio.pin_factory import (
    FactoryName,
    PinName,
    check_pins,
    hop,
    opening,
)
from healthhub.drivers.gpio.pulse_script import PulseStep
from healthhub.drivers.options import Options, parse_options
from healthhub.drivers.registry import register

#: gpiozero's ``Button`` runs a hold thread that ``close()`` joins; it waits ``hold_time`` for a
#: held button to be released. We use no ``when_held``: a short ``hold_time`` keeps
#: ``close()`` (on the event loop, when the peripheral stops) from blocking up to a second.
CLOSE_WAIT_S = 0.05
PRESSED_AT_START = "the help button reads pressed at start: held down, or wired against pull_up"


class HelpButtonOptions(Options):
    pin: PinName
    pull_up: bool = True
    bounce_time_s: float | None = Field(default=0.05, gt=0, le=1)
    hold_off_s: float = Field(default=10.0, gt=0, le=3600)
    pin_factory: FactoryName | None = None


class SimulatedHelpButtonOptions(HelpButtonOptions):
    pin: PinName = 27
    script: list[PulseStep] = Field(default_factory=list, max_length=pulse_script.SCRIPT_LIMIT)
    repeat: bool = False


class HelpButton(GpioPeripheral):
    options: HelpButtonOptions

    def __init__(
        self,
        spec: PeripheralSpec,
        *,
        pin_factory: Any = None,
        clock: Clock = time.monotonic,
        options_model: type[HelpButtonOptions] = HelpButtonOptions,
    ) -> None:
        self.options = parse_options(spec, options_model)
        super().__init__(spec, self.options.pin_factory, pin_factory)
        self.hold_off = HoldOff(self.options.hold_off_s, clock)
        self.pressed_at_start = False

    def open(
        self,
        factory: Any,
        loop: asyncio.AbstractEventLoop,
        sink: ReadingSink,
        devices: ExitStack,
    ) -> str:
        from gpiozero import Button

        check_pins(self.spec, factory, pin=self.options.pin)
        with opening(self.spec, pin=self.options.pin, pull_up=self.options.pull_up):
            button = Button(
                self.options.pin,
                pull_up=self.options.pull_up,
                bounce_time=self.options.bounce_time_s,
                hold_time=CLOSE_WAIT_S,
                pin_factory=factory,
            )
        devices.callback(button.close)
        button.when_pressed = hop(loop, lambda: self._pressed(sink))
        button.when_released = hop(loop, lambda: self._released(sink))
        self.pressed_at_start = bool(button.is_pressed)
        return PRESSED_AT_START if self.pressed_at_start else ""

    def _pressed(self, sink: ReadingSink) -> None:
        if self.hold_off.allow():
            sink.signal(self.name, Signal.HELP_REQUESTED)

    def _released(self, sink: ReadingSink) -> None:
        if self.pressed_at_start:  # it was held after all: the warning no longer holds
            self.pressed_at_start = False
            sink.state(self.name, PeripheralState.WAITING)


class SimulatedHelpButton(HelpButton):
    options: SimulatedHelpButtonOptions

    def __init__(self, spec: PeripheralSpec, *, clock: Clock = time.monotonic) -> None:
        super().__init__(spec, clock=clock, options_model=SimulatedHelpButtonOptions)

    def pin_factory(self) -> AbstractContextManager[Any]:
        from healthhub.drivers.gpio.mock_pins import owned_mock_factory

        return owned_mock_factory()

    async def serve(self, factory: Any, sink: ReadingSink) -> None:
        pin = factory.pin(self.options.pin)

        def drive(pressed: bool) -> None:
            if pressed != self.options.pull_up:  # with a pull-up a press pulls the pin low
                pin.drive_high()
            else:
                pin.drive_low()

        await pulse_script.play(self.options.script, drive, repeat=self.options.repeat)
        await super().serve(factory, sink)


@register("help_button", "gpio")
def _gpio(spec: PeripheralSpec) -> Peripheral:
    return HelpButton(spec)


@register("help_button", "simulator")
def _simulator(spec: PeripheralSpec) -> Peripheral:
    return SimulatedHelpButton(spec)
