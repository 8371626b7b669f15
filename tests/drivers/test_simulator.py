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
        self.refusals: list[str] = []

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        self.readings.append(reading)

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append(state)

    def refused(self, peripheral: str, reason: str) -> None:
        self.refusals.append(reason)


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


def test_script_plays_values_impossible_ones_and_a_disconnect_in_order() -> None:
    script = [
        {"systolic": 186, "diastolic": 121, "pulse": 90},
        {"systolic": 90, "diastolic": 140, "pulse": 60},  # diastolic above systolic: impossible
        {"systolic": 128, "diastolic": 82, "pulse": 70},
        "disconnect",
    ]
    spec = PeripheralSpec(
        "bp", "blood_pressure", "simulator", {"interval_s": 0.001, "script": script}
    )
    sink = Sink()
    with pytest.raises(TransientDriverError, match="disconnected"):
        asyncio.run(registry.create(spec).run(sink))
    assert [r.measurement.value("systolic") for r in sink.readings] == [186, 128]
    assert len(sink.refusals) == 1
    assert "systolic must be above diastolic" in sink.refusals[0]


def test_request_trigger_waits_until_asked() -> None:
    spec = PeripheralSpec("t", "thermometer", "simulator", {"trigger": "request", "count": 2})
    peripheral = registry.create(spec)
    sink = Sink()

    async def scenario() -> None:
        task = asyncio.create_task(peripheral.run(sink))
        for _ in range(20):  # many turns of the loop: nothing is taken unasked
            await asyncio.sleep(0)
        assert sink.readings == []
        peripheral.request_measurement()
        while len(sink.readings) < 1:
            await asyncio.sleep(0.001)
        peripheral.request_measurement()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert len(sink.readings) == 2
    assert peripheral.kinds == ("body_temperature",)


@pytest.mark.parametrize(
    "options",
    [{"trigger": "sometimes"}, {"script": "190/120"}, {"script": [{"systolic": "high"}]}],
)
def test_bad_trigger_or_script_is_a_config_error(options: dict[str, object]) -> None:
    with pytest.raises(DriverConfigError):
        registry.create(PeripheralSpec("p", "blood_pressure", "simulator", options))
