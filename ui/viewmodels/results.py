"""From readings to what the result screen shows: values with units, and their banding.

Banding (and its sources) lives in :mod:`healthhub.ui.banding`; this module
only chooses which band applies to which value. BMI needs both weight and
height, and the patient's answer about their family background (asked, never
assumed: NICE uses lower BMI thresholds for some backgrounds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from healthhub.ui import banding
from healthhub.ui.banding import Band, FamilyBackground
from healthhub.ui.i18n import N_
from healthhub.ui.viewmodels.measurement import Reading


@dataclass(frozen=True)
class ResultItem:
    title: str  # N_ text
    value: str  # digits only: never translated, shown in the value font
    unit: str  # a UCUM-like symbol, or an N_ text
    band: Band | None
    reading_id: str | None  # the reading an alert points at; None for derived values
    measure: str


def _band(rule: Callable[..., Band], *values: object) -> Band | None:
    """The band, or none if banding refuses the value (the agent has already checked it)."""
    try:
        return rule(*values)
    except ValueError:
        return None


def number(value: float) -> str:
    """A value as shown: whole numbers without a decimal point, others to one place."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _pulse(reading: Reading) -> ResultItem | None:
    beats = reading.values.get("pulse")
    if beats is None:
        return None
    return ResultItem(
        N_("Pulse"),
        number(beats),
        N_("beats a minute"),
        _band(banding.pulse, beats),
        reading.id,
        "pulse",
    )


def items_for(reading: Reading) -> list[ResultItem]:
    v = reading.values
    found: list[ResultItem | None] = []
    if reading.kind == "blood_pressure":
        band = _band(banding.blood_pressure, v["systolic"], v["diastolic"])
        value = f"{number(v['systolic'])}/{number(v['diastolic'])}"
        found = [
            ResultItem(N_("Blood pressure"), value, "mmHg", band, reading.id, "blood_pressure"),
            _pulse(reading),
        ]
    elif reading.kind == "oxygen_saturation":
        band = _band(banding.oxygen_saturation, v["spo2"])
        found = [
            ResultItem(
                N_("Oxygen level"), number(v["spo2"]), "%", band, reading.id, "oxygen_saturation"
            ),
            _pulse(reading),
        ]
    elif reading.kind == "body_temperature":
        band = _band(banding.body_temperature, v["temperature"])
        found = [
            ResultItem(
                N_("Temperature"),
                number(v["temperature"]),
                "°C",
                band,
                reading.id,
                "body_temperature",
            )
        ]
    elif reading.kind == "body_weight":
        found = [ResultItem(N_("Weight"), number(v["weight"]), "kg", None, reading.id, "weight")]
    elif reading.kind == "body_height":
        found = [ResultItem(N_("Height"), number(v["height"]), "cm", None, reading.id, "height")]
    return [item for item in found if item is not None]


def bmi_value(readings: Iterable[Reading]) -> float | None:
    by_kind = {r.kind: r for r in readings}
    weight, height = by_kind.get("body_weight"), by_kind.get("body_height")
    if weight is None or height is None:
        return None
    return banding.body_mass_index(weight.values["weight"], height.values["height"])


def bmi_item(value: float, background: FamilyBackground) -> ResultItem:
    return ResultItem(
        N_("Body mass index (BMI)"),
        number(value),
        "kg/m²",
        _band(banding.bmi, value, background),
        None,
        "bmi",
    )
