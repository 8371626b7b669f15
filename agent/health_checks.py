"""Thresholds on the Pi's health, edge-triggered with hysteresis.

Each round, every check turns the readings into a :class:`Finding`: the level the
thresholds give (``ok``, ``warning``, ``critical``) and the level the hysteresis band still
holds (a CPU that reached 80 Cel holds ``warning`` until it is back at 75). A check's state
goes up at once, and that is when an alert is raised (one per step up, never one per
round); it comes down only to what the band holds, and only once that has lasted
``clear_after_s``, which is when the telemetry says it cleared. A reading that cannot be
taken leaves the state as it is.

The states are kept in the state folder with this boot's id, so an agent that restarts
(a restart loop, an update) does not raise the same alert again, while a new boot starts
afresh (the firmware's "since boot" flags start afresh too): :func:`load_states`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from healthhub.agent.config import HealthThresholds
from healthhub.agent.pi_health import DiskSpace, PiHealth, StorageWear, Throttled
from healthhub.protocol import canonical
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.device_health import LEVELS
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.files import write_atomic

log = logging.getLogger(__name__)

STATE_FILE = "health-checks.json"
MB = 1_000_000
#: Free space clears only this far above both thresholds (10 %), so a log rotating at the
#: threshold does not raise and clear every few minutes.
DISK_CLEAR_MARGIN = 1.1


def rank(level: str) -> int:
    return LEVELS.index(level)


@dataclass(frozen=True)
class Finding:
    """What one check makes of this round's readings (no patient data: the unit's own)."""

    check: str
    level: str  # by the thresholds
    hold: str  # the level the hysteresis band still holds (never below ``level``)
    value: float | str | None = None
    threshold: float | str | None = None
    unit: str | None = None
    summary: str = ""


def cpu_temperature(health: PiHealth, limits: HealthThresholds) -> Finding | None:
    celsius = health.cpu_temperature_c
    if not isinstance(celsius, float):
        return None
    margin = limits.cpu_hysteresis_c
    if celsius >= limits.cpu_critical_c:
        level, threshold = "critical", limits.cpu_critical_c
    elif celsius >= limits.cpu_warning_c:
        level, threshold = "warning", limits.cpu_warning_c
    else:
        level, threshold = "ok", limits.cpu_warning_c
    if celsius > limits.cpu_critical_c - margin:
        hold = "critical"
    elif celsius > limits.cpu_warning_c - margin:
        hold = "warning"
    else:
        hold = "ok"  # the band is never below the level: margin > 0
    return Finding(
        "cpu_temperature",
        level,
        hold,
        round(celsius, 1),
        threshold,
        "Cel",
        f"CPU {celsius:.1f} °C (warning at {limits.cpu_warning_c:g} °C, "
        f"critical at {limits.cpu_critical_c:g} °C)",
    )


def under_voltage(health: PiHealth, limits: HealthThresholds) -> Finding | None:
    if limits.under_voltage == "off":
        return None
    flags = health.under_voltage()
    if flags is None:
        return None
    now, since_boot = flags
    sticky = since_boot and limits.under_voltage == "since_boot"
    if now:
        level, summary = "critical", "under-voltage now: check the power supply and cable"
    elif sticky:
        level, summary = "warning", "under-voltage has occurred since boot: check the supply"
    else:
        level, summary = "ok", "no under-voltage"
    # The firmware's flag stays set until the next boot, and so does the worst level seen:
    # a supply that dips now and then raises one alert a boot, not one a dip.
    hold = "critical" if now or sticky else "ok"
    throttled = health.throttled
    raw = f"0x{throttled.raw:x}" if isinstance(throttled, Throttled) else None
    return Finding("under_voltage", level, hold, raw, None, None, summary)


def sd_wear(health: PiHealth, limits: HealthThresholds) -> Finding | None:
    storage = health.storage
    if not isinstance(storage, StorageWear):
        return None
    used, eol = storage.life_used_percent, storage.pre_eol
    if used is None and eol in (None, 0):
        return None  # an SD card: Linux shows nothing of its wear
    if eol == 0x03 or (used is not None and used >= 100):
        level = "critical"
    elif eol == 0x02 or (used is not None and used >= limits.sd_life_used_percent):
        level = "warning"
    else:
        level = "ok"
    shown = "-" if used is None else f"{used}%"
    wear = storage.to_json()["pre_eol"]
    return Finding(
        "sd_wear",
        level,
        level,
        used,
        limits.sd_life_used_percent,
        "%",
        f"{storage.device}: life used at least {shown}, pre-EOL {wear} "
        f"(warning from {limits.sd_life_used_percent}% or pre-EOL warning)",
    )


def _short_of(space: DiskSpace, limits: HealthThresholds, margin: float = 1.0) -> bool:
    return (
        space.free_percent < limits.disk_free_min_percent * margin
        or space.free_bytes < limits.disk_free_min_mb * MB * margin
    )


def disk_space(health: PiHealth, limits: HealthThresholds) -> Finding | None:
    if not isinstance(health.filesystems, dict) or not health.filesystems:
        return None
    name, worst = min(health.filesystems.items(), key=lambda item: item[1].free_percent)
    short = [s for s in health.filesystems.values() if _short_of(s, limits)]
    held = [s for s in health.filesystems.values() if _short_of(s, limits, DISK_CLEAR_MARGIN)]
    if short:
        worst = min(short, key=lambda s: s.free_percent)
        name = next(n for n, s in health.filesystems.items() if s is worst)
    return Finding(
        "disk_space",
        "warning" if short else "ok",
        "warning" if held else "ok",
        round(worst.free_percent, 1),
        limits.disk_free_min_percent,
        "%",
        f"{name} file system {worst.free_bytes / MB:.0f} MB free ({worst.free_percent:.1f}%; "
        f"warning below {limits.disk_free_min_percent:g}% or {limits.disk_free_min_mb:g} MB)",
    )


CHECKS = (cpu_temperature, under_voltage, sd_wear, disk_space)
DAY_S = 86_400


def certificate_expiry(
    not_after: str | None, limits: HealthThresholds, *, now: datetime
) -> Finding | None:
    """The unit's client certificate nearing its end: past it the broker refuses the unit and
    readings wait in the outbox until someone visits (hazard H59)."""
    if not not_after:
        return None
    try:
        ends = parse_utc(not_after)
    except ProtocolError:
        return None
    days = (ends - now).total_seconds() / DAY_S
    if days <= limits.certificate_critical_days:
        level, threshold = "critical", limits.certificate_critical_days
    elif days <= limits.certificate_warning_days:
        level, threshold = "warning", limits.certificate_warning_days
    else:
        level, threshold = "ok", limits.certificate_warning_days
    left = "expired" if days < 0 else f"{int(days)} days left"
    return Finding(
        "certificate_expiry",
        level,
        level,  # a renewal moves it far from the threshold: no band needed
        int(days),
        threshold,
        "d",
        f"client certificate expires {ends:%Y-%m-%d} ({left}): renew it with "
        "`healthhub-provision rotate` while the unit is online",
    )


def findings(health: PiHealth, limits: HealthThresholds) -> list[Finding]:
    """Every check this unit can make this round (a check whose readings are missing is
    left out, and keeps its state)."""
    return [found for check in CHECKS if (found := check(health, limits)) is not None]


@dataclass
class CheckState:
    level: str = "ok"
    since: str | None = None  # when it reached this level
    alert: str | None = None  # the alert raised when it last went up
    cleared_at: str | None = None  # when it last came back to ok
    calm_since: float | None = None  # monotonic: since when the band allows stepping down


@dataclass(frozen=True)
class Change:
    """A check's state moved; ``worse`` ones raise an alert."""

    check: str
    before: CheckState
    after: str
    finding: Finding

    @property
    def worse(self) -> bool:
        return rank(self.after) > rank(self.before.level)


@dataclass
class HealthWatch:
    """The checks' states, moved by each round's findings."""

    states: dict[str, CheckState] = field(default_factory=dict)

    def update(
        self, found: list[Finding], *, now: float, at: str, clear_after_s: float
    ) -> list[Change]:
        changes = []
        for finding in found:
            state = self.states.setdefault(finding.check, CheckState())
            before = replace(state)
            if rank(finding.level) > rank(state.level):
                state.level, state.since, state.calm_since = finding.level, at, None
                changes.append(Change(finding.check, before, finding.level, finding))
            elif rank(finding.hold) < rank(state.level):
                if state.calm_since is None:
                    state.calm_since = now
                if now - state.calm_since >= clear_after_s:
                    state.level, state.since, state.calm_since = finding.hold, at, None
                    if finding.hold == "ok":
                        state.cleared_at = at
                    changes.append(Change(finding.check, before, finding.hold, finding))
            else:
                state.calm_since = None
        return changes

    def undo(self, change: Change) -> None:
        """Forget a step up whose alert could not be stored: the next round tries again."""
        self.states[change.check] = change.before

    def alerted(self, change: Change, alert_id: str) -> None:
        self.states[change.check].alert = alert_id

    def to_json(self) -> dict[str, Any]:
        return {
            check: {k: v for k, v in asdict(state).items() if k != "calm_since"}
            for check, state in sorted(self.states.items())
        }


def load_states(path: Path, boot: str | None, boottime_s: float) -> dict[str, CheckState]:
    """The states kept by an agent that ran earlier in this boot; none if the file is from
    another boot, missing, or unreadable (then the checks start afresh, which at worst
    raises an alert again).

    This boot is known by its ``boot_id``; where the agent may not read it (systemd's
    ``ProcSubset=pid`` hides ``/proc/sys``), by CLOCK_BOOTTIME, which starts again at every
    boot: a file saved later in its boot than now is from another boot. (One saved in the
    first seconds of the last boot, read later in this one, is taken for this boot's: the
    alert it raised is still listed at the practice.)"""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("health check states in %s not read (%s); starting afresh", path, exc)
        return {}
    if not isinstance(kept, dict):
        return {}
    if boot is not None or kept.get("boot_id") is not None:
        if kept.get("boot_id") != boot:
            return {}
    else:
        saved = kept.get("boottime_s")
        if not isinstance(saved, int | float) or saved > boottime_s:
            return {}
    states: dict[str, CheckState] = {}
    for check, entry in (kept.get("checks") or {}).items():
        if not isinstance(entry, dict) or entry.get("level") not in LEVELS:
            continue
        states[str(check)] = CheckState(
            level=entry["level"],
            since=entry.get("since") if isinstance(entry.get("since"), str) else None,
            alert=entry.get("alert") if isinstance(entry.get("alert"), str) else None,
            cleared_at=entry.get("cleared_at")
            if isinstance(entry.get("cleared_at"), str)
            else None,
        )
    return states


def save_states(path: Path, boot: str | None, boottime_s: float, watch: HealthWatch) -> None:
    document = {"boot_id": boot, "boottime_s": round(boottime_s, 3), "checks": watch.to_json()}
    write_atomic(path, canonical.dumps(document), mode=0o600)
