"""Measurement kinds, their components and units, and what values are possible.

Units are UCUM case-sensitive codes (The Unified Code for Units of Measure,
Regenstrief Institute, https://ucum.org/ucum): ``mm[Hg]``, ``kg``, ``cm``,
``kg/m2``, ``/min``, ``%``, ``Cel``. Component codes are ours; the practice
side maps them to LOINC and SNOMED CT when it files them as FHIR.

The *limits* below are plausibility limits, not clinical thresholds: a value
outside them cannot be a real measurement of a person at a GP practice and is
refused with :class:`InvalidMeasurement` so it never reaches a record. They
are set wide, beyond the measuring range of the devices we support and beyond
recorded human extremes, so that an unusual but real value is never refused
(clinical banding of real values belongs to the UI and cites NICE there):

- blood pressure: automated sphygmomanometers measure 0-300 mm[Hg] in cuff
  pressure (ISO 81060-2 validation ranges fall well inside); we accept
  systolic 40-300, diastolic 20-250, mean arterial 25-270, systolic > diastolic.
- pulse: 20-300 /min (pulse oximeters and BP monitors report ~25-250).
- weight: 0.5-635 kg; height 30-272 cm; BMI 5-250 kg/m2.
- SpO2: 30-100 % (oximeters are specified down to 70 % but display lower).
- body temperature: 25-45 Cel (clinical thermometers read ~32-43 Cel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from healthhub.protocol.errors import InvalidMeasurement


@dataclass(frozen=True)
class ComponentSpec:
    code: str
    unit: str
    low: float
    high: float
    required: bool = True


@dataclass(frozen=True)
class Component:
    code: str
    value: float
    unit: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "value": self.value, "unit": self.unit}


def _pulse(required: bool = False) -> ComponentSpec:
    return ComponentSpec("pulse", "/min", 20, 300, required=required)


#: kind -> its components, in the order they are shown and exported.
KINDS: dict[str, tuple[ComponentSpec, ...]] = {
    "blood_pressure": (
        ComponentSpec("systolic", "mm[Hg]", 40, 300),
        ComponentSpec("diastolic", "mm[Hg]", 20, 250),
        ComponentSpec("mean_arterial", "mm[Hg]", 25, 270, required=False),
        _pulse(),
    ),
    "body_weight": (ComponentSpec("weight", "kg", 0.5, 635),),
    "body_height": (ComponentSpec("height", "cm", 30, 272),),
    "bmi": (ComponentSpec("bmi", "kg/m2", 5, 250),),
    "oxygen_saturation": (ComponentSpec("spo2", "%", 30, 100), _pulse()),
    "body_temperature": (ComponentSpec("temperature", "Cel", 25, 45),),
    "heart_rate": (_pulse(required=True),),
}


@dataclass(frozen=True)
class Measurement:
    """A validated measurement: a kind and its components in canonical units."""

    kind: str
    components: tuple[Component, ...]

    def value(self, code: str) -> float | None:
        for component in self.components:
            if component.code == code:
                return component.value
        return None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "components": [c.to_json() for c in self.components]}


def _number(value: object, where: str) -> float:
    # bool is an int in Python; a measurement of True is a defect, not a value.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidMeasurement(f"{where}: value must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidMeasurement(f"{where}: value must be finite")
    return number


def measurement(kind: str, **values: float | None) -> Measurement:
    """Build a measurement from keyword values in canonical units, e.g.
    ``measurement("blood_pressure", systolic=128, diastolic=82, pulse=71)``."""
    specs = KINDS.get(kind)
    if specs is None:
        raise InvalidMeasurement(f"unknown measurement kind {kind!r}")
    units = {spec.code: spec.unit for spec in specs}
    unknown = set(values) - set(units)
    if unknown:
        raise InvalidMeasurement(f"{kind}: unknown component(s) {', '.join(sorted(unknown))}")
    raw = [
        {"code": code, "value": value, "unit": units[code]}
        for code, value in values.items()
        if value is not None
    ]
    return parse_measurement(kind, raw)


def _check_pressures(seen: dict[str, Component]) -> None:
    systolic, diastolic = seen["systolic"].value, seen["diastolic"].value
    if systolic <= diastolic:
        raise InvalidMeasurement("blood_pressure: systolic must be above diastolic")
    mean = seen.get("mean_arterial")
    # The mean arterial pressure lies between them by definition (an oscillometric monitor
    # measures it as the pressure of greatest oscillation, between diastolic and systolic);
    # one outside says the device got the measurement wrong.
    if mean is not None and not diastolic <= mean.value <= systolic:
        raise InvalidMeasurement(
            "blood_pressure: mean_arterial must lie between diastolic and systolic"
        )


def parse_measurement(kind: object, components: object) -> Measurement:
    """Validate a kind and its components as they arrive on the wire."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidMeasurement(f"unknown measurement kind {kind!r}")
    if not isinstance(components, list) or not components:
        raise InvalidMeasurement(f"{kind}: components must be a non-empty list")
    specs = {spec.code: spec for spec in KINDS[kind]}
    seen: dict[str, Component] = {}
    for index, item in enumerate(components):
        where = f"{kind}.components[{index}]"
        if not isinstance(item, dict) or set(item) != {"code", "value", "unit"}:
            raise InvalidMeasurement(f"{where}: must be an object with code, value and unit")
        code, unit = item["code"], item["unit"]
        spec = specs.get(code) if isinstance(code, str) else None
        if spec is None:
            raise InvalidMeasurement(f"{where}: {code!r} is not a component of {kind}")
        if code in seen:
            raise InvalidMeasurement(f"{where}: {code} given twice")
        if unit != spec.unit:
            raise InvalidMeasurement(f"{where}: {code} must be in {spec.unit}, not {unit!r}")
        value = _number(item["value"], where)
        if not spec.low <= value <= spec.high:
            # The value itself is left out: this text is logged and shown to staff.
            raise InvalidMeasurement(
                f"{where}: {code} is outside {spec.low:g}-{spec.high:g} {unit}"
            )
        seen[code] = Component(code, value, unit)
    missing = [spec.code for spec in KINDS[kind] if spec.required and spec.code not in seen]
    if missing:
        raise InvalidMeasurement(f"{kind}: missing {', '.join(missing)}")
    if kind == "blood_pressure":
        _check_pressures(seen)
    ordered = tuple(seen[spec.code] for spec in KINDS[kind] if spec.code in seen)
    return Measurement(kind, ordered)
