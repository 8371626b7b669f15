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

from pydantic import Field

from healthhub.drivers.base import ReadingSink, Signal
from healthhub.drivers.gpio.peripheral import RunContext
from healthhub.drivers.gpio.pin_factory import FactoryName, PinName, check_pins, hop, opening
from healthhub.drivers.gpio.pulse_script import ScriptOptions
from healthhub.drivers.gpio.signal_input import ScriptedInput, SignalInput
from healthhub.drivers.options import Options
from healthhub.drivers.registry import register


class PresenceOptions(Options):
    pin: PinName
    pull_up: bool = False
    queue_len: int = Field(default=1, ge=1, le=100)
    sample_rate_hz: float = Field(default=10.0, gt=0, le=1000)
    threshold: float = Field(default=0.5, gt=0, lt=1)
    min_interval_s: float = Field(default=2.0, ge=0, le=3600)
    pin_factory: FactoryName | None = None


class SimulatedPresenceOptions(ScriptOptions, PresenceOptions):
    pin: PinName = 4


class PresenceSensor(SignalInput):
    options_model = PresenceOptions
    options: PresenceOptions
    signal = Signal.PRESENCE
    #: Whether the sensor sees someone now (as its last event said).
    in_view = False

    @property
    def interval_s(self) -> float:
        return self.options.min_interval_s

    def open(self, run: RunContext) -> str:
        from gpiozero import MotionSensor

        check_pins(self.spec, run.factory, pin=self.options.pin)
        with opening(self.spec, pin=self.options.pin):
            sensor = MotionSensor(
                self.options.pin,
                pull_up=self.options.pull_up,
                queue_len=self.options.queue_len,
                sample_rate=self.options.sample_rate_hz,
                threshold=self.options.threshold,
                pin_factory=run.factory,
            )
        run.devices.callback(sensor.close)
        sensor.when_motion = hop(run.loop, lambda: self._motion(run.sink))
        sensor.when_no_motion = hop(run.loop, self._no_motion)
        # A smoothed input takes its first full queue as its starting state and fires no
        # event for it, so someone already in view at start would never be signalled. Start
        # from "no motion" instead (``_fire_events`` is gpiozero's documented hook for a
        # device's state changes); a race with the first sample at worst repeats a signal,
        # which the rate limit folds.
        sensor._fire_events(run.factory.ticks(), False)
        return ""

    def _motion(self, sink: ReadingSink) -> None:
        self.in_view = True
        self.raise_signal(sink)

    def _no_motion(self) -> None:
        self.in_view = False


class SimulatedPresenceSensor(ScriptedInput, PresenceSensor):
    options_model = SimulatedPresenceOptions
    options: SimulatedPresenceOptions


register("presence_sensor", "gpio")(PresenceSensor)
register("presence_sensor", "simulator")(SimulatedPresenceSensor)
