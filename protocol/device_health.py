"""Device-health alerts: an ``alerts`` envelope of kind ``device_health``, for IT staff.

A unit raises one when a check on its own hardware gets worse: the CPU running hot, the
power supply sagging (under-voltage), the SD card wearing out, the disk filling up. It is
about the unit, never about a patient, so the body is a closed set of fields (which check,
how bad, the figure and the threshold, a short summary and the route) and anything else is
refused, by the agent as it builds the alert and by the bridge as it files it. It has no
``session``, ``reading`` or ``measure``: nothing on a staff screen can take it for a
clinical result.
"""

from __future__ import annotations

import math
from typing import Any, Final

from healthhub.protocol.errors import MalformedMessage

REASON: Final = "device_health"
#: The checks a unit runs on itself (agent/health_checks.py).
CHECKS: Final = frozenset(
    {"cpu_temperature", "under_voltage", "sd_wear", "disk_space", "certificate_expiry"}
)
#: Worst last; an alert is raised only for ``warning`` and ``critical``.
LEVELS: Final = ("ok", "warning", "critical")
ALERT_LEVELS: Final = frozenset({"warning", "critical"})
#: UCUM units: degrees Celsius, percent, days (a certificate's time left).
UNITS: Final = frozenset({"Cel", "%", "d"})
MAX_SUMMARY: Final = 200
MAX_TEXT_VALUE: Final = 32
_KEYS: Final = frozenset(
    {"reason", "check", "level", "value", "threshold", "unit", "summary", "route"}
)


def _figure(body: dict[str, Any], key: str) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedMessage(f"device-health alert: {key} must be a number or a short text")
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedMessage(f"device-health alert: {key} must be finite")
    if isinstance(value, str) and (len(value) > MAX_TEXT_VALUE or not value.isprintable()):
        raise MalformedMessage(f"device-health alert: {key} text is too long or not printable")


def check_health_alert(body: object) -> dict[str, Any]:
    """``body`` if it is a well-formed device-health alert; else :class:`MalformedMessage`."""
    if not isinstance(body, dict):
        raise MalformedMessage("device-health alert body must be an object")
    extra = sorted(set(body) - _KEYS)
    if extra:
        raise MalformedMessage(f"device-health alert has unexpected field(s) {', '.join(extra)}")
    if body.get("reason") != REASON:
        raise MalformedMessage(f"device-health alert reason must be {REASON}")
    if body.get("check") not in CHECKS:
        raise MalformedMessage(f"device-health check must be one of {', '.join(sorted(CHECKS))}")
    if body.get("level") not in ALERT_LEVELS:
        raise MalformedMessage("device-health alert level must be warning or critical")
    _figure(body, "value")
    _figure(body, "threshold")
    unit = body.get("unit")
    if unit is not None and unit not in UNITS:
        raise MalformedMessage(f"device-health unit must be one of {', '.join(sorted(UNITS))}")
    summary = body.get("summary")
    if not isinstance(summary, str) or not 0 < len(summary) <= MAX_SUMMARY:
        raise MalformedMessage(f"device-health summary must be 1 to {MAX_SUMMARY} characters")
    if not summary.isprintable():
        raise MalformedMessage("device-health summary must be printable")
    if not isinstance(body.get("route"), dict):
        raise MalformedMessage("device-health alert must carry its route")
    return body
