"""Simulated peripherals: a registered backend of every driver, chosen by ``backend: simulator``.

Options (all optional):

- ``trigger``: ``interval`` (default) takes a reading every ``interval_s`` seconds, the
  demo's stream of patients; ``request`` waits until the agent asks (the UI's patient
  pressed "start"), as a patient at a kiosk unit would.
- ``measure_s``: how long a measurement takes (state ``measuring`` meanwhile).
- ``seed`` makes the values repeatable; they are drawn around a plausible adult baseline.
- ``script``: a list played in order before the random values: a mapping of component
  values (``{systolic: 190, diastolic: 125, pulse: 88}``) is the next reading, even an
  impossible one (refused as a real device's would be); ``disconnect`` is a transient
  failure mid-measurement, as an unplugged device.
- ``count`` stops after that many readings; ``fail_after`` raises a transient error
  after that many readings, to exercise supervision.
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
from healthhub.protocol.errors import InvalidMeasurement
from healthhub.protocol.measurements import Measurement, measurement

MeasureFn = Callable[[random.Random], Measurement]

_OPTIONS = {"interval_s", "seed", "count", "fail_after", "measure_s", "trigger", "script"}
_DISCONNECT = "disconnect"
ScriptStep = dict[str, float] | str


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


#: driver -> its measurement kind, for scripted values
SCRIPT_KIND = {
    "blood_pressure": "blood_pressure",
    "scale": "body_weight",
    "pulse_oximeter": "oxygen_saturation",
    "thermometer": "body_temperature",
    "height_measure": "body_height",
}

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
        trigger = spec.options.get("trigger", "interval")
        if trigger not in ("interval", "request"):
            raise DriverConfigError(
                f"peripheral {spec.name!r}: trigger must be interval or request"
            )
        self.on_request = trigger == "request"
        self._script = _script(spec)
        seed = spec.options.get("seed")
        self._rng = random.Random(seed)  # noqa: S311 - simulated patients, not secrets
        self._measure = measure
        self._requested = asyncio.Event()
        self.taken = 0

    def request_measurement(self) -> None:
        self._requested.set()

    async def run(self, sink: ReadingSink) -> None:
        while self.count is None or self.taken < self.count:
            sink.state(self.name, PeripheralState.WAITING)
            if self.on_request:
                await self._requested.wait()
                self._requested.clear()
            else:
                await asyncio.sleep(self.interval_s)
            if self.fail_after is not None and self.taken >= self.fail_after:
                self.fail_after = None  # fail once, as an unplugged device would
                raise TransientDriverError(f"{self.name}: simulated device disconnected")
            sink.state(self.name, PeripheralState.MEASURING)
            if self.measure_s:
                await asyncio.sleep(self.measure_s)
            step = self._script.pop(0) if self._script else None
            if step == _DISCONNECT:
                raise TransientDriverError(f"{self.name}: simulated device disconnected")
            try:
                value = self._measure(self._rng) if step is None else self._scripted(step)
            except InvalidMeasurement as exc:
                sink.refused(self.name, str(exc))
                continue
            await sink.reading(self.name, DriverReading(value, datetime.now(UTC)))
            self.taken += 1
        sink.state(self.name, PeripheralState.STOPPED, "simulated run complete")

    def _scripted(self, step: ScriptStep) -> Measurement:
        assert isinstance(step, dict)
        return measurement(SCRIPT_KIND[self.spec.driver], **step)


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


def _script(spec: PeripheralSpec) -> list[ScriptStep]:
    raw = spec.options.get("script", [])
    if not isinstance(raw, list):
        raise DriverConfigError(f"peripheral {spec.name!r}: script must be a list")
    steps: list[ScriptStep] = []
    for index, step in enumerate(raw):
        if step == _DISCONNECT:
            steps.append(_DISCONNECT)
        elif isinstance(step, dict) and all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
            for k, v in step.items()
        ):
            steps.append({k: float(v) for k, v in step.items()})
        else:
            raise DriverConfigError(
                f"peripheral {spec.name!r}: script[{index}] must be component values "
                f"or {_DISCONNECT!r}"
            )
    return steps


def _factory(measure: MeasureFn) -> Callable[[PeripheralSpec], Peripheral]:
    def create(spec: PeripheralSpec) -> Peripheral:
        return SimulatedPeripheral(spec, measure)

    return create


for _driver, _measure in SIMULATED.items():
    register(_driver, "simulator")(_factory(_measure))
