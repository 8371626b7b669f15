"""A Raspberry Pi's sysfs and procfs as files in a folder, and a ``vcgencmd`` as a script.

The layout is the one a Pi 4 with an eMMC (or SD card) shows: the ``cpu-thermal`` zone, the
``rpi_volt`` hwmon, the card under ``/sys/devices/.../mmc0:0001`` with its ``block/mmcblk0``
and partition ``mmcblk0p2``, ``/sys/block/mmcblk0`` and ``/sys/dev/block/MAJ:MIN`` as
symlinks into it. The partition's MAJ:MIN is the real one of ``state_dir``, so the agent
finds "its" card through ``os.stat`` exactly as on a Pi.
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthhub.agent.async_outbox import AsyncOutbox
from healthhub.agent.config import AlertSettings, HealthThresholds
from healthhub.agent.health_monitor import HealthMonitor
from healthhub.agent.outbox import Outbox
from healthhub.agent.pi_health import HealthSources
from healthhub.protocol.sealed import Sealer, generate_keypair

CARD = Path("devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:0001")


@dataclass
class FakePi:
    sys_root: Path
    proc_root: Path
    vcgencmd: Path

    def set_temperature(self, celsius: float) -> None:
        (self.sys_root / "class/thermal/thermal_zone1/temp").write_text(
            f"{round(celsius * 1000)}\n"
        )

    def set_throttled(self, answer: str) -> None:
        """What the fake vcgencmd prints next (it reads this file each time it runs)."""
        (self.vcgencmd.parent / "throttled.txt").write_text(answer)

    def set_wear(self, life_time: str | None, pre_eol: str | None) -> None:
        card = self.sys_root / CARD
        for name, value in (("life_time", life_time), ("pre_eol_info", pre_eol)):
            if value is None:
                (card / name).unlink(missing_ok=True)
            else:
                (card / name).write_text(value + "\n")

    def set_sectors_written(self, sectors: int) -> None:
        stat_line = f"4000 10 320000 900 {900} 50 {sectors} 7000 0 5000 8000 0 0 0 0 0 0\n"
        (self.sys_root / CARD / "block/mmcblk0/stat").write_text(stat_line)

    def config(self) -> dict[str, str]:
        """The device.yaml ``health_sources`` section pointing here."""
        return {
            "sys_root": str(self.sys_root),
            "proc_root": str(self.proc_root),
            "vcgencmd": str(self.vcgencmd),
        }


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_pi(
    root: Path,
    state_dir: Path,
    *,
    celsius: float = 48.5,
    kind: str = "MMC",
    life_time: str | None = "0x01 0x01",
    pre_eol: str | None = "0x01",
    partition: bool = True,
) -> FakePi:
    sys_root, proc_root = root / "sys", root / "proc"
    zones = sys_root / "class/thermal"
    for n, (zone, millidegrees) in enumerate((("gpu-thermal", 39000), ("cpu-thermal", 0))):
        (zones / f"thermal_zone{n}").mkdir(parents=True)
        (zones / f"thermal_zone{n}/type").write_text(zone + "\n")
        (zones / f"thermal_zone{n}/temp").write_text(f"{millidegrees}\n")
    hwmon = sys_root / "class/hwmon/hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text("rpi_volt\n")
    (hwmon / "in0_lcrit_alarm").write_text("0\n")
    card = sys_root / CARD
    disk = card / "block/mmcblk0"
    (disk / "mmcblk0p2").mkdir(parents=True)
    (disk / "mmcblk0p2/partition").write_text("2\n")
    (card / "type").write_text(kind + "\n")
    (card / "name").write_text("BJTD4R\n")
    (disk / "device").symlink_to("../..")
    (sys_root / "block").mkdir()
    (sys_root / "block/mmcblk0").symlink_to(Path("..") / CARD / "block/mmcblk0")
    (sys_root / "dev/block").mkdir(parents=True)
    st_dev = os.stat(state_dir).st_dev
    target = Path("../..") / CARD / "block/mmcblk0" / ("mmcblk0p2" if partition else "")
    (sys_root / f"dev/block/{os.major(st_dev)}:{os.minor(st_dev)}").symlink_to(target)
    (proc_root / "sys/kernel/random").mkdir(parents=True)
    (proc_root / "sys/kernel/random/boot_id").write_text("3f1c9a7e-7d3b-4e8e-9d52-5b2f0c1a9e10\n")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    vcgencmd = write_script(bin_dir / "vcgencmd", f'cat "{bin_dir / "throttled.txt"}"\n')
    pi = FakePi(sys_root, proc_root, vcgencmd)
    pi.set_temperature(celsius)
    pi.set_throttled("throttled=0x0\n")
    pi.set_wear(life_time, pre_eol)
    pi.set_sectors_written(123_456)
    return pi


def health_report(
    root: Path,
    *,
    celsius: float,
    throttled: str = "throttled=0x0\n",
    life_time: str | None = "0x01 0x01",
    pre_eol: str | None = "0x01",
) -> dict[str, Any]:
    """A unit's ``pi_health`` telemetry after one round of the real monitor on a fake Pi at
    ``celsius`` (its alerts go to a real outbox under ``root``)."""
    state_dir = root / "state"
    state_dir.mkdir(parents=True)
    pi = make_pi(root / "pi", state_dir, celsius=celsius, life_time=life_time, pre_eol=pre_eol)
    pi.set_throttled(throttled)
    _, public = generate_keypair()
    outbox = AsyncOutbox(
        Outbox(state_dir / "outbox.sqlite", device="wall-1", site="practice-a",
               sealer=Sealer(public))
    )  # fmt: skip

    async def one_round() -> dict[str, Any]:
        outbox.start()
        monitor = HealthMonitor(
            sources=lambda: HealthSources(pi.sys_root, pi.proc_root, pi.vcgencmd),
            state_dir=state_dir,
            limits=HealthThresholds,
            commit=outbox.take,
            route=AlertSettings().route_for,
        )
        try:
            return await monitor.tick()
        finally:
            await outbox.close()

    return asyncio.run(one_round())
