"""Simulated peripherals: a registered backend of every driver, chosen by ``backend: simulator``.

Each simulator takes a reading every ``interval_s`` seconds (the demo's
patients) with values drawn around a plausible adult baseline. ``seed``
makes a run repeatable. ``count`` stops after that many readings (a bounded
run for tests and benchmarks); ``fail_after`` raises a transient error after
that many readings, to exercise supervision.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime

from healthhub.drivers.base import (
    DriverReading,
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    ReadingSink,
)
from healthhub.drivers.errors import DriverConfigError, TransientDriverError
from healthhub.drivers.registry import register
from healthhub.protocol.measurements import Measurement, measurement

MeasureFn = Callable[[random.Random], Measurement]

_OPTIONS = {"interval_s", "seed", "count", "fail_after", "measure_s"}


def _blood_pressure(rng: random.Random) -> Measurement:
    systolic = round(rng.gauss(132, 16))
    diastolic = round(min(systolic - 25, rng.gauss(82, 9)))
    return measurement(
        "blood_pressure",
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial=round(diastolic + (systolic - diastolic) / 3),
        pulse=round(rng.gauss(72, 10)),
    )


def _scale(rng: random.Random) -> Measurement:
    return measurement("body_weight", weight=round(rng.gauss(78, 14), 1))


def _pulse_oximeter(rng: random.Random) -> Measurement:
    return measurement(
        "oxygen_saturation", spo2=min(100, round(rng.gauss(97, 1.5))), pulse=round(rng.gauss(74, 9))
    )


def _thermometer(rng: random.Random) -> Measurement:
    return measurement("body_temperature", temperature=round(rng.gauss(36.8, 0.35), 1))


def _height_measure(rng: random.Random) -> Measurement:
    return measurement("body_height", height=round(rng.gauss(170, 9), 1))


SIMULATED: dict[str, MeasureFn] = {
    "blood_pressure": _blood_pressure,
    "scale": _scale,
    "pulse_oximeter": _pulse_oximeter,
    "thermometer": _thermometer,
    "height_measure": _height_measure,
}


class SimulatedPeripheral(Peripheral):
    def __init__(self, spec: PeripheralSpec, measure: MeasureFn) -> None:
        super().__init__(spec)
        unknown = set(spec.options) - _OPTIONS
        if unknown:
            names = ", ".join(sorted(unknown))
            raise DriverConfigError(f"peripheral {spec.name!r}: unknown option(s) {names}")
        self.interval_s = _positive(spec, "interval_s", 5.0)
        self.measure_s = _positive(spec, "measure_s", 0.0, allow_zero=True)
        self.count = _optional_int(spec, "count")
        self.fail_after = _optional_int(spec, "fail_after")
        seed = spec.options.get("seed")
        self._rng = random.Random(seed)  # noqa: S311 - simulated patients, not secrets
        self._measure = measure
        self.taken = 0

    async def run(self, sink: ReadingSink) -> None:
        while self.count is None or self.taken < self.count:
            sink.state(self.name, PeripheralState.WAITING)
            await asyncio.sleep(self.interval_s)
            if self.fail_after is not None and self.taken >= self.fail_after:
                self.fail_after = None  # fail once, as an unplugged device would
                raise TransientDriverError(f"{self.name}: simulated device disconnected")
            sink.state(self.name, PeripheralState.MEASURING)
            if self.measure_s:
                await asyncio.sleep(self.measure_s)
            reading = DriverReading(self._measure(self._rng), datetime.now(UTC))
            await sink.reading(self.name, reading)
            self.taken += 1
        sink.state(self.name, PeripheralState.STOPPED, "simulated run complete")


def _positive(spec: PeripheralSpec, key: str, default: float, *, allow_zero: bool = False) -> float:
    value = spec.options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DriverConfigError(f"peripheral {spec.name!r}: {key} must be a number")
    if value < 0 or (value == 0 and not allow_zero):
        raise DriverConfigError(f"peripheral {spec.name!r}: {key} must be above 0")
    return float(value)


def _optional_int(spec: PeripheralSpec, key: str) -> int | None:
    value = spec.options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DriverConfigError(f"peripheral {spec.name!r}: {key} must be a whole number >= 0")
    return value


def _factory(measure: MeasureFn) -> Callable[[PeripheralSpec], Peripheral]:
    def create(spec: PeripheralSpec) -> Peripheral:
        return SimulatedPeripheral(spec, measure)

    return create


for _driver, _measure in SIMULATED.items():
    register(_driver, "simulator")(_factory(_measure))
