"""A device-health alert carries which check, how bad, its figures and its route: nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from healthhub.protocol import local_api
from healthhub.protocol.device_health import check_health_alert
from healthhub.protocol.errors import MalformedMessage

GOOD: dict[str, Any] = {
    "reason": "device_health",
    "check": "cpu_temperature",
    "level": "warning",
    "value": 82.5,
    "threshold": 80,
    "unit": "Cel",
    "summary": "CPU 82.5 °C (warning at 80 °C, critical at 85 °C)",
    "route": {"notify": ["it-support"], "escalate_after_s": 3600, "escalate_to": []},
}


def test_a_well_formed_alert_passes_and_figures_may_be_missing_or_text() -> None:
    assert check_health_alert(GOOD) == GOOD
    check_health_alert({**GOOD, "check": "under_voltage", "value": "0x50005", "threshold": None,
                        "unit": None, "level": "critical"})  # fmt: skip


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"session": "0190d5a4-0000-7000-8000-000000000000"}, "unexpected field(s) session"),
        ({"patient": {"nhs_number": "9434765919"}}, "unexpected field(s) patient"),
        ({"measure": "blood_pressure"}, "unexpected field(s) measure"),
        ({"reason": "urgent_result"}, "reason must be device_health"),
        ({"check": "mood"}, "check must be one of"),
        ({"level": "urgent"}, "level must be warning or critical"),
        ({"level": "ok"}, "level must be warning or critical"),
        ({"value": float("nan")}, "value must be finite"),
        ({"value": True}, "value must be a number"),
        ({"threshold": [80]}, "threshold must be a number"),
        ({"value": "x" * 33}, "too long"),
        ({"unit": "mm[Hg]"}, "unit must be one of"),
        ({"summary": ""}, "summary must be 1 to 200"),
        ({"summary": "y" * 201}, "summary must be 1 to 200"),
        ({"summary": "line\nbreak"}, "printable"),
        ({"route": None}, "route"),
    ],
)
def test_anything_else_is_refused(change: dict[str, Any], error: str) -> None:
    with pytest.raises(MalformedMessage, match=error.replace("(", r"\(").replace(")", r"\)")):
        check_health_alert({**GOOD, **change})


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MalformedMessage, match="must be an object"):
        check_health_alert(["device_health"])


def test_the_patient_ui_cannot_raise_a_device_health_alert() -> None:
    """Only the agent's own checks raise one; the UI's ``alert.raise`` takes clinical reasons."""
    assert "device_health" not in local_api.ALERT_REASONS
