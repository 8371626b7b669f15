"""PIR presence sensor on gpiozero's MockFactory: one PRESENCE per motion, rate-limited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress

import pytest
from gpiozero import Device, MotionSensor
from gpiozero.pins.mock import MockFactory, MockPin

from healthhub.drivers import registry
from healthhub.drivers.base import (
    DriverReading,
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    Signal,
)
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.gpio.presence import PresenceSensor


class Sink:
    def __init__(self) -> None:
        self.states: list[tuple[PeripheralState, str]] = []
        self.signals: list[Signal] = []

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        raise AssertionError("a presence sensor takes no readings")

    def refused(self, peripheral: str, reason: str) -> None:
        raise AssertionError("a presence sensor refuses nothing")

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append((state, detail))

    def battery(self, peripheral: str, percent: int) -> None:
        raise AssertionError("no battery")

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        self.signals.append(signal)


class PushPullOutput(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A pin wired to a PIR's push-pull output, which holds the line whatever the pull."""

    def _set_pull(self, value: str) -> None:
        self._pull = value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(predicate: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):  # a bound against a hang, not a timing assertion
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@asynccontextmanager
async def running(peripheral: Peripheral, sink: Sink) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(peripheral.run(sink))
    await until(lambda: task.done() or PeripheralState.WAITING in dict(sink.states), "waiting")
    if task.done():
        task.result()
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


@pytest.fixture(autouse=True)
def _no_global_pin_factory() -> Iterator[None]:
    """Tests pass a factory per device; none may leave gpiozero's global one set."""
    assert Device.pin_factory is None
    yield
    assert Device.pin_factory is None


def spec(**options: object) -> PeripheralSpec:
    return PeripheralSpec("pir", "presence_sensor", "gpio", {"pin": 4, **options})


def test_motion_signals_presence_once_and_the_rate_limit_holds() -> None:
    factory = MockFactory()
    clock = Clock()
    sensor = PresenceSensor(
        spec(sample_rate_hz=200, min_interval_s=2), pin_factory=factory, clock=clock
    )
    sink = Sink()
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
    sink = Sink()

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
    sink = Sink()
    factory.pin(4, pin_class=PushPullOutput).drive_high()

    async def scenario() -> None:
        async with running(sensor, sink):
            await until(lambda: sensor.in_view, "motion seen")
            assert sink.signals == [Signal.PRESENCE]

    asyncio.run(scenario())


def test_the_pin_is_released_when_run_is_cancelled() -> None:
    factory = MockFactory()
    sensor = PresenceSensor(spec(sample_rate_hz=200), pin_factory=factory)

    async def scenario() -> None:
        async with running(sensor, Sink()):
            pass

    asyncio.run(scenario())
    MotionSensor(4, pin_factory=factory).close()  # GPIOPinInUse if the run had kept it


def test_simulator_plays_its_script_through_the_same_code() -> None:
    sensor = registry.create(
        PeripheralSpec(
            "pir",
            "presence_sensor",
            "simulator",
            {"sample_rate_hz": 200, "script": [{"after_s": 0, "for_s": 0.2}]},
        )
    )
    sink = Sink()

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
        asyncio.run(sensor.run(Sink()))


def test_a_pull_the_board_fixes_otherwise_is_a_config_error() -> None:
    # GPIO2 has a fixed pull-up on every Pi (I2C SDA): a PIR configured pull_up false on it
    sensor = PresenceSensor(spec(pin=2, pull_up=False), pin_factory=MockFactory())
    with pytest.raises(DriverConfigError, match="pin=2"):
        asyncio.run(sensor.run(Sink()))
