"""The dashboard's fleet status: one row per enrolled device, as last seen by the bridge.

Built from the practice store's latest retained status and telemetry per device
(``PracticeStore.reports()``), not from the broker, so the dashboard needs no broker
credentials. The common fields (state, outbox, link, last command) come from the console's
:func:`~healthhub.fleet.console.rows`; the dashboard adds peripherals and versions: the
configuration and content layers each device last reported holding (its retained
``config/reported`` and ``content/reported``, kept by the bridge), else the content layers
in its telemetry.
"""

from __future__ import annotations

from typing import Any

from healthhub.fleet.console import FleetView, rows


def device_rows(
    devices: dict[str, str],
    reports: dict[str, dict[str, Any]],
    alert_counts: dict[str, int],
) -> list[dict[str, Any]]:
    """``devices``: device -> site (the registry); ``reports``: the store's reports."""
    view = FleetView(
        status={d: r["status"] for d, r in reports.items() if r.get("status")},
        telemetry={d: r["telemetry"] for d, r in reports.items() if r.get("telemetry")},
    )
    found = rows(devices, view, None, alert_counts)
    for row in found:
        telemetry = (reports.get(row["device"]) or {}).get("telemetry") or {}
        row["telemetry_source"] = "bridge store" if telemetry else None
        row["last_seen"] = max(
            (t for t in (row["status_at"], row["telemetry_at"]) if isinstance(t, str)),
            default=None,
        )
        row["agent_version"] = telemetry.get("version") or (telemetry.get("versions") or {}).get(
            "healthhub"
        )
        report = reports.get(row["device"]) or {}
        row["config"] = _layers((report.get("config") or {}).get("layers"))
        content = report.get("content") or telemetry.get("content") or {}
        row["content"] = _layers(content.get("layers"))
        row["peripherals"] = _peripherals(telemetry.get("peripherals"))
    return found


def _layers(layers: Any) -> dict[str, Any]:
    """level -> version held (None if the device holds none or did not say)."""
    if not isinstance(layers, dict):
        return {}
    return {
        level: entry.get("held")
        for level, entry in layers.items()
        if isinstance(entry, dict) and level in ("fleet", "site", "device")
    }


def _peripherals(found: Any) -> list[dict[str, Any]]:
    """Each peripheral's name, driver, state (starting, waiting, measuring, error, stopped)
    and battery; the detail only of an error (what IT staff act on)."""
    if not isinstance(found, dict):
        return []
    shown = []
    for name, entry in sorted(found.items()):
        if not isinstance(entry, dict):
            continue
        state = str(entry.get("state", "unknown"))
        shown.append(
            {
                "name": str(name),
                "driver": str(entry.get("driver", "")),
                "state": state,
                "battery": entry.get("battery"),
                "detail": str(entry.get("detail") or "") if state == "error" else "",
            }
        )
    return shown
