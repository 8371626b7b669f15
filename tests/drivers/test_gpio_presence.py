"""PIR presence sensor on gpiozero's MockFactory: one PRESENCE per motion, rate-limited."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero import MotionSensor
from gpiozero.pins.mock import MockFactory

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec, Signal
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.gpio.presence import PresenceSensor
from tests.drivers.gpio_support import (
    Clock,
    HeldLine,
    SignalSink,
    from_registry,
    running,
    start_and_cancel,
    until,
)

pytestmark = pytest.mark.usefixtures("no_global_pin_factory")


def spec(**options: object) -> PeripheralSpec:
    return PeripheralSpec("pir", "presence_sensor", "gpio", {"pin": 4, **options})


def test_motion_signals_presence_once_and_the_rate_limit_holds() -> None:
    factory = MockFactory()
    clock = Clock()
    sensor = PresenceSensor(
        spec(sample_rate_hz=200, min_interval_s=2), pin_factory=factory, clock=clock
    )
    sink = SignalSink()
    pin = factory.pin(4)

    async def move_in_and_out() -> None:
        pin.drive_high()
        await until(lambda: sensor.in_view, "motion seen")
        pin.drive_low()
        await until(lambda: not sensor.in_view, "motion over")

    async def scenario() -> None:
        async with running(sensor, sink):
            await move_in_and_out()
            assert sink.signals == [Signal.PRESENCE]
            clock.now += 1.9  # fidgeting: motion again within min_interval_s
            await move_in_and_out()
            await move_in_and_out()
            assert sink.signals == [Signal.PRESENCE]
            assert sensor.hold_off.held == 2
            clock.now += 0.1  # 2 s after the signal
            await move_in_and_out()
            assert sink.signals == [Signal.PRESENCE, Signal.PRESENCE]

    asyncio.run(scenario())


def test_someone_standing_still_in_view_is_one_signal() -> None:
    factory = MockFactory()
    sensor = PresenceSensor(spec(sample_rate_hz=200, min_interval_s=0), pin_factory=factory)
    sink = SignalSink()

    async def scenario() -> None:
        async with running(sensor, sink):
            factory.pin(4).drive_high()
            await until(lambda: sensor.in_view, "motion seen")
            samples_before = len(sink.signals)
            await asyncio.sleep(0.1)  # ~20 more samples of the same motion
            assert sink.signals == [Signal.PRESENCE] == sink.signals[:samples_before]

    asyncio.run(scenario())


def test_someone_already_in_view_at_start_is_signalled() -> None:
    # gpiozero fires no event for a smoothed input's first state; the driver must still
    # wake the screen for someone who stood in front of the unit while the agent started.
    factory = MockFactory()
    sensor = PresenceSensor(spec(sample_rate_hz=200, queue_len=3), pin_factory=factory)
    sink = SignalSink()
    factory.pin(4, pin_class=HeldLine).drive_high()

    async def scenario() -> None:
        async with running(sensor, sink):
            await until(lambda: sensor.in_view, "motion seen")
            assert sink.signals == [Signal.PRESENCE]

    asyncio.run(scenario())


def test_the_pin_is_released_when_run_is_cancelled() -> None:
    factory = MockFactory()
    start_and_cancel(PresenceSensor(spec(sample_rate_hz=200), pin_factory=factory), SignalSink())
    MotionSensor(4, pin_factory=factory).close()  # GPIOPinInUse if the run had kept it


def test_simulator_plays_its_script_through_the_same_code() -> None:
    motion = {"after_s": 0, "for_s": 0.2}
    sensor = from_registry(
        "pir", "presence_sensor", "simulator", sample_rate_hz=200, script=[motion]
    )
    sink = SignalSink()

    async def scenario() -> None:
        async with running(sensor, sink):
            await until(lambda: sink.signals == [Signal.PRESENCE], "scripted motion")

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"pin": 4, "colour": "red"}, "colour: unknown option"),
        ({}, "pin: Field required"),
        ({"pin": 4, "threshold": 1.5}, "threshold"),
        ({"pin": 4, "queue_len": 0}, "queue_len"),
        ({"pin": 4, "min_interval_s": -1}, "min_interval_s"),
        ({"pin": 4, "pin_factory": "pigpio"}, "pin_factory"),
        ({"pin": 99}, "pin"),
        ({"pin": True}, "pin"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(DriverConfigError, match=named):
        registry.create(PeripheralSpec("pir", "presence_sensor", "gpio", options))


@pytest.mark.parametrize(
    ("pin", "named"),
    [("BOARD1", "not a GPIO pin"), ("GPIO99", "not a GPIO pin")],
)
def test_a_pin_this_board_lacks_is_a_config_error_at_run(pin: str, named: str) -> None:
    sensor = PresenceSensor(spec(pin=pin), pin_factory=MockFactory())
    with pytest.raises(DriverConfigError, match=f"pin: .*{named}"):
        asyncio.run(sensor.run(SignalSink()))


def test_a_pull_the_board_fixes_otherwise_is_a_config_error() -> None:
    # GPIO2 has a fixed pull-up on every Pi (I2C SDA): a PIR configured pull_up false on it
    sensor = PresenceSensor(spec(pin=2, pull_up=False), pin_factory=MockFactory())
    with pytest.raises(DriverConfigError, match="pin=2"):
        asyncio.run(sensor.run(SignalSink()))
