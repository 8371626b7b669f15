"""What the PIR and the help button share: an input pin whose events signal the agent.

Each event that reaches the loop is one ``sink.signal(name, signal)``, unless the hold-off
(:class:`~healthhub.drivers.gpio.hold_off.HoldOff`, over the family's interval option) folds
it into the last one. The simulator of either (:class:`ScriptedInput`) runs the family's code
on a ``MockFactory`` and drives the input's pin by its pulse script.
"""

from __future__ import annotations

import abc
import time
from typing import Any, ClassVar, Protocol

from healthhub.drivers.base import PeripheralSpec, ReadingSink, Signal
from healthhub.drivers.gpio import pulse_script
from healthhub.drivers.gpio.hold_off import Clock, HoldOff
from healthhub.drivers.gpio.peripheral import GpioOptions, GpioPeripheral, RunContext, Simulated
from healthhub.drivers.gpio.pulse_script import PulseStep


class InputOptions(GpioOptions, Protocol):
    """What :class:`SignalInput` reads of the family's options model."""

    @property
    def pin(self) -> int | str: ...

    @property
    def pull_up(self) -> bool: ...


class SignalInput(GpioPeripheral):
    """An input that raises :attr:`signal`, at most one per :attr:`interval_s`."""

    signal: ClassVar[Signal]
    options: InputOptions

    def __init__(
        self, spec: PeripheralSpec, *, pin_factory: Any = None, clock: Clock = time.monotonic
    ) -> None:
        super().__init__(spec, pin_factory=pin_factory)
        self.hold_off = HoldOff(self.interval_s, clock)

    @property
    @abc.abstractmethod
    def interval_s(self) -> float:
        """How long a signal holds off the next (s): the family's option for it."""

    def raise_signal(self, sink: ReadingSink) -> None:
        if self.hold_off.allow():
            sink.signal(self.name, self.signal)


class ScriptedInputOptions(InputOptions, Protocol):
    """What :class:`ScriptedInput` reads: a simulator's model lists
    :class:`~healthhub.drivers.gpio.pulse_script.ScriptOptions` first among its bases."""

    @property
    def script(self) -> list[PulseStep]: ...

    @property
    def repeat(self) -> bool: ...


class ScriptedInput(Simulated, SignalInput):
    """The simulator of an input (listed first among its bases): its pin plays ``script``."""

    options: ScriptedInputOptions

    async def serve(self, run: RunContext) -> None:
        pin = run.factory.pin(self.options.pin)

        def drive(active: bool) -> None:
            # with a pull-up the input is active low: a press pulls the pin low, and so does
            # an active-low PIR output
            if active != self.options.pull_up:
                pin.drive_high()
            else:
                pin.drive_low()

        await pulse_script.play(self.options.script, drive, repeat=self.options.repeat)
        await super().serve(run)
