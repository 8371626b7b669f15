"""The Raspberry Pi's own health: CPU temperature, throttling and under-voltage, SD card wear
and free space.

Every source is injectable (:class:`HealthSources`: a sysfs root, a procfs root, the
``vcgencmd`` path), so the tests read a fake tree and run a fake ``vcgencmd`` through the
same code that reads a Pi. A source this machine does not have (no ``cpu-thermal`` zone, no
``vcgencmd``: not a Pi, or a card that says nothing of its wear) is :class:`Unavailable`,
which is not an error. A source that answers nonsense, or does not answer in time, becomes a
:class:`ReadFailed` carrying the :class:`HealthReadingError`'s message: it is reported in
telemetry, and :func:`read_health` never raises it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from healthhub.protocol.errors import HealthHubError

T = TypeVar("T")
P = ParamSpec("P")

CPU_ZONE = "cpu-thermal"  # the SoC's thermal zone on every Raspberry Pi kernel
#: Where the state folder lives when its block device cannot be found (the Pi's SD card).
FALLBACK_DISK = "mmcblk0"
#: Longest answer read from vcgencmd; its real answer is one short line.
MAX_VCGENCMD_OUTPUT = 4096

#: ``vcgencmd get_throttled``: a bit set means the condition. Raspberry Pi documentation,
#: "Raspberry Pi OS" > "vcgencmd" > "get_throttled"
#: (https://www.raspberrypi.com/documentation/computers/os.html#get_throttled); bits 0-2 and
#: 16-18 are also in the Linux firmware interface (include/soc/bcm2835/raspberrypi-firmware.h,
#: commit be3035e3627d: "lower 16-bits are the live value, upper 16-bits are the history or
#: sticky value").
#:
#: ===  =======  ==========================================
#: bit  value    meaning
#: ===  =======  ==========================================
#: 0    0x1      under-voltage detected (now)
#: 1    0x2      Arm frequency capped (now)
#: 2    0x4      currently throttled
#: 3    0x8      soft temperature limit active (now)
#: 16   0x10000  under-voltage has occurred (since boot)
#: 17   0x20000  Arm frequency capping has occurred
#: 18   0x40000  throttling has occurred
#: 19   0x80000  soft temperature limit has occurred
#: ===  =======  ==========================================
THROTTLED_BITS: dict[int, str] = {
    0: "under_voltage",
    1: "arm_frequency_capped",
    2: "throttled",
    3: "soft_temperature_limit",
}
SINCE_BOOT_SHIFT = 16
_THROTTLED = re.compile(r"throttled=0x([0-9a-fA-F]{1,8})")

#: eMMC life time estimation (JEDEC JESD84-B50, EXT_CSD[268] DEVICE_LIFE_TIME_EST_TYP_A and
#: [269] TYP_B), shown by Linux as ``life_time`` "0x%02x 0x%02x" (drivers/mmc/core/mmc.c):
#: 0x01 means 0-10 % of the device's life used, each step 10 % more, 0x0A 90-100 %, 0x0B
#: beyond its estimated life; 0x00 not defined. SD cards (``device/type`` "SD") show neither.
LIFE_TIME_EXCEEDED = 0x0B
#: EXT_CSD[267] PRE_EOL_INFO, Linux ``pre_eol_info``: reserved blocks consumed.
PRE_EOL = {0x00: "undefined", 0x01: "normal", 0x02: "warning", 0x03: "urgent"}
#: /sys/block/<dev>/stat counts in 512-byte sectors whatever the device's own sector size
#: (Linux Documentation/block/stat.rst); field 7 is sectors written.
STAT_SECTOR_BYTES = 512
STAT_SECTORS_WRITTEN = 6


class HealthReadingError(HealthHubError):
    """A health source answered something that cannot be read, or did not answer in time."""


@dataclass(frozen=True)
class Unavailable:
    """This machine does not have the source (not a Pi, an SD card that reports no wear)."""

    why: str

    def to_json(self) -> dict[str, Any]:
        return {"unavailable": self.why}


@dataclass(frozen=True)
class ReadFailed:
    """The source is there but its answer could not be read."""

    error: str

    def to_json(self) -> dict[str, Any]:
        return {"error": self.error}


@dataclass(frozen=True)
class HealthSources:
    """Where the readings come from; the defaults are a real Pi's."""

    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    vcgencmd: Path | None = Path("/usr/bin/vcgencmd")
    vcgencmd_timeout_s: float = 2.0


@dataclass(frozen=True)
class Throttled:
    """A decoded ``get_throttled`` value."""

    raw: int

    def now(self, condition: str) -> bool:
        return any(self.raw >> bit & 1 for bit, name in THROTTLED_BITS.items() if name == condition)

    def since_boot(self, condition: str) -> bool:
        return any(
            self.raw >> (bit + SINCE_BOOT_SHIFT) & 1
            for bit, name in THROTTLED_BITS.items()
            if name == condition
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": f"0x{self.raw:x}",
            "now": [name for bit, name in THROTTLED_BITS.items() if self.raw >> bit & 1],
            "since_boot": [
                name
                for bit, name in THROTTLED_BITS.items()
                if self.raw >> (bit + SINCE_BOOT_SHIFT) & 1
            ],
        }


def decode_throttled(text: str) -> Throttled:
    """``throttled=0x50005`` (one line, as vcgencmd prints it) decoded; anything else is a
    :class:`HealthReadingError`. Bits the table does not name are kept in ``raw``."""
    match = _THROTTLED.fullmatch(text.strip())
    if match is None:
        shown = text.strip()[:40].encode("ascii", "backslashreplace").decode("ascii")
        raise HealthReadingError(f"vcgencmd get_throttled answered {shown!r}, not throttled=0x...")
    return Throttled(int(match.group(1), 16))


def run_vcgencmd(path: Path, timeout_s: float) -> str:
    """``vcgencmd get_throttled``'s answer; :class:`HealthReadingError` if it fails or takes
    longer than ``timeout_s`` (then it is killed with everything it started)."""
    try:
        process = subprocess.Popen(
            [str(path), "get_throttled"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout kills its children
        )
    except PermissionError:
        raise HealthReadingError(f"{path} cannot be run (permission denied)") from None
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have ended just now
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise HealthReadingError(f"vcgencmd did not answer within {timeout_s:g} s") from None
    if process.returncode != 0:
        why = err.decode("ascii", "replace").strip().splitlines()[:1]
        detail = f": {why[0][:80]}" if why else ""
        raise HealthReadingError(f"vcgencmd exited with status {process.returncode}{detail}")
    if len(out) > MAX_VCGENCMD_OUTPUT:
        raise HealthReadingError(f"vcgencmd answered {len(out)} bytes, not one line")
    return out.decode("ascii", "replace")


def read_throttled(sources: HealthSources) -> Throttled | Unavailable:
    if sources.vcgencmd is None:
        return Unavailable("vcgencmd not configured")
    if not sources.vcgencmd.exists():
        return Unavailable(f"no vcgencmd at {sources.vcgencmd} (not a Raspberry Pi)")
    return decode_throttled(run_vcgencmd(sources.vcgencmd, sources.vcgencmd_timeout_s))


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        raise HealthReadingError(f"{path} is not text") from None


def read_under_voltage_hwmon(sources: HealthSources) -> bool | Unavailable:
    """The kernel's own under-voltage flag (hwmon ``rpi_volt``, ``in0_lcrit_alarm``: the
    firmware's sticky under-voltage bit, polled every 2 s by drivers/hwmon/raspberrypi-hwmon.c).
    It needs no access to the VideoCore, so it works where vcgencmd is not allowed."""
    for hwmon in sorted((sources.sys_root / "class" / "hwmon").glob("hwmon*")):
        try:
            if _text(hwmon / "name") != "rpi_volt":
                continue
            alarm = _text(hwmon / "in0_lcrit_alarm")
        except FileNotFoundError:
            continue
        if alarm not in ("0", "1"):
            raise HealthReadingError(f"{hwmon.name}/in0_lcrit_alarm reads {alarm[:20]!r}")
        return alarm == "1"
    return Unavailable("no rpi_volt hwmon")


def read_cpu_temperature(sources: HealthSources) -> float | Unavailable:
    """The SoC's temperature in Cel (thermal zone ``cpu-thermal``)."""
    for zone in sorted((sources.sys_root / "class" / "thermal").glob("thermal_zone*")):
        try:
            if _text(zone / "type") != CPU_ZONE:
                continue
            text = _text(zone / "temp")
        except FileNotFoundError:
            continue
        try:
            millidegrees = int(text)
        except ValueError:
            raise HealthReadingError(f"{zone.name}/temp reads {text[:20]!r}") from None
        celsius = millidegrees / 1000
        if not -40 <= celsius <= 150:
            raise HealthReadingError(f"{zone.name}/temp reads an impossible {celsius:g} Cel")
        return celsius
    return Unavailable(f"no thermal zone {CPU_ZONE}")


@dataclass(frozen=True)
class StorageWear:
    """What Linux shows of the card or chip holding the state folder."""

    device: str
    kind: str | None  # "SD", "MMC" (eMMC) ...: device/type
    name: str | None  # the card's product name (CID) or the disk's model
    life_time: tuple[int, int] | None  # EXT_CSD life time estimates A and B
    pre_eol: int | None
    written_bytes: int | None  # since boot

    @property
    def life_used_percent(self) -> int | None:
        """The lower bound of life used by the worse estimate (0x0A: 90, 0x0B: 100)."""
        if self.life_time is None:
            return None
        worst = max(self.life_time)
        return None if worst == 0 else min(worst - 1, 10) * 10

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "type": self.kind,
            "name": self.name,
            "life_time": None
            if self.life_time is None
            else [f"0x{value:02x}" for value in self.life_time],
            "life_used_percent": self.life_used_percent,
            "pre_eol": None if self.pre_eol is None else PRE_EOL.get(self.pre_eol, "reserved"),
            "written_bytes_since_boot": self.written_bytes,
        }


def block_device_of(path: Path, sources: HealthSources) -> str | None:
    """The whole disk (``mmcblk0``, not ``mmcblk0p2``) holding ``path``, via its st_dev and
    ``/sys/dev/block/MAJ:MIN``; None if sysfs does not know it (overlay, tmpfs)."""
    st_dev = os.stat(path).st_dev
    link = sources.sys_root / "dev" / "block" / f"{os.major(st_dev)}:{os.minor(st_dev)}"
    try:
        device = link.resolve(strict=True)
    except (FileNotFoundError, RuntimeError):
        return None
    return device.parent.name if (device / "partition").exists() else device.name


def _optional_text(path: Path) -> str | None:
    try:
        return _text(path) or None
    except FileNotFoundError:
        return None


def _hex_byte(text: str, what: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise HealthReadingError(f"{what} reads {text[:20]!r}") from None
    if not 0 <= value <= 0xFF:
        raise HealthReadingError(f"{what} reads {text[:20]!r}, not one byte")
    return value


def read_storage(state_dir: Path, sources: HealthSources) -> StorageWear | Unavailable:
    disk = block_device_of(state_dir, sources)
    if disk is None and (sources.sys_root / "block" / FALLBACK_DISK).exists():
        disk = FALLBACK_DISK
    if disk is None:
        return Unavailable("the state folder's block device is not in sysfs")
    base = sources.sys_root / "block" / disk
    device = base / "device"
    life = _optional_text(device / "life_time")
    life_time = None
    if life is not None:
        parts = life.split()
        if len(parts) != 2:
            raise HealthReadingError(f"{disk} life_time reads {life[:20]!r}, not two values")
        a, b = (_hex_byte(part, f"{disk} life_time") for part in parts)
        life_time = (a, b)
    eol = _optional_text(device / "pre_eol_info")
    stat = _optional_text(base / "stat")
    written = None
    if stat is not None:
        fields = stat.split()
        if len(fields) <= STAT_SECTORS_WRITTEN or not fields[STAT_SECTORS_WRITTEN].isdigit():
            raise HealthReadingError(f"{disk}/stat has no sectors-written field")
        written = int(fields[STAT_SECTORS_WRITTEN]) * STAT_SECTOR_BYTES
    return StorageWear(
        device=disk,
        kind=_optional_text(device / "type"),
        name=_optional_text(device / "name") or _optional_text(device / "model"),
        life_time=life_time,
        pre_eol=None if eol is None else _hex_byte(eol, f"{disk} pre_eol_info"),
        written_bytes=written,
    )


@dataclass(frozen=True)
class DiskSpace:
    path: str
    free_bytes: int
    total_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "free_bytes": self.free_bytes,
            "total_bytes": self.total_bytes,
            "free_percent": round(self.free_percent, 1),
        }


def disk_space(path: Path) -> DiskSpace:
    usage = shutil.disk_usage(path)  # free = what an unprivileged user may still write
    return DiskSpace(str(path), usage.free, usage.total)


def filesystems(state_dir: Path) -> dict[str, DiskSpace]:
    """The state folder's file system, and the root's if it is another one."""
    found = {"state": disk_space(state_dir)}
    if os.stat("/").st_dev != os.stat(state_dir).st_dev:
        found["root"] = disk_space(Path("/"))
    return found


def boot_id(sources: HealthSources) -> str | None:
    """This boot's id (``/proc/sys/kernel/random/boot_id``): what a state kept "since boot"
    belongs to."""
    try:
        return _text(sources.proc_root / "sys" / "kernel" / "random" / "boot_id") or None
    except (OSError, HealthReadingError):
        return None


def attempt(read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | ReadFailed:
    """``read(*args)``, or what went wrong as a :class:`ReadFailed`."""
    try:
        return read(*args, **kwargs)
    except HealthReadingError as exc:
        return ReadFailed(str(exc))
    except OSError as exc:
        return ReadFailed(f"{type(exc).__name__}: {exc.strerror or exc}")


@dataclass(frozen=True)
class PiHealth:
    cpu_temperature_c: float | Unavailable | ReadFailed
    throttled: Throttled | Unavailable | ReadFailed
    under_voltage_hwmon: bool | Unavailable | ReadFailed
    storage: StorageWear | Unavailable | ReadFailed
    filesystems: dict[str, DiskSpace] | ReadFailed

    def under_voltage(self) -> tuple[bool, bool] | None:
        """(now, since boot), from vcgencmd, else the kernel's flag (which is only "now");
        None when neither source can say."""
        if isinstance(self.throttled, Throttled):
            return self.throttled.now("under_voltage"), self.throttled.since_boot("under_voltage")
        if isinstance(self.under_voltage_hwmon, bool):
            return self.under_voltage_hwmon, False
        return None

    def to_json(self) -> dict[str, Any]:
        def shown(value: Any) -> Any:
            return value.to_json() if hasattr(value, "to_json") else value

        return {
            "cpu_temperature_c": shown(self.cpu_temperature_c),
            "throttled": shown(self.throttled),
            "under_voltage_hwmon": shown(self.under_voltage_hwmon),
            "storage": shown(self.storage),
            "filesystems": self.filesystems.to_json()
            if isinstance(self.filesystems, ReadFailed)
            else {name: space.to_json() for name, space in self.filesystems.items()},
        }


def read_health(state_dir: Path, sources: HealthSources) -> PiHealth:
    """Every reading, each on its own: one source failing never hides the others."""
    return PiHealth(
        cpu_temperature_c=attempt(read_cpu_temperature, sources),
        throttled=attempt(read_throttled, sources),
        under_voltage_hwmon=attempt(read_under_voltage_hwmon, sources),
        storage=attempt(read_storage, state_dir, sources),
        filesystems=attempt(filesystems, state_dir),
    )
