"""Status LED on gpiozero's MockFactory: the pin follows the broker link that show_link gives."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress

import pytest
from gpiozero import LED, Device
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
from healthhub.drivers.gpio.status_led import Lamp, StatusLed

SLOW = 0.04
FAST = 0.01


class Sink:
    def __init__(self) -> None:
        self.states: list[tuple[PeripheralState, str]] = []

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        raise AssertionError("an LED takes no readings")

    def refused(self, peripheral: str, reason: str) -> None:
        raise AssertionError("an LED refuses nothing")

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append((state, detail))

    def battery(self, peripheral: str, percent: int) -> None:
        raise AssertionError("no battery")

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        raise AssertionError("an LED signals nothing")


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
    return PeripheralSpec(
        "led",
        "status_led",
        "gpio",
        {"pin": 22, "slow_blink_s": SLOW, "fast_blink_s": FAST, **options},
    )


def level(pin: MockPin) -> bool:
    """The pin's level now (a function, so each assert reads the pin afresh)."""
    return bool(pin.state)


async def blinks(pin: MockPin, toggles: int = 4) -> None:
    """The pin keeps changing: ``toggles`` state changes from now on."""
    start = len(pin.states)
    await until(lambda: len(pin.states) >= start + toggles, f"{toggles} toggles")
    changes = [s.state for s in pin.states[start:]]
    assert all(a != b for a, b in itertools.pairwise(changes))


def test_the_led_follows_the_link_state() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    pin = factory.pin(22)

    sink = Sink()

    async def scenario() -> None:
        async with running(led, sink):
            assert led.lamp == Lamp("off")  # nothing said yet
            assert level(pin) is False

            led.show_link("connecting")
            assert led.lamp == Lamp("blink", SLOW)
            await blinks(pin)

            led.show_link("connected")
            assert led.lamp == Lamp("on")
            assert level(pin) is True
            steady = len(pin.states)
            await asyncio.sleep(SLOW * 3)  # several blink periods: a steady LED stays put
            assert len(pin.states) == steady
            assert level(pin) is True

            led.show_link("disconnected")
            assert led.lamp == Lamp("blink", FAST)
            await blinks(pin)

            led.show_link("stopped")
            assert led.lamp == Lamp("off")
            assert level(pin) is False
            dark = len(pin.states)
            await asyncio.sleep(SLOW * 3)
            assert len(pin.states) == dark

            led.show_link("on fire")  # not a state the agent has: something is wrong
            assert led.lamp == Lamp("blink", FAST)
            await blinks(pin)

    asyncio.run(scenario())
    # Staff and telemetry are told what the LED shows, each change once.
    assert [detail for _, detail in sink.states] == [
        "off",
        f"blinking every {SLOW:g} s",
        "on",
        f"blinking every {FAST:g} s",
        "off",
        f"blinking every {FAST:g} s",
    ]


def test_a_link_state_given_before_run_shows_once_the_led_exists() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    led.show_link("disconnected")  # the supervisor tells every peripheral at creation
    led.show_link("connected")
    assert led.lamp is None  # no LED yet: nothing touched the pins

    async def scenario() -> None:
        async with running(led, Sink()):
            assert led.lamp == Lamp("on")
            assert level(factory.pin(22)) is True

    asyncio.run(scenario())


def test_an_active_low_led_is_lit_by_a_low_pin() -> None:
    factory = MockFactory()
    led = StatusLed(spec(active_high=False), pin_factory=factory)
    led.show_link("connected")

    async def scenario() -> None:
        async with running(led, Sink()):
            assert level(factory.pin(22)) is False

    asyncio.run(scenario())


def test_the_pin_is_released_and_the_blink_stopped_when_run_is_cancelled() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    led.show_link("disconnected")
    pin = factory.pin(22)

    async def scenario() -> None:
        async with running(led, Sink()):
            await blinks(pin)

    asyncio.run(scenario())
    assert led.lamp is None
    assert pin.function == "input"
    settled = len(pin.states)
    time.sleep(FAST * 5)  # several blink periods: a blink thread left running would show
    assert len(pin.states) == settled
    LED(22, pin_factory=factory).close()  # GPIOPinInUse if the run had kept it


def test_simulator_shows_the_link_on_a_mock_pin() -> None:
    led = registry.create(PeripheralSpec("led", "status_led", "simulator", {}))
    led.show_link("connecting")

    async def scenario() -> None:
        async with running(led, Sink()):
            assert isinstance(led, StatusLed)
            assert led.lamp == Lamp("blink", 1.0)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"pin": 22, "brightness": 1}, "brightness: unknown option"),
        ({}, "pin: Field required"),
        ({"pin": 22, "slow_blink_s": 0.1, "fast_blink_s": 0.2}, "slow_blink_s"),
        ({"pin": 22, "fast_blink_s": 0}, "fast_blink_s"),
        ({"pin": 22, "pin_factory": "gpio"}, "pin_factory"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(DriverConfigError, match=named):
        registry.create(PeripheralSpec("led", "status_led", "gpio", options))
