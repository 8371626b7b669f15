"""Thresholds on the Pi's health: one alert per crossing, cleared with hysteresis, through the
real outbox (sealed to the practice like every alert)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pi_sysfs import FakePi, make_pi

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.config import DEFAULT_ALERT_ROUTES, AlertSettings, HealthThresholds
from healthhub.agent.health_checks import (
    STATE_FILE,
    Finding,
    HealthWatch,
    certificate_expiry,
    findings,
    load_states,
    save_states,
)
from healthhub.agent.health_monitor import HealthMonitor
from healthhub.agent.outbox import NewMessage, Outbox
from healthhub.agent.pi_health import (
    DiskSpace,
    HealthSources,
    PiHealth,
    StorageWear,
    Throttled,
    Unavailable,
)
from healthhub.protocol import canonical
from healthhub.protocol import envelope as wire
from healthhub.protocol.device_health import check_health_alert
from healthhub.protocol.sealed import Opener, Sealer, generate_keypair

SECRET, PUBLIC = generate_keypair()
GB = 1_000_000_000
AT = "2026-11-23T10:00:00.000Z"


def health(
    celsius: float | None = 50.0,
    throttled: int | None = 0,
    storage: StorageWear | None = None,
    free: dict[str, tuple[int, int]] | None = None,
) -> PiHealth:
    return PiHealth(
        cpu_temperature_c=Unavailable("test") if celsius is None else celsius,
        throttled=Unavailable("test") if throttled is None else Throttled(throttled),
        under_voltage_hwmon=Unavailable("test"),
        storage=storage or Unavailable("test"),
        filesystems={
            name: DiskSpace(f"/{name}", f, t)
            for name, (f, t) in (free or {"state": (20 * GB, 32 * GB)}).items()
        },
    )


def levels(watch: HealthWatch) -> dict[str, str]:
    return {check: state.level for check, state in watch.states.items()}


def run(
    watch: HealthWatch,
    readings: PiHealth,
    limits: HealthThresholds | None = None,
    now: float = 0.0,
) -> list[tuple[str, str, str]]:
    limits = limits or HealthThresholds(clear_after_s=0)
    changes = watch.update(
        findings(readings, limits), now=now, at=AT, clear_after_s=limits.clear_after_s
    )
    return [(c.check, c.before.level, c.after) for c in changes if c.check == "cpu_temperature"]


def test_temperature_alerts_once_per_crossing_and_clears_below_the_band() -> None:
    watch = HealthWatch()
    steps = [
        (70.0, []),
        (80.0, [("cpu_temperature", "ok", "warning")]),  # at the threshold: throttling starts
        (83.0, []),
        (79.0, []),  # below 80 but inside the 5 degree band: still warning, no new alert
        (76.0, []),
        (80.5, []),  # back over: the same episode, no second alert
        (75.0, [("cpu_temperature", "warning", "ok")]),  # out of the band: cleared
        (81.0, [("cpu_temperature", "ok", "warning")]),  # a new episode, a new alert
        (85.0, [("cpu_temperature", "warning", "critical")]),  # worse: alerted again
        (82.0, []),  # inside the critical band (80-85)
        (79.5, [("cpu_temperature", "critical", "warning")]),  # eases, no alert
        (60.0, [("cpu_temperature", "warning", "ok")]),
    ]
    for celsius, expected in steps:
        assert run(watch, health(celsius)) == expected, celsius
    assert watch.states["cpu_temperature"].cleared_at == AT


def test_clearing_waits_for_clear_after_s_of_calm() -> None:
    watch = HealthWatch()
    limits = HealthThresholds(clear_after_s=600)
    assert run(watch, health(82.0), limits, now=0) == [("cpu_temperature", "ok", "warning")]
    assert run(watch, health(60.0), limits, now=100) == []
    assert run(watch, health(60.0), limits, now=699) == []
    assert run(watch, health(78.0), limits, now=700) == []  # back in the band: calm starts over
    assert run(watch, health(60.0), limits, now=800) == []
    assert run(watch, health(60.0), limits, now=1399) == []
    assert run(watch, health(60.0), limits, now=1400) == [("cpu_temperature", "warning", "ok")]


def test_a_reading_that_cannot_be_taken_keeps_the_state() -> None:
    watch = HealthWatch()
    run(watch, health(90.0))
    assert run(watch, health(None)) == []
    assert levels(watch)["cpu_temperature"] == "critical"


def uv(watch: HealthWatch, raw: int, mode: str = "since_boot") -> list[tuple[str, str]]:
    limits = HealthThresholds(clear_after_s=0, under_voltage=mode)  # type: ignore[arg-type]
    changes = watch.update(findings(health(throttled=raw), limits), now=0, at=AT, clear_after_s=0)
    return [(c.before.level, c.after) for c in changes if c.check == "under_voltage"]


def test_under_voltage_since_boot_alerts_once_a_boot_however_often_it_dips() -> None:
    watch = HealthWatch()
    assert uv(watch, 0x0) == []
    assert uv(watch, 0x50000) == [("ok", "warning")]  # a dip between two rounds
    assert uv(watch, 0x50005) == [("warning", "critical")]  # caught while it happens: worse
    assert uv(watch, 0x50000) == []  # the firmware's flag holds the worst level this boot
    assert uv(watch, 0x50005) == []
    assert uv(watch, 0x0) == [("critical", "ok")]  # a new boot, or the flag cleared


def test_under_voltage_now_only_and_off() -> None:
    watch = HealthWatch()
    assert uv(watch, 0x50000, "now") == []
    assert uv(watch, 0x50005, "now") == [("ok", "critical")]
    assert uv(watch, 0x50000, "now") == [("critical", "ok")]
    off = HealthWatch()
    assert uv(off, 0x50005, "off") == []
    assert "under_voltage" not in off.states


def wear(life: tuple[int, int] | None, eol: int | None) -> StorageWear:
    return StorageWear("mmcblk0", "MMC", "BJTD4R", life, eol, 0)


@pytest.mark.parametrize(
    ("storage", "level"),
    [
        (wear((0x01, 0x02), 0x01), "ok"),
        (wear((0x01, 0x09), 0x01), "ok"),  # 80-90 % used
        (wear((0x01, 0x0A), 0x01), "warning"),  # 90-100 % used
        (wear((0x03, 0x01), 0x02), "warning"),  # 80 % of the reserved blocks consumed
        (wear((0x0B, 0x01), 0x01), "critical"),  # beyond its estimated life
        (wear((0x01, 0x01), 0x03), "critical"),  # pre-EOL urgent
        (wear(None, 0x02), "warning"),
    ],
)
def test_card_wear_levels(storage: StorageWear, level: str) -> None:
    (found,) = [
        f for f in findings(health(storage=storage), HealthThresholds()) if f.check == "sd_wear"
    ]
    assert found.level == level


def test_an_sd_card_that_says_nothing_of_its_wear_is_not_checked() -> None:
    assert [f.check for f in findings(health(storage=wear(None, None)), HealthThresholds())] == [
        "cpu_temperature",
        "under_voltage",
        "disk_space",
    ]


def disk(free: dict[str, tuple[int, int]], limits: HealthThresholds) -> Finding:
    (found,) = [f for f in findings(health(free=free), limits) if f.check == "disk_space"]
    return found


def test_free_space_below_either_threshold_on_either_file_system() -> None:
    limits = HealthThresholds()  # 10 % or 500 MB
    assert disk({"state": (20 * GB, 32 * GB)}, limits).level == "ok"
    low_share = disk({"state": (3 * GB, 32 * GB)}, limits)
    assert (low_share.level, low_share.value) == ("warning", 9.4)
    assert disk({"state": (400_000_000, 2 * GB)}, limits).level == "warning"  # 20 % but < 500 MB
    root_low = disk({"state": (20 * GB, 32 * GB), "root": (1 * GB, 16 * GB)}, limits)
    assert root_low.level == "warning"
    assert root_low.summary.startswith("root file system 1000 MB free")
    # just above the thresholds: not a new alert, but not cleared either (10 % margin)
    held = disk({"state": (int(3.3 * GB), 32 * GB)}, limits)
    assert (held.level, held.hold) == ("ok", "warning")
    assert disk({"state": (int(3.6 * GB), 32 * GB)}, limits).hold == "ok"


# -- the monitor: real outbox, real fake Pi ----------------------------------------------------


class Unit:
    """A HealthMonitor over a fake Pi, committing to a real outbox."""

    def __init__(self, pi: FakePi, state_dir: Path, limits: HealthThresholds, bound: int) -> None:
        self.pi = pi
        self.limits = limits
        self.outbox = AsyncOutbox(
            Outbox(
                state_dir / "outbox.sqlite",
                device="wall-1",
                site="practice-a",
                sealer=Sealer(PUBLIC),
                max_messages=bound,
            )
        )
        self.state_dir = state_dir

    def monitor(
        self,
        limits: Callable[[], HealthThresholds] | None = None,
        certificate: Callable[[], str | None] = lambda: None,
    ) -> HealthMonitor:
        return HealthMonitor(
            sources=lambda: HealthSources(self.pi.sys_root, self.pi.proc_root, self.pi.vcgencmd),
            state_dir=self.state_dir,
            limits=limits or (lambda: self.limits),
            commit=self.outbox.take,
            route=AlertSettings().route_for,
            certificate=certificate,
        )

    async def alerts(self) -> list[dict[str, Any]]:
        found = []
        for message in await self.outbox.read_after(0, 1000):
            envelope = wire.parse(message.payload)
            assert envelope.stream == "alerts"
            assert envelope.sealed, "an alert is sealed to the practice like every alert"
            found.append({"kind": envelope.kind, **wire.open_body(envelope, Opener(SECRET))})
        return found


@pytest.fixture
def unit(tmp_path: Path) -> Unit:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    return Unit(
        make_pi(tmp_path / "pi", state_dir), state_dir, HealthThresholds(clear_after_s=0), 100
    )


def test_a_crossing_raises_exactly_one_sealed_alert_and_clearing_shows_in_telemetry(
    unit: Unit,
) -> None:
    async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        unit.outbox.start()
        monitor = unit.monitor()
        for celsius in (50.0, 82.0, 83.0, 81.0, 78.0):
            unit.pi.set_temperature(celsius)
            await monitor.tick()
        raised = await unit.alerts()
        hot = dict(monitor.latest)
        unit.pi.set_temperature(60.0)
        await monitor.tick()
        after = await unit.alerts()
        await unit.outbox.close()
        return raised, after, {"hot": hot, "cool": monitor.latest}

    raised, after, shown = asyncio.run(go())
    (alert,) = raised
    assert alert == {
        "kind": "device_health",
        "reason": "device_health",
        "check": "cpu_temperature",
        "level": "warning",
        "value": 82.0,
        "threshold": 80,
        "unit": "Cel",
        "summary": "CPU 82.0 °C (warning at 80 °C, critical at 85 °C)",
        "route": DEFAULT_ALERT_ROUTES["device_health"].model_dump(mode="json"),
    }
    assert alert["route"]["notify"] == ["it-support"]
    check_health_alert({k: v for k, v in alert.items() if k != "kind"})
    assert after == raised, "clearing files no alert"
    hot, cool = shown["hot"], shown["cool"]
    assert hot["checks"]["cpu_temperature"]["level"] == "warning"
    assert hot["alerts_raised"] == 1
    assert cool["checks"]["cpu_temperature"]["level"] == "ok"
    assert cool["checks"]["cpu_temperature"]["cleared_at"] is not None
    assert cool["checks"]["cpu_temperature"]["alert"] is not None  # the episode's alert id
    assert cool["cpu_temperature_c"] == 60.0
    canonical.dumps(cool)


def test_an_agent_restarted_in_the_same_boot_does_not_alert_again(unit: Unit) -> None:
    async def go() -> int:
        unit.outbox.start()
        unit.pi.set_temperature(86.0)
        await unit.monitor().tick()
        await unit.monitor().tick()  # a restart: the states are read back
        kept = load_states(
            unit.state_dir / STATE_FILE, "3f1c9a7e-7d3b-4e8e-9d52-5b2f0c1a9e10", 10.0
        )
        assert kept["cpu_temperature"].level == "critical"
        boot = unit.pi.proc_root / "sys/kernel/random/boot_id"
        boot.write_text("a-new-boot\n")
        await unit.monitor().tick()  # a reboot: starts afresh, and the unit is still hot
        count = len(await unit.alerts())
        await unit.outbox.close()
        return count

    assert asyncio.run(go()) == 2


def test_a_damaged_state_file_starts_afresh(unit: Unit) -> None:
    (unit.state_dir / STATE_FILE).write_text("{not json")
    assert load_states(unit.state_dir / STATE_FILE, "x", 10.0) == {}


def test_without_a_boot_id_a_new_boot_is_told_by_the_boot_clock(tmp_path: Path) -> None:
    """systemd's ProcSubset=pid hides /proc/sys/kernel/random/boot_id from the agent."""
    path = tmp_path / STATE_FILE
    watch = HealthWatch()
    watch.update(findings(health(90.0), HealthThresholds()), now=0, at=AT, clear_after_s=0)
    save_states(path, None, 1000.0, watch)
    assert load_states(path, None, 2000.0)["cpu_temperature"].level == "critical"  # same boot
    assert load_states(path, None, 50.0) == {}  # the boot clock started again: a new boot
    assert load_states(path, "a-boot-id", 2000.0) == {}  # saved without an id, read with one


def test_an_alert_the_full_outbox_refuses_is_raised_when_there_is_room(unit: Unit) -> None:
    unit.outbox = AsyncOutbox(
        Outbox(
            unit.state_dir / "small.sqlite",
            device="wall-1",
            site="practice-a",
            sealer=Sealer(PUBLIC),
            max_messages=2,
        )
    )

    async def go() -> tuple[list[str], list[str]]:
        unit.outbox.start()
        for _ in range(2):
            await unit.outbox.take(
                NewMessage("usage", "session", {"reason": "done"}, taken_at=datetime.now(UTC))
            )
        monitor = unit.monitor()
        unit.pi.set_temperature(84.0)
        await monitor.tick()
        refused = [m.stream for m in await unit.outbox.read_after(0, 10)]
        assert monitor.latest["checks"]["cpu_temperature"]["level"] == "ok"  # not yet told
        await unit.outbox.confirm(2)  # the practice confirmed: room again
        await monitor.tick()
        kept = [m.stream for m in await unit.outbox.read_after(0, 10)]
        await unit.outbox.close()
        return refused, kept

    refused, kept = asyncio.run(go())
    assert refused == ["usage", "usage"]
    assert kept == ["alerts"]


def test_a_defect_in_a_round_is_reported_and_the_agent_goes_on(unit: Unit) -> None:
    def broken() -> HealthThresholds:
        raise RuntimeError("limits gone")

    async def go() -> dict[str, Any]:
        return await unit.monitor(broken).tick()

    shown = asyncio.run(go())
    assert shown["error"] == "RuntimeError: limits gone"


def test_garbage_readings_are_in_telemetry_and_change_nothing(unit: Unit) -> None:
    async def go() -> dict[str, Any]:
        unit.outbox.start()
        unit.pi.set_throttled("garbage\n")
        (unit.pi.sys_root / "class/thermal/thermal_zone1/temp").write_text("??\n")
        monitor = unit.monitor()
        shown = await monitor.tick()
        assert await unit.alerts() == []
        await unit.outbox.close()
        return shown

    shown = asyncio.run(go())
    assert "error" in shown["throttled"]
    assert shown["cpu_temperature_c"] == {"error": "thermal_zone1/temp reads '??'"}


def test_a_certificate_near_its_end_alerts_once_a_step_and_a_renewal_clears_it(
    unit: Unit,
) -> None:
    """Hazard H59: IT hear of an expiring certificate while there is time to rotate it."""
    not_after: list[str | None] = [None]

    def in_days(days: float) -> str:
        return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        unit.outbox.start()
        limits = HealthThresholds(clear_after_s=0)
        monitor = unit.monitor(lambda: limits, certificate=lambda: not_after[0])
        for days in (None, 400, 50, 45, 10, 9, 730):  # enrolled, warned, critical, renewed
            not_after[0] = None if days is None else in_days(days)
            await monitor.tick()
        raised = await unit.alerts()
        await unit.outbox.close()
        return raised, monitor.latest

    raised, latest = asyncio.run(go())
    assert [(a["check"], a["level"], a["threshold"]) for a in raised] == [
        ("certificate_expiry", "warning", 60),
        ("certificate_expiry", "critical", 14),
    ]
    assert raised[1]["value"] == 9
    assert "healthhub-provision rotate" in raised[1]["summary"]
    for alert in raised:
        check_health_alert({k: v for k, v in alert.items() if k != "kind"})
    state = latest["checks"]["certificate_expiry"]
    assert state["level"] == "ok"
    assert state["cleared_at"] is not None


def test_an_expired_or_unreadable_certificate_date() -> None:
    limits = HealthThresholds()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    expired = certificate_expiry("2026-11-20T00:00:00Z", limits, now=now)
    assert expired is not None
    assert expired.level == "critical"
    assert "(expired)" in expired.summary
    assert certificate_expiry("not a date", limits, now=now) is None
    assert certificate_expiry(None, limits, now=now) is None
    with pytest.raises(ValueError, match="certificate_critical_days"):
        HealthThresholds(certificate_warning_days=10, certificate_critical_days=20)
