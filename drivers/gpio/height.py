"""Height measure: an HC-SR04 ultrasonic sensor above the patient's head, looking down.

On ``request_measurement()`` the peripheral opens a gpiozero ``DistanceSensor`` (see
:mod:`~healthhub.drivers.gpio.ultrasonic` for its timing), reports ``measuring``, collects
``samples`` echo readings (at most twice as many pings, one every 60 ms: 15 samples take
about a second), closes the sensor and hands the readings to
:func:`~healthhub.drivers.gpio.height_samples.height_from`: a body height
(mount_height_cm - median distance) through ``sink.reading``, or ``sink.refused`` with a
reason that holds no value. The sensor pings only while measuring: the 40 kHz burst is
inaudible to people but not to dogs, assistance dogs included. Between measurements the
peripheral holds both pins (TRIG low, ECHO pulled down) so no other device can take them.

No echo at all in a measurement means the sensor is unplugged or unpowered: a transient
error, retried by the supervisor.

Options (``backend: gpio``): ``echo``, ``trigger`` (required pins); ``mount_height_cm``
(required: the sensor's height above the floor, 100-400 cm, and at most ``max_distance_m``
so the floor is in range: a shorter range would read anyone shorter than the gap as
nobody); ``max_distance_m`` (2.5; the HC-SR04 reaches 4 m); ``samples`` (15);
``max_spread_cm`` (1.0); ``pin_factory`` (``lgpio`` or ``mock`` only, see
:data:`TIMED_FACTORY_MODULES`).

``backend: gpio_simulator`` runs the same code, the real ``DistanceSensor`` included, on a
``MockFactory`` whose trigger pin answers each ping with an echo pulse as wide as the
scripted distance needs (:mod:`~healthhub.drivers.gpio.mock_pins`). Its ``script`` holds
one step per measurement: ``{height_cm, sway_cm}`` (a person, swaying by ``sway_cm`` between
pings), ``nobody`` (the floor) or ``unplugged`` (no echo); after the script, nobody. (The
name ``simulator`` is taken by the measurement-level simulator of every measuring family in
:mod:`healthhub.drivers.simulator`.)
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from healthhub.drivers.base import DriverReading, PeripheralSpec, PeripheralState
from healthhub.drivers.errors import DriverConfigError, TransientDriverError
from healthhub.drivers.gpio.height_samples import (
    MAX_RANGE_CM,
    Geometry,
    Refusal,
    height_from,
)
from healthhub.drivers.gpio.peripheral import GpioPeripheral, RunContext, Simulated
from healthhub.drivers.gpio.pin_factory import PinName, check_pins, hop, opening
from healthhub.drivers.options import Options
from healthhub.drivers.registry import register

#: Pin factories that time the echo's edges well enough: lgpio stamps each edge in the
#: kernel (ns), pigpio samples by DMA, mock pins carry exact stamps. RPi.GPIO and native
#: stamp edges when Python's callback thread runs, milliseconds late at random (1 ms is
#: 17 cm of sound travel): nearly every measurement would be refused, or worse.
TIMED_FACTORY_MODULES = frozenset(
    {"gpiozero.pins.lgpio", "gpiozero.pins.pigpio", "gpiozero.pins.mock"}
)
#: Pings one measurement may spend per sample it needs (the rest are lost echoes).
PINGS_PER_SAMPLE = 2
#: Slack on top of the pings' own worst case before a silent sensor is an error (s).
DEADLINE_SLACK_S = 2.0


class HeightOptions(Options):
    echo: PinName
    trigger: PinName
    max_distance_m: float = Field(default=2.5, gt=0, le=MAX_RANGE_CM / 100)
    mount_height_cm: float = Field(ge=100, le=MAX_RANGE_CM)
    samples: int = Field(default=15, ge=3, le=100)
    max_spread_cm: float = Field(default=1.0, gt=0, le=20)
    pin_factory: Literal["lgpio", "mock"] | None = None  # see TIMED_FACTORY_MODULES

    @field_validator("mount_height_cm")
    @classmethod
    def _floor_in_range(cls, value: float, info: ValidationInfo) -> float:
        max_distance_m = info.data.get("max_distance_m")  # absent if it was itself invalid
        if max_distance_m is not None and value > max_distance_m * 100:
            raise ValueError(
                f"must be at most max_distance_m ({max_distance_m * 100:g} cm) so the floor "
                "is in range; otherwise anyone shorter than the gap reads as nobody. "
                "Raise max_distance_m (the HC-SR04 reaches 4 m) or check the mount height"
            )
        return value

    def geometry(self) -> Geometry:
        return Geometry(
            self.mount_height_cm, self.max_distance_m * 100, self.samples, self.max_spread_cm
        )


class HeightMeasure(GpioPeripheral):
    options_model = HeightOptions
    options: HeightOptions

    def __init__(self, spec: PeripheralSpec, *, pin_factory: Any = None) -> None:
        super().__init__(spec, pin_factory=pin_factory)
        self._requested = asyncio.Event()
        self._idle: list[Any] = []  # gpiozero devices holding the pins between measurements

    def request_measurement(self) -> None:
        self._requested.set()

    def open(self, run: RunContext) -> str:
        factory = run.factory
        modules = {kind.__module__ for kind in type(factory).__mro__}
        if not modules & TIMED_FACTORY_MODULES:
            raise DriverConfigError(
                f"{self.name}: pin_factory {type(factory).__name__} cannot time the echo "
                "pulse: install lgpio (`apt-get install python3-lgpio`) and set "
                "pin_factory: lgpio"
            )
        check_pins(self.spec, factory, echo=self.options.echo, trigger=self.options.trigger)
        self._hold_pins(factory)
        run.devices.callback(self._release_pins)
        return ""

    def _hold_pins(self, factory: Any) -> None:
        """Hold the pins while idle: TRIG driven low (a floating trigger input may pick up
        noise and ping), ECHO pulled down, and neither free for another device to take.
        The ``DistanceSensor`` itself opens only while measuring (it pings all the time
        it is open); the swap happens on the event loop, where every peripheral opens its
        devices, so nothing can take the pins in between."""
        from gpiozero import DigitalOutputDevice, InputDevice

        with opening(self.spec, echo=self.options.echo, trigger=self.options.trigger):
            echo = InputDevice(self.options.echo, pull_up=False, pin_factory=factory)
            try:
                trigger = DigitalOutputDevice(
                    self.options.trigger, initial_value=False, pin_factory=factory
                )
            except BaseException:
                echo.close()
                raise
        self._idle = [echo, trigger]

    def _release_pins(self) -> None:
        idle, self._idle = self._idle, []
        for device in idle:
            device.close()

    async def serve(self, run: RunContext) -> None:
        sink = run.sink
        while True:
            await self._requested.wait()
            self._requested.clear()
            sink.state(self.name, PeripheralState.MEASURING)
            self.before_measurement()
            readings = await self._sample(run.factory)
            outcome = height_from(readings, self.options.geometry())
            if isinstance(outcome, Refusal):
                sink.refused(self.name, outcome.reason)
            else:
                await sink.reading(self.name, DriverReading(outcome, datetime.now(UTC)))
            sink.state(self.name, PeripheralState.WAITING)

    def before_measurement(self) -> None:
        """Called as each measurement starts (the simulator sets its scene here)."""

    async def _sample(self, factory: Any) -> list[float]:
        """Distances (cm) of one measurement's echoes; at most ``samples`` of them."""
        from healthhub.drivers.gpio.ultrasonic import (
            PING_INTERVAL_S,
            PING_TIMEOUT_S,
            TappedDistanceSensor,
        )

        loop = asyncio.get_running_loop()
        wanted = self.options.samples
        max_pings = wanted * PINGS_PER_SAMPLE
        max_cm = self.options.max_distance_m * 100
        distances: list[float] = []
        pings = 0
        done = asyncio.Event()

        def take(fraction: float | None) -> None:  # on the loop
            nonlocal pings
            if done.is_set():
                return  # the sensor pinged again before it closed: bounded by ``wanted``
            pings += 1
            if fraction is not None:
                distances.append(fraction * max_cm)
            if len(distances) >= wanted or pings >= max_pings:
                done.set()

        self._release_pins()
        try:
            with opening(self.spec, echo=self.options.echo, trigger=self.options.trigger):
                sensor = TappedDistanceSensor(
                    self.options.echo,
                    self.options.trigger,
                    tap=hop(loop, take),
                    queue_len=1,
                    max_distance=self.options.max_distance_m,
                    threshold_distance=self.options.max_distance_m / 2,
                    pin_factory=factory,
                )
            try:
                deadline = max_pings * (PING_INTERVAL_S + PING_TIMEOUT_S) + DEADLINE_SLACK_S
                async with asyncio.timeout(deadline):
                    await done.wait()
            except TimeoutError:
                raise TransientDriverError(
                    f"{self.name}: the ultrasonic sensor stopped sampling"
                ) from None
            finally:
                # Blocks the loop until the queue thread ends its current ping (<= 0.15 s).
                sensor.close()
        finally:
            self._hold_pins(factory)
        if not distances:
            raise TransientDriverError(
                f"{self.name}: no echo in {pings} pings: check the ultrasonic sensor's "
                "wiring and 5 V supply"
            )
        return distances


class HeightStep(Options):
    """A person ``height_cm`` tall under the sensor, swaying ``sway_cm`` between pings."""

    height_cm: float = Field(ge=0, le=MAX_RANGE_CM)
    sway_cm: float = Field(default=0.0, ge=0, le=100)


SceneStep = HeightStep | Literal["nobody", "unplugged"]


class SimulatedHeightOptions(HeightOptions):
    echo: PinName = 24
    trigger: PinName = 23
    mount_height_cm: float = Field(default=220.0, ge=100, le=MAX_RANGE_CM, validate_default=True)
    script: list[SceneStep] = Field(default_factory=list, max_length=1000)


class SimulatedHeightMeasure(Simulated, HeightMeasure):
    options_model = SimulatedHeightOptions
    options: SimulatedHeightOptions

    def __init__(self, spec: PeripheralSpec) -> None:
        super().__init__(spec)
        self._script = list(self.options.script)
        self._scene: SceneStep = "nobody"
        self._sway = itertools.cycle((-0.5, 0.5))

    def open(self, run: RunContext) -> str:
        from healthhub.drivers.gpio.mock_pins import ultrasonic_pins

        ultrasonic_pins(run.factory, self.options.echo, self.options.trigger, self._distance)
        return super().open(run)

    def before_measurement(self) -> None:
        self._scene = self._script.pop(0) if self._script else "nobody"

    def _distance(self) -> float | None:
        """The distance the next ping sees (called on gpiozero's queue thread)."""
        scene = self._scene
        if scene == "unplugged":
            return None
        if scene == "nobody":
            return self.options.mount_height_cm  # the floor
        assert isinstance(scene, HeightStep)
        sway = scene.sway_cm * next(self._sway)
        return max(0.0, self.options.mount_height_cm - scene.height_cm + sway)


register("height_measure", "gpio")(HeightMeasure)
register("height_measure", "gpio_simulator")(SimulatedHeightMeasure)
