"""The device's health in figures: what IT staff see for each unit.

Clear text on ``devices/{device}/telemetry``; it never holds patient data.
"""

from __future__ import annotations

import platform
import shutil
import sqlite3
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from healthhub.protocol.clock import now_utc


def _read_kb(path: str, field: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory() -> dict[str, int | None]:
    return {
        "rss_bytes": _read_kb("/proc/self/status", "VmRSS"),
        "peak_rss_bytes": _read_kb("/proc/self/status", "VmHWM"),
        "available_bytes": _read_kb("/proc/meminfo", "MemAvailable"),
    }


def temperatures() -> dict[str, float]:
    """Thermal zones in Cel (the Pi's SoC is ``cpu-thermal``)."""
    found: dict[str, float] = {}
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip()
            found[kind] = int((zone / "temp").read_text().strip()) / 1000
        except (OSError, ValueError):
            continue
    return found


def disk(path: Path) -> dict[str, int]:
    usage = shutil.disk_usage(path)
    return {"free_bytes": usage.free, "total_bytes": usage.total}


def versions() -> dict[str, str]:
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {
        "healthhub": of("healthhub"),
        "python": platform.python_version(),
        "paho-mqtt": of("paho-mqtt"),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(terse=True),
    }


def snapshot(
    *,
    started_monotonic: float,
    state_dir: Path,
    outbox: dict[str, Any],
    link: dict[str, Any],
    delivery: dict[str, Any],
    peripherals: dict[str, Any],
    queues: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        **(extra or {}),
        "at": now_utc(),
        "uptime_s": round(time.monotonic() - started_monotonic, 1),
        "outbox": outbox,
        "link": link,
        "delivery": delivery,
        "peripherals": peripherals,
        "queues": queues,
        "disk": disk(state_dir),
        "memory": memory(),
        "temperatures": temperatures(),
        "versions": versions(),
    }
