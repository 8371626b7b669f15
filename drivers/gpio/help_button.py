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

from pydantic import Field

from healthhub.drivers.base import PeripheralState, ReadingSink, Signal
from healthhub.drivers.gpio.peripheral import RunContext
from healthhub.drivers.gpio.pin_factory import FactoryName, PinName, check_pins, hop, opening
from healthhub.drivers.gpio.pulse_script import ScriptOptions
from healthhub.drivers.gpio.signal_input import ScriptedInput, SignalInput
from healthhub.drivers.options import Options
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


class SimulatedHelpButtonOptions(ScriptOptions, HelpButtonOptions):
    pin: PinName = 27


class HelpButton(SignalInput):
    options_model = HelpButtonOptions
    options: HelpButtonOptions
    signal = Signal.HELP_REQUESTED
    pressed_at_start = False

    @property
    def interval_s(self) -> float:
        return self.options.hold_off_s

    def open(self, run: RunContext) -> str:
        from gpiozero import Button

        check_pins(self.spec, run.factory, pin=self.options.pin)
        with opening(self.spec, pin=self.options.pin, pull_up=self.options.pull_up):
            button = Button(
                self.options.pin,
                pull_up=self.options.pull_up,
                bounce_time=self.options.bounce_time_s,
                hold_time=CLOSE_WAIT_S,
                pin_factory=run.factory,
            )
        run.devices.callback(button.close)
        button.when_pressed = hop(run.loop, lambda: self.raise_signal(run.sink))
        button.when_released = hop(run.loop, lambda: self._released(run.sink))
        self.pressed_at_start = bool(button.is_pressed)
        return PRESSED_AT_START if self.pressed_at_start else ""

    def _released(self, sink: ReadingSink) -> None:
        if self.pressed_at_start:  # it was held after all: the warning no longer holds
            self.pressed_at_start = False
            sink.state(self.name, PeripheralState.WAITING)


class SimulatedHelpButton(ScriptedInput, HelpButton):
    options_model = SimulatedHelpButtonOptions
    options: SimulatedHelpButtonOptions


register("help_button", "gpio")(HelpButton)
register("help_button", "simulator")(SimulatedHelpButton)
