"""Presence sensor: a PIR (HC-SR501 style) on a GPIO pin wakes the attract screen.

gpiozero ``MotionSensor`` (gpiozero 2.0.1 documentation, "API - Input Devices",
MotionSensor (D-SUN PIR)): a background thread samples the pin ``sample_rate`` times a second
into a queue of ``queue_len`` values and calls ``when_motion`` when their mean rises above
``threshold``. Each motion is ``sink.signal(name, Signal.PRESENCE)``, at most one per
``min_interval_s`` (default 2 s), so someone fidgeting in front of the unit does not flood
the agent.

Options (``backend: gpio``): ``pin`` (required), ``pull_up`` (default false: the PIR drives
its output), ``queue_len`` (1), ``sample_rate_hz`` (10), ``threshold`` (0.5),
``min_interval_s`` (2), ``pin_factory``. ``backend: simulator`` runs the same code on a
``MockFactory`` and plays ``script`` (a list of ``{after_s, for_s}``: someone in view for
``for_s`` seconds after ``after_s``), once or with ``repeat: true`` in a loop.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from pydantic import Field

from healthhub.drivers.base import Peripheral, PeripheralSpec, ReadingSink, Signal
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


class PresenceOptions(Options):
    pin: PinName
    pull_up: bool = False
    queue_len: int = Field(default=1, ge=1, le=100)
    sample_rate_hz: float = Field(default=10.0, gt=0, le=1000)
    threshold: float = Field(default=0.5, gt=0, lt=1)
    min_interval_s: float = Field(default=2.0, ge=0, le=3600)
    pin_factory: FactoryName | None = None


class SimulatedPresenceOptions(PresenceOptions):
    pin: PinName = 4
    script: list[PulseStep] = Field(default_factory=list, max_length=pulse_script.SCRIPT_LIMIT)
    repeat: bool = False


class PresenceSensor(GpioPeripheral):
    options: PresenceOptions

    def __init__(
        self,
        spec: PeripheralSpec,
        *,
        pin_factory: Any = None,
        clock: Clock = time.monotonic,
        options_model: type[PresenceOptions] = PresenceOptions,
    ) -> None:
        self.options = parse_options(spec, options_model)
        super().__init__(spec, self.options.pin_factory, pin_factory)
        self.hold_off = HoldOff(self.options.min_interval_s, clock)
        #: Whether the sensor sees someone now (as its last event said).
        self.in_view = False

    def open(
        self,
        factory: Any,
        loop: asyncio.AbstractEventLoop,
        sink: ReadingSink,
        devices: ExitStack,
    ) -> str:
        from gpiozero import MotionSensor

        check_pins(self.spec, factory, pin=self.options.pin)
        with opening(self.spec, pin=self.options.pin):
            sensor = MotionSensor(
                self.options.pin,
                pull_up=self.options.pull_up,
                queue_len=self.options.queue_len,
                sample_rate=self.options.sample_rate_hz,
                threshold=self.options.threshold,
                pin_factory=factory,
            )
        devices.callback(sensor.close)
        sensor.when_motion = hop(loop, lambda: self._motion(sink))
        sensor.when_no_motion = hop(loop, self._no_motion)
        # A smoothed input takes its first full queue as its starting state and fires no
        # event for it, so someone already in view at start would never be signalled. Start
        # from "no motion" instead (``_fire_events`` is gpiozero's documented hook for a
        # device's state changes); a race with the first sample at worst repeats a signal,
        # which the rate limit folds.
        sensor._fire_events(factory.ticks(), False)
        return ""

    def _motion(self, sink: ReadingSink) -> None:
        self.in_view = True
        if self.hold_off.allow():
            sink.signal(self.name, Signal.PRESENCE)

    def _no_motion(self) -> None:
        self.in_view = False


class SimulatedPresenceSensor(PresenceSensor):
    options: SimulatedPresenceOptions

    def __init__(self, spec: PeripheralSpec, *, clock: Clock = time.monotonic) -> None:
        super().__init__(spec, clock=clock, options_model=SimulatedPresenceOptions)

    def pin_factory(self) -> AbstractContextManager[Any]:
        from healthhub.drivers.gpio.mock_pins import owned_mock_factory

        return owned_mock_factory()

    async def serve(self, factory: Any, sink: ReadingSink) -> None:
        pin = factory.pin(self.options.pin)

        def drive(active: bool) -> None:
            if active != self.options.pull_up:  # with a pull-up the output is active low
                pin.drive_high()
            else:
                pin.drive_low()

        await pulse_script.play(self.options.script, drive, repeat=self.options.repeat)
        await super().serve(factory, sink)


@register("presence_sensor", "gpio")
def _gpio(spec: PeripheralSpec) -> Peripheral:
    return PresenceSensor(spec)


@register("presence_sensor", "simulator")
def _simulator(spec: PeripheralSpec) -> Peripheral:
    return SimulatedPresenceSensor(spec)
