"""Pin factories for the GPIO peripherals: chosen by option, shared, closed, errors typed."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from gpiozero import Device, DistanceSensor
from gpiozero.pins.mock import MockFactory, MockPin

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import (
    DriverConfigError,
    PermanentDriverError,
    TransientDriverError,
)
from healthhub.drivers.gpio.help_button import HelpButton
from healthhub.drivers.gpio.mock_pins import (
    HISTORY_LIMIT,
    BoundedHistoryPin,
    echo_width_s,
    ultrasonic_pins,
)
from healthhub.drivers.gpio.pin_factory import configured_factory, hop
from healthhub.drivers.gpio.status_led import SimulatedStatusLed
from tests.drivers.gpio_support import SignalSink, running, until

pytestmark = pytest.mark.usefixtures("no_global_pin_factory")

SPEC = PeripheralSpec("p", "status_led", "gpio", {"pin": 22})


def test_peripherals_naming_one_factory_share_it_until_the_last_closes() -> None:
    with configured_factory(SPEC, "mock") as first, configured_factory(SPEC, "mock") as second:
        assert first is second
        first.pin(5)
    assert first.pins == {}  # closed (MockFactory.close releases every pin) after the last
    with configured_factory(SPEC, "mock") as third:
        assert third is not first


def test_a_factory_whose_library_is_missing_names_the_install_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "lgpio", None)  # import lgpio raises ImportError
    monkeypatch.delitem(sys.modules, "gpiozero.pins.lgpio", raising=False)
    with (
        pytest.raises(PermanentDriverError, match="apt-get install python3-lgpio"),
        configured_factory(SPEC, "lgpio"),
    ):
        pass


def test_no_default_factory_is_a_permanent_error_naming_the_way_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    monkeypatch.setattr(Device, "pin_factory", None)
    with (
        pytest.raises(PermanentDriverError, match=r"python3-lgpio.*backend: simulator"),
        configured_factory(SPEC, None),
    ):
        pass


def test_constructors_touch_no_hardware() -> None:
    # lgpio is absent here: a peripheral that loaded its factory at construction would fail
    for spec in (
        PeripheralSpec("a", "presence_sensor", "gpio", {"pin": 4, "pin_factory": "lgpio"}),
        PeripheralSpec("b", "help_button", "gpio", {"pin": 27, "pin_factory": "rpigpio"}),
        PeripheralSpec("c", "status_led", "gpio", {"pin": 22, "pin_factory": "native"}),
        PeripheralSpec(
            "d",
            "height_measure",
            "gpio",
            {"echo": 24, "trigger": 23, "mount_height_cm": 220, "pin_factory": "lgpio"},
        ),
    ):
        assert registry.create(spec).name == spec.name


def test_every_gpio_family_has_a_gpio_and_a_simulated_backend() -> None:
    available = set(registry.available())
    for driver in ("presence_sensor", "help_button", "status_led"):
        assert {(driver, "gpio"), (driver, "simulator")} <= available
    assert {("height_measure", "gpio"), ("height_measure", "gpio_simulator")} <= available


def test_two_peripherals_on_one_pin_is_a_config_error_naming_it() -> None:
    factory = MockFactory()
    first = HelpButton(PeripheralSpec("a", "help_button", "gpio", {"pin": 27}), pin_factory=factory)
    second = HelpButton(
        PeripheralSpec("b", "help_button", "gpio", {"pin": "BOARD13"}), pin_factory=factory
    )

    async def scenario() -> None:
        async with running(first, SignalSink()):
            with pytest.raises(DriverConfigError, match=r"pin='BOARD13'.*in use"):
                await second.run(SignalSink())

    asyncio.run(scenario())


class GpioBusy(Exception):
    """What a pin library raises of its own (lgpio.error "GPIO busy": another process has it)."""


class BusyPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    def __init__(self, factory: Any, info: Any) -> None:
        raise GpioBusy("GPIO busy")


def test_a_pin_library_error_is_a_transient_error() -> None:
    button = HelpButton(
        PeripheralSpec("b", "help_button", "gpio", {"pin": 27}),
        pin_factory=MockFactory(pin_class=BusyPin),
    )
    with pytest.raises(TransientDriverError, match="pin=27, pull_up=True: GpioBusy: GPIO busy"):
        asyncio.run(button.run(SignalSink()))


def test_a_simulator_closes_the_mock_factory_it_owns() -> None:
    opened: list[Any] = []

    class Watched(SimulatedStatusLed):
        @contextmanager
        def pin_factory(self) -> Iterator[Any]:
            with super().pin_factory() as factory:
                opened.append(factory)
                yield factory

    led = Watched(PeripheralSpec("led", "status_led", "simulator", {"fast_blink_s": 0.01}))
    led.show_link("disconnected")

    async def scenario() -> None:
        async with running(led, SignalSink()):
            pin = opened[0].pin(22)
            await until(lambda: len(pin.states) > 3, "blinking")

    asyncio.run(scenario())
    assert opened[0].pins == {}


def test_simulated_pins_keep_a_bounded_history() -> None:
    factory = MockFactory(pin_class=BoundedHistoryPin)
    pin = factory.pin(22)
    pin.function = "output"
    for n in range(HISTORY_LIMIT * 3):
        pin.state = n % 2 == 0
    assert len(pin.states) == HISTORY_LIMIT
    assert pin.states[-1].state is False  # the last one set: n = 3 * LIMIT - 1 is odd


@pytest.mark.filterwarnings("ignore::gpiozero.exc.PWMSoftwareFallback")
def test_mock_hc_sr04_pins_answer_gpiozero_with_the_exact_distance() -> None:
    factory = MockFactory()
    ultrasonic_pins(factory, 24, 23, lambda: 123.4)
    sensor = DistanceSensor(24, 23, max_distance=2, queue_len=1, pin_factory=factory)
    try:
        assert sensor.distance == pytest.approx(1.234, abs=1e-9)
    finally:
        sensor.close()
    assert echo_width_s(171.63) == pytest.approx(0.01, rel=1e-12)  # 343.26 m/s there and back


def test_hop_is_silent_once_the_loop_has_closed() -> None:
    loop = asyncio.new_event_loop()
    calls: list[int] = []
    handler = hop(loop, calls.append)
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    handler(1)  # a gpiozero thread firing after the agent stopped: nothing to do, no error
    assert calls == []
