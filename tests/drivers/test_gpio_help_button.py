"""Help button on gpiozero's MockFactory: one staff alert per press, folded by the hold-off."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from gpiozero import Button
from gpiozero.pins.mock import MockFactory

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec, PeripheralState, Signal
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.gpio.help_button import PRESSED_AT_START, HelpButton
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
    return PeripheralSpec("help", "help_button", "gpio", {"pin": 27, **options})


def seen(button: HelpButton, presses: int) -> Callable[[], bool]:
    """Every press so far has reached the loop (let through or held back)."""
    return lambda: button.hold_off.passed + button.hold_off.held == presses


def test_a_press_raises_one_alert_and_the_hold_off_folds_repeats_and_bounce() -> None:
    factory = MockFactory()
    clock = Clock()
    button = HelpButton(spec(hold_off_s=10), pin_factory=factory, clock=clock)
    sink = SignalSink()
    pin = factory.pin(27)  # pull-up: pressed pulls it low

    async def scenario() -> None:
        async with running(button, sink):
            assert sink.states[-1] == (PeripheralState.WAITING, "")
            pin.drive_low()
            await until(seen(button, 1), "the press")
            assert sink.signals == [Signal.HELP_REQUESTED]
            # contact bounce on release and a worried patient pressing again and again
            for _ in range(5):
                pin.drive_high()
                pin.drive_low()
            pin.drive_high()
            clock.now += 9.9
            pin.drive_low()
            pin.drive_high()
            await until(seen(button, 7), "every press")
            assert sink.signals == [Signal.HELP_REQUESTED]
            assert button.hold_off.held == 6
            clock.now += 0.1  # 10 s after the alert: a new press is a new alert
            pin.drive_low()
            await until(seen(button, 8), "the last press")
            assert sink.signals == [Signal.HELP_REQUESTED, Signal.HELP_REQUESTED]

    asyncio.run(scenario())


def test_a_release_alone_raises_nothing() -> None:
    factory = MockFactory()
    button = HelpButton(spec(pull_up=False), pin_factory=factory)  # pressed drives it high
    sink = SignalSink()
    pin = factory.pin(27)

    async def scenario() -> None:
        async with running(button, sink):
            pin.drive_high()
            await until(seen(button, 1), "the press")
            pin.drive_low()  # the release
            pin.drive_high()
            await until(seen(button, 2), "the second press")
            assert sink.signals == [Signal.HELP_REQUESTED]
            assert button.hold_off.held == 1

    asyncio.run(scenario())


def test_a_button_pressed_at_start_is_reported_until_it_is_released() -> None:
    factory = MockFactory()
    pin = factory.pin(27, pin_class=HeldLine)
    pin.drive_low()  # held down (or shorted) before the agent starts; pull-up: low is pressed
    button = HelpButton(spec(), pin_factory=factory)
    sink = SignalSink()

    async def scenario() -> None:
        async with running(button, sink):
            assert sink.states[-1] == (PeripheralState.WAITING, PRESSED_AT_START)
            assert sink.signals == []  # no press was seen: no alert
            pin.drive_high()
            await until(lambda: sink.states[-1] == (PeripheralState.WAITING, ""), "released")
            pin.drive_low()
            await until(seen(button, 1), "a real press")
            assert sink.signals == [Signal.HELP_REQUESTED]

    asyncio.run(scenario())


def test_the_pin_is_released_when_run_is_cancelled() -> None:
    factory = MockFactory()
    start_and_cancel(HelpButton(spec(), pin_factory=factory), SignalSink())
    assert factory.pin(27).when_changed is None
    Button(27, pin_factory=factory).close()  # GPIOPinInUse if the run had kept it


def test_simulator_presses_by_script_through_the_same_code() -> None:
    press = {"after_s": 0, "for_s": 0.05}
    button = from_registry("help", "help_button", "simulator", script=[press, press])
    sink = SignalSink()

    async def scenario() -> None:
        async with running(button, sink):
            assert isinstance(button, HelpButton)
            await until(seen(button, 2), "both scripted presses")
            assert sink.signals == [Signal.HELP_REQUESTED]  # the second is within hold_off_s

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"pin": 27, "hold_off": 5}, "hold_off: unknown option"),
        ({}, "pin: Field required"),
        ({"pin": 27, "hold_off_s": 0}, "hold_off_s"),
        ({"pin": 27, "bounce_time_s": 5}, "bounce_time_s"),
        ({"pin": 27, "pull_up": "sometimes"}, "pull_up"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, object], named: str
) -> None:
    with pytest.raises(DriverConfigError, match=named):
        registry.create(PeripheralSpec("help", "help_button", "gpio", options))
