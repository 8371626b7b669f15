"""Ultrasonic height: gpiozero's real DistanceSensor timing echo pulses on mock HC-SR04 pins."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable

import pytest
from gpiozero import DistanceSensor
from gpiozero.exc import GPIOPinInUse
from gpiozero.pins.mock import MockFactory

from healthhub.drivers import registry
from healthhub.drivers.base import Peripheral, PeripheralSpec, PeripheralState
from healthhub.drivers.errors import DriverConfigError, TransientDriverError
from healthhub.drivers.gpio import height_samples
from healthhub.drivers.gpio.height import HeightMeasure
from healthhub.drivers.gpio.height_samples import Geometry
from healthhub.drivers.gpio.mock_pins import EchoingTriggerPin, ultrasonic_pins
from tests.drivers import gpio_support
from tests.drivers.gpio_support import MeasurementSink, from_registry

pytestmark = [
    pytest.mark.usefixtures("no_global_pin_factory"),
    # gpiozero warns on every DistanceSensor that is not on pigpio (lgpio stamps edges in the
    # kernel and mock pins exactly, so the advice does not apply here) and on every lost echo
    # (which some of these tests lose on purpose).
    pytest.mark.filterwarnings("ignore::gpiozero.exc.PWMSoftwareFallback"),
    pytest.mark.filterwarnings("ignore::gpiozero.exc.DistanceSensorNoEcho"),
]

ECHO, TRIGGER = 24, 23
MOUNT_CM = 220.0


#: These tests sample real echo pulses (up to two pings a sample): a longer bound against a
#: hang than the other GPIO tests' (still not a timing assertion).
until = functools.partial(gpio_support.until, within_s=15)
running = functools.partial(gpio_support.running, within_s=15)


def spec(**options: object) -> PeripheralSpec:
    return PeripheralSpec(
        "height",
        "height_measure",
        "gpio",
        {"echo": ECHO, "trigger": TRIGGER, "mount_height_cm": MOUNT_CM, **options},
    )


class Target:
    """What stands under the mock sensor: the distance each ping sees, in turn (cm)."""

    def __init__(self, *distances: float | None) -> None:
        self.distances = distances
        self.pings = 0
        self.states_at_ping: list[PeripheralState | None] = []
        self.sink: MeasurementSink | None = None

    def __call__(self) -> float | None:
        if self.sink is not None:
            self.states_at_ping.append(self.sink.now)
        distance = self.distances[self.pings % len(self.distances)]
        self.pings += 1
        return distance


def rig(
    target: Target, **options: object
) -> tuple[MockFactory, EchoingTriggerPin, HeightMeasure, MeasurementSink]:
    """A height measure on mock HC-SR04 pins whose pings see ``target``, and its sink."""
    factory = MockFactory()
    trigger = ultrasonic_pins(factory, ECHO, TRIGGER, target)
    height = HeightMeasure(spec(**options), pin_factory=factory)
    sink = MeasurementSink()
    target.sink = sink
    return factory, trigger, height, sink


def measure_once(target: Target, **options: object) -> tuple[MeasurementSink, EchoingTriggerPin]:
    _, trigger, height, sink = rig(target, **options)

    async def scenario() -> None:
        async with running(height, sink):
            height.request_measurement()
            await until(lambda: sink.outcomes() == 1, "a reading or a refusal")
            await until(lambda: sink.now == PeripheralState.WAITING, "waiting again")

    asyncio.run(scenario())
    return sink, trigger


def outcomes(sink: MeasurementSink, count: int) -> Callable[[], bool]:
    return lambda: sink.outcomes() == count


def no_values_in(reason: str, *values: float) -> bool:
    numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", reason)}
    return not numbers & {round(v, 1) for v in values} and not numbers & {
        float(round(v)) for v in values
    }


def test_a_scripted_distance_gives_the_height_the_real_distance_sensor_measures() -> None:
    target = Target(47.6)  # 220 cm mount - 47.6 cm to the top of the head
    sink, trigger = measure_once(target)  # the default 15 samples
    assert sink.refusals == []
    [reading] = sink.readings
    assert reading.measurement.kind == "body_height"
    assert reading.measurement.value("height") == 172.4
    assert trigger.pings >= 15  # the echo pin really answered each trigger pulse
    assert set(target.states_at_ping) == {PeripheralState.MEASURING}
    assert [s for s, _ in sink.states] == [
        PeripheralState.WAITING,
        PeripheralState.MEASURING,
        PeripheralState.WAITING,
    ]


def test_small_jitter_within_the_spread_is_the_median() -> None:
    sink, _ = measure_once(Target(50.2, 50.0, 50.4, 50.1, 50.3), samples=5)
    [reading] = sink.readings
    assert reading.measurement.value("height") == 169.8  # 220 - median 50.2


def test_a_moving_target_is_refused_without_a_value_in_the_reason() -> None:
    sink, _ = measure_once(Target(48.0, 50.0), samples=5)  # swaying 2 cm
    assert sink.readings == []
    [reason] = sink.refusals
    assert "moved" in reason
    assert no_values_in(reason, 48.0, 50.0, 49.0, 172.0, 170.0, 171.0)


def test_a_lost_echo_is_pinged_again() -> None:
    sink, trigger = measure_once(Target(60.0, None), samples=4)  # every other ping lost
    [reading] = sink.readings
    assert reading.measurement.value("height") == 160.0
    assert trigger.pings >= 7  # the 4th echo came back on the 7th ping


def test_too_many_lost_echoes_are_refused() -> None:
    sink, _ = measure_once(Target(60.0, None, None), samples=4)  # 1 in 3 echoes
    assert sink.readings == []
    geometry = Geometry(MOUNT_CM, 250.0, 4, 1.0)
    assert sink.refusals == [height_samples.too_few(3, geometry)]  # 3 echoes in 8 pings


@pytest.mark.parametrize(
    ("distance", "options"),
    [
        (MOUNT_CM, {}),  # the floor
        (MOUNT_CM - 10, {}),  # a bag on the floor: lower than any person
        (400.0, {}),  # out of range (soft floor, no echo within max_distance): clipped at max
    ],
)
def test_nothing_under_the_sensor_is_refused(distance: float, options: dict[str, object]) -> None:
    sink, _ = measure_once(Target(distance), samples=3, **options)
    assert sink.readings == []
    assert sink.refusals == [height_samples.NOBODY]


def test_a_target_touching_the_sensor_is_refused() -> None:
    sink, _ = measure_once(Target(1.0), samples=3)
    assert sink.refusals == [height_samples.TOO_CLOSE]


def test_an_impossible_height_is_refused() -> None:
    # a 300 cm mount: 290 cm "tall" is beyond the protocol's 272 cm limit
    sink, _ = measure_once(Target(10.0), samples=3, mount_height_cm=300, max_distance_m=3.5)
    assert sink.readings == []
    assert sink.refusals == [height_samples.IMPLAUSIBLE]
    assert no_values_in(height_samples.IMPLAUSIBLE, 290.0, 10.0)


def measurement_fails(height: Peripheral, sink: MeasurementSink, error: str) -> None:
    """Once ``height`` is waiting, one measurement ends its run with a transient ``error``."""

    async def scenario() -> None:
        task = asyncio.create_task(height.run(sink))
        await until(lambda: sink.now == PeripheralState.WAITING, "waiting")
        height.request_measurement()
        with pytest.raises(TransientDriverError, match=error):
            await task

    asyncio.run(scenario())


def test_no_echo_at_all_is_a_transient_error() -> None:
    factory, _, height, sink = rig(Target(None), samples=3)
    measurement_fails(height, sink, "no echo in 6 pings")
    assert sink.readings == []
    assert sink.refusals == []
    DistanceSensor(ECHO, TRIGGER, pin_factory=factory).close()  # the error closed the sensor


def test_the_sensor_pings_only_while_measuring() -> None:
    _, trigger, height, sink = rig(Target(70.0), samples=3)

    async def scenario() -> None:
        async with running(height, sink):
            await asyncio.sleep(0.2)  # > 3 ping intervals of an open sensor
            assert trigger.pings == 0
            height.request_measurement()
            await until(lambda: sink.outcomes() == 1, "a reading")
            after = trigger.pings
            await asyncio.sleep(0.2)
            assert trigger.pings == after

    asyncio.run(scenario())
    assert sink.readings[0].measurement.value("height") == 150.0


def test_idle_pins_are_held_with_the_trigger_low() -> None:
    factory, trigger, height, sink = rig(Target(70.0), samples=3)

    async def scenario() -> None:
        async with running(height, sink):
            for count in (1, 2):  # before the first measurement, and after one
                assert trigger.function == "output"
                assert not trigger.state
                with pytest.raises(GPIOPinInUse):
                    DistanceSensor(ECHO, TRIGGER, pin_factory=factory)
                height.request_measurement()
                await until(outcomes(sink, count), f"reading {count}")
                await until(lambda: sink.now == PeripheralState.WAITING, "waiting again")
            assert [r.measurement.value("height") for r in sink.readings] == [150.0, 150.0]

    asyncio.run(scenario())
    DistanceSensor(ECHO, TRIGGER, pin_factory=factory).close()  # all released after the run


def test_pins_are_released_when_run_is_cancelled_mid_measurement() -> None:
    target = Target(70.0)
    factory, _, height, sink = rig(target, samples=50)

    async def scenario() -> None:
        async with running(height, sink):
            height.request_measurement()
            await until(lambda: target.pings >= 2, "sampling under way")

    asyncio.run(scenario())
    assert sink.outcomes() == 0
    DistanceSensor(ECHO, TRIGGER, pin_factory=factory).close()  # GPIOPinInUse if kept


def test_simulator_backend_plays_people_and_empty_floors_through_the_real_sensor() -> None:
    people = [{"height_cm": 181.3}, {"height_cm": 165, "sway_cm": 4}, "nobody", {"height_cm": 95.5}]
    height = from_registry("height", "height_measure", "gpio_simulator", samples=3, script=people)
    sink = MeasurementSink()

    async def scenario() -> None:
        async with running(height, sink):
            for count in range(1, 5):
                height.request_measurement()
                await until(outcomes(sink, count), f"outcome {count}")

    asyncio.run(scenario())
    assert [r.measurement.value("height") for r in sink.readings] == [181.3, 95.5]
    assert len(sink.refusals) == 2
    assert "moved" in sink.refusals[0]
    assert sink.refusals[1] == height_samples.NOBODY


def test_simulator_unplugged_is_a_transient_error() -> None:
    height = from_registry(
        "height", "height_measure", "gpio_simulator", samples=3, script=["unplugged"]
    )
    measurement_fails(height, MeasurementSink(), "no echo")


class LateStampingFactory:
    """A pin factory from a module that stamps edges late (RPi.GPIO; native alike)."""

    __module__ = "gpiozero.pins.rpigpio"


def test_a_factory_that_cannot_time_echoes_is_refused() -> None:
    height = HeightMeasure(spec(), pin_factory=LateStampingFactory())
    with pytest.raises(DriverConfigError, match="cannot time the echo"):
        asyncio.run(height.run(MeasurementSink()))


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"echo": 24, "trigger": 23}, "mount_height_cm: Field required"),
        ({"echo": 24, "trigger": 23, "mount_height_cm": 260}, "mount_height_cm: .*max_distance_m"),
        (
            {"echo": 24, "trigger": 23, "mount_height_cm": 230, "max_distance_m": 2.0},
            "mount_height_cm: .*200 cm",
        ),
        ({"echo": 24, "trigger": 23, "mount_height_cm": 50}, "mount_height_cm"),
        (
            {"echo": 24, "trigger": 23, "mount_height_cm": 220, "max_distance_m": 5},
            "max_distance_m",
        ),
        ({"echo": 24, "trigger": 23, "mount_height_cm": 220, "samples": 1}, "samples"),
        ({"echo": 24, "trigger": 23, "mount_height_cm": 220, "max_spread_cm": 0}, "max_spread_cm"),
        (
            {"echo": 24, "trigger": 23, "mount_height_cm": 220, "pin_factory": "rpigpio"},
            "pin_factory",
        ),
        (
            {"echo": 24, "trigger": 23, "mount_height_cm": 220, "units": "in"},
            "units: unknown option",
        ),
        ({"trigger": 23, "mount_height_cm": 220}, "echo: Field required"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(DriverConfigError, match=named):
        registry.create(PeripheralSpec("height", "height_measure", "gpio", options))


def test_echo_and_trigger_on_one_pin_is_a_config_error_at_run() -> None:
    height = HeightMeasure(spec(echo="GPIO23", trigger="BOARD16"), pin_factory=MockFactory())
    with pytest.raises(DriverConfigError, match="echo, trigger must be different pins"):
        asyncio.run(height.run(MeasurementSink()))
