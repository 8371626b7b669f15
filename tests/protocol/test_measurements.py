"""Measurement kinds, UCUM units and plausibility limits."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.protocol.errors import InvalidMeasurement
from healthhub.protocol.measurements import KINDS, measurement, parse_measurement


def test_every_kind_uses_canonical_ucum_units() -> None:
    units = {spec.code: spec.unit for specs in KINDS.values() for spec in specs}
    assert units == {
        "systolic": "mm[Hg]",
        "diastolic": "mm[Hg]",
        "mean_arterial": "mm[Hg]",
        "pulse": "/min",
        "weight": "kg",
        "height": "cm",
        "bmi": "kg/m2",
        "spo2": "%",
        "temperature": "Cel",
    }


def test_blood_pressure_with_optional_components() -> None:
    m = measurement("blood_pressure", systolic=128, diastolic=82, pulse=71)
    assert [c.code for c in m.components] == ["systolic", "diastolic", "pulse"]
    assert m.value("pulse") == 71
    assert m.value("mean_arterial") is None


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("blood_pressure", {"systolic": 80, "diastolic": 120}, "above diastolic"),
        ("blood_pressure", {"systolic": 420, "diastolic": 80}, "outside"),
        ("blood_pressure", {"systolic": 120}, "missing diastolic"),
        ("blood_pressure", {"systolic": 120, "diastolic": 80, "mean_arterial": 45}, "between"),
        ("blood_pressure", {"systolic": 120, "diastolic": 80, "mean_arterial": 121}, "between"),
        ("oxygen_saturation", {"spo2": 101}, "outside"),
        ("body_temperature", {"temperature": 98.6}, "outside"),  # Fahrenheit is not Cel
        ("body_weight", {"weight": 0}, "outside"),
        ("body_height", {"height": 1.75}, "outside"),  # metres are not cm
        ("heart_rate", {"pulse": 5}, "outside"),
        ("heart_rate", {}, "non-empty"),
        ("glucose", {"value": 5}, "unknown measurement kind"),
        ("bmi", {"weight": 70}, "unknown component"),
    ],
)
def test_impossible_values_are_refused(kind: str, values: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidMeasurement, match=message):
        measurement(kind, **values)


@pytest.mark.parametrize(
    ("kind", "values", "value"),
    [
        ("blood_pressure", {"systolic": 417, "diastolic": 80}, "417"),
        ("oxygen_saturation", {"spo2": 101.5}, "101.5"),
        ("body_temperature", {"temperature": 98.6}, "98.6"),
    ],
)
def test_a_refusal_names_the_limits_never_the_value(
    kind: str, values: dict[str, float], value: str
) -> None:
    """The text becomes a refusal reason, logged and shown to staff: no patient value."""
    with pytest.raises(InvalidMeasurement, match="outside") as caught:
        measurement(kind, **values)
    assert value not in str(caught.value)


@pytest.mark.parametrize(
    "component",
    [
        {"code": "spo2", "value": 97, "unit": "percent"},
        {"code": "spo2", "value": "97", "unit": "%"},
        {"code": "spo2", "value": True, "unit": "%"},
        {"code": "spo2", "value": math.nan, "unit": "%"},
        {"code": "spo2", "value": math.inf, "unit": "%"},
        {"code": "spo2", "value": 97},
        "spo2=97",
    ],
)
def test_wire_components_are_checked(component: object) -> None:
    with pytest.raises(InvalidMeasurement):
        parse_measurement("oxygen_saturation", [component])


def test_duplicate_component_refused() -> None:
    spo2 = {"code": "spo2", "value": 97, "unit": "%"}
    with pytest.raises(InvalidMeasurement, match="twice"):
        parse_measurement("oxygen_saturation", [spo2, spo2])


@settings(max_examples=300, derandomize=True)
@given(
    st.sampled_from(sorted(KINDS)),
    st.lists(st.dictionaries(st.text(), st.none() | st.floats() | st.text())),
)
def test_fuzz_components_raise_only_invalid_measurement(
    kind: str, components: list[object]
) -> None:
    with contextlib.suppress(InvalidMeasurement):
        parse_measurement(kind, components)
