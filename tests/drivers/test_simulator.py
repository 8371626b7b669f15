"""Simulators are a registered backend, produce valid readings, and fail as configured."""

from __future__ import annotations

import asyncio

import pytest

from healthhub.drivers import registry
from healthhub.drivers.base import DriverReading, PeripheralSpec, PeripheralState
from healthhub.drivers.errors import DriverConfigError, TransientDriverError
from healthhub.protocol.measurements import KINDS


class Sink:
    def __init__(self) -> None:
        self.readings: list[DriverReading] = []
        self.states: list[PeripheralState] = []

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        self.readings.append(reading)

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append(state)


@pytest.mark.parametrize(
    ("driver", "kind"),
    [
        ("blood_pressure", "blood_pressure"),
        ("scale", "body_weight"),
        ("pulse_oximeter", "oxygen_saturation"),
        ("thermometer", "body_temperature"),
        ("height_measure", "body_height"),
    ],
)
def test_simulator_takes_valid_readings(driver: str, kind: str) -> None:
    spec = PeripheralSpec("p", driver, "simulator", {"interval_s": 0.001, "count": 50, "seed": 7})
    sink = Sink()
    asyncio.run(registry.create(spec).run(sink))
    assert len(sink.readings) == 50
    assert {r.measurement.kind for r in sink.readings} == {kind}
    assert kind in KINDS
    assert sink.states[-1] == PeripheralState.STOPPED


def test_fail_after_raises_a_transient_error() -> None:
    spec = PeripheralSpec("p", "scale", "simulator", {"interval_s": 0.001, "fail_after": 2})
    sink = Sink()
    with pytest.raises(TransientDriverError):
        asyncio.run(registry.create(spec).run(sink))
    assert len(sink.readings) == 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (PeripheralSpec("p", "toaster", "simulator"), "unknown driver"),
        (PeripheralSpec("p", "scale", "bluetooth-9000"), "no backend"),
        (PeripheralSpec("p", "scale", "simulator", {"interval_s": -1}), "interval_s"),
        (PeripheralSpec("p", "scale", "simulator", {"colour": "red"}), "unknown option"),
    ],
)
def test_bad_declarations_are_config_errors(spec: PeripheralSpec, message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        registry.create(spec)
