"""A unit's Pi health as the fleet's status shows it, from its telemetry's ``pi_health``.

The thresholds live on the unit (``telemetry.health``, pushed like any setting), which
reports each check's state; the practice side only marks what the unit says is over, so the
console, the dashboard and the unit can never disagree about a threshold.
"""

from __future__ import annotations

from typing import Any

OVER = ("warning", "critical")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def health_summary(telemetry: dict[str, Any] | None) -> dict[str, Any] | None:
    """Temperature, throttling, free space, SD wear and the checks over threshold
    (check -> level); None if the unit sends no Pi health (an older agent)."""
    pi = (telemetry or {}).get("pi_health")
    if not isinstance(pi, dict):
        return None
    checks = _mapping(pi.get("checks"))
    over = {
        str(name): entry["level"]
        for name, entry in sorted(checks.items())
        if isinstance(entry, dict) and entry.get("level") in OVER
    }
    throttled = _mapping(pi.get("throttled"))
    spaces = [
        space
        for space in _mapping(pi.get("filesystems")).values()
        if isinstance(space, dict) and _number(space.get("free_percent")) is not None
    ]
    tightest: dict[str, Any] = min(spaces, key=lambda s: float(s["free_percent"]), default={})
    storage = _mapping(pi.get("storage"))
    return {
        "cpu_temperature_c": _number(pi.get("cpu_temperature_c")),
        "throttled_now": _names(throttled.get("now")),
        "throttled_since_boot": _names(throttled.get("since_boot")),
        "disk_free_percent": _number(tightest.get("free_percent")),
        "disk_free_bytes": _number(tightest.get("free_bytes")),
        "sd_life_used_percent": _number(storage.get("life_used_percent")),
        "sd_pre_eol": storage.get("pre_eol") if isinstance(storage.get("pre_eol"), str) else None,
        "over": over,
        "error": str(pi["error"])[:200] if pi.get("error") else None,
    }


def _mark(summary: dict[str, Any], check: str) -> str:
    return "!" if check in summary["over"] else ""


def health_cells(summary: dict[str, Any] | None) -> tuple[str, str, str, str]:
    """(temperature, disk free, SD wear, flags) for the console's table; ``!`` marks a value
    the unit says is over its threshold, ``-`` what it cannot measure."""
    if summary is None:
        return "-", "-", "-", "-"
    temp = summary["cpu_temperature_c"]
    shown_temp = "-" if temp is None else f"{temp:.0f}C" + _mark(summary, "cpu_temperature")
    free = summary["disk_free_percent"]
    shown_free = "-" if free is None else f"{free:.0f}%" + _mark(summary, "disk_space")
    used = summary["sd_life_used_percent"]
    shown_sd = "-" if used is None else f"{used:.0f}%"
    if summary["sd_pre_eol"] not in (None, "normal", "undefined"):
        shown_sd = f"{shown_sd} eol:{summary['sd_pre_eol']}"
    shown_sd += _mark(summary, "sd_wear")
    flags = [f"{name}!" if name == "under_voltage" else name for name in summary["throttled_now"]]
    flags += [
        f"{name}(boot)" for name in summary["throttled_since_boot"]
        if name not in summary["throttled_now"]
    ]  # fmt: skip
    if "under_voltage" in summary["over"] and not any("under_voltage" in f for f in flags):
        flags.append("under_voltage!")
    if "certificate_expiry" in summary["over"]:
        flags.append("cert-expiring!")  # `healthhub-provision rotate` renews it
    if summary["error"]:
        flags.append("health-error")
    return shown_temp, shown_free, shown_sd, ",".join(flags) or "ok"
