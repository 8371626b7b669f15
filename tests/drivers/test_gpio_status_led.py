"""Status LED on gpiozero's MockFactory: the pin follows the broker link that show_link gives."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPin

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.gpio.status_led import IDENTIFY_BLINK_S, Lamp, StatusLed
from tests.drivers.gpio_support import StateSink, from_registry, running, until

pytestmark = pytest.mark.usefixtures("no_global_pin_factory")

SLOW = 0.04
FAST = 0.01


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


async def holds(pin: MockPin, *, lit: bool) -> None:
    """The pin stays at ``lit`` for several blink periods: a steady or dark LED stays put."""
    assert level(pin) is lit
    settled = len(pin.states)
    await asyncio.sleep(SLOW * 3)
    assert len(pin.states) == settled
    assert level(pin) is lit


async def shows(led: StatusLed, pin: MockPin, link: str, lamp: Lamp) -> None:
    """``show_link(link)`` sets ``lamp``, and the pin shows it: blinking, or holding steady."""
    led.show_link(link)
    assert led.lamp == lamp
    if lamp.mode == "blink":
        await blinks(pin)
    else:
        await holds(pin, lit=lamp.mode == "on")


def test_the_led_follows_the_link_state() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    pin = factory.pin(22)

    sink = StateSink()

    async def scenario() -> None:
        async with running(led, sink):
            assert led.lamp == Lamp("off")  # nothing said yet
            assert level(pin) is False
            await shows(led, pin, "connecting", Lamp("blink", SLOW))
            await shows(led, pin, "connected", Lamp("on"))
            await shows(led, pin, "disconnected", Lamp("blink", FAST))
            await shows(led, pin, "stopped", Lamp("off"))
            # not a state the agent has: something is wrong
            await shows(led, pin, "on fire", Lamp("blink", FAST))

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


@pytest.mark.parametrize(
    ("options", "links", "high"),
    [
        # the supervisor tells every peripheral at creation: the last state said is shown
        ({}, ["disconnected", "connected"], True),
        ({"active_high": False}, ["connected"], False),  # an active-low LED is lit by a low pin
    ],
    ids=["link-given-before-run", "active-low"],
)
def test_a_link_state_given_before_run_lights_the_led_once_it_exists(
    options: dict[str, object], links: list[str], high: bool
) -> None:
    factory = MockFactory()
    led = StatusLed(spec(**options), pin_factory=factory)
    for link in links:
        led.show_link(link)
    assert led.lamp is None  # no LED yet: nothing touched the pins

    async def scenario() -> None:
        async with running(led, StateSink()):
            assert led.lamp == Lamp("on")
            assert level(factory.pin(22)) is high

    asyncio.run(scenario())


def test_the_pin_is_released_and_the_blink_stopped_when_run_is_cancelled() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    led.show_link("disconnected")
    pin = factory.pin(22)

    async def scenario() -> None:
        async with running(led, StateSink()):
            await blinks(pin)

    asyncio.run(scenario())
    assert led.lamp is None
    assert pin.function == "input"
    settled = len(pin.states)
    time.sleep(FAST * 5)  # several blink periods: a blink thread left running would show
    assert len(pin.states) == settled
    LED(22, pin_factory=factory).close()  # GPIOPinInUse if the run had kept it


def test_simulator_shows_the_link_on_a_mock_pin() -> None:
    led = from_registry("led", "status_led", "simulator")
    led.show_link("connecting")

    async def scenario() -> None:
        async with running(led, StateSink()):
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


def test_identify_flashes_the_led_then_it_shows_the_link_again() -> None:
    factory = MockFactory()
    led = StatusLed(spec(), pin_factory=factory)
    pin = factory.pin(22)
    sink = StateSink()

    async def scenario() -> None:
        assert led.identify(1) is False  # no LED open yet: nothing to show
        async with running(led, sink):
            led.show_link("connected")
            await holds(pin, lit=True)
            assert led.identify(1.0) is True
            assert led.lamp == Lamp("blink", IDENTIFY_BLINK_S)
            await blinks(pin)
            led.show_link("connected")  # a link change while identifying waits
            assert led.lamp == Lamp("blink", IDENTIFY_BLINK_S)
            await until(lambda: led.lamp == Lamp("on"), "the link shown again")
            await holds(pin, lit=True)

    asyncio.run(scenario())
    assert "identifying for 1 s" in [detail for _, detail in sink.states]
    assert [detail for _, detail in sink.states][-1] == "on"
