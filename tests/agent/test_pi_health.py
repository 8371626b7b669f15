"""Reading the Pi's health from a sysfs tree and a real ``vcgencmd`` process.

The tree is a Pi's layout in tmp_path (``tests/pi_sysfs.py``); ``vcgencmd`` is a shell
script run as a real subprocess, answering as the firmware does, with garbage, with an
error, or not at all.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pi_sysfs import FakePi, make_pi, write_script

from healthhub.agent.pi_health import (
    HealthReadingError,
    HealthSources,
    ReadFailed,
    StorageWear,
    Throttled,
    Unavailable,
    decode_throttled,
    read_cpu_temperature,
    read_health,
    read_storage,
    read_throttled,
    read_under_voltage_hwmon,
)
from healthhub.protocol import canonical


def sources(pi: FakePi, *, timeout_s: float = 10.0) -> HealthSources:
    return HealthSources(pi.sys_root, pi.proc_root, pi.vcgencmd, timeout_s)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def pi(tmp_path: Path, state_dir: Path) -> FakePi:
    return make_pi(tmp_path / "pi", state_dir)


# -- get_throttled: the documented bits ----------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "now", "since_boot"),
    [
        ("throttled=0x0", [], []),
        ("throttled=0x50000", [], ["under_voltage", "throttled"]),
        ("throttled=0x50005", ["under_voltage", "throttled"], ["under_voltage", "throttled"]),
        ("throttled=0x80008", ["soft_temperature_limit"], ["soft_temperature_limit"]),
        ("throttled=0x20002", ["arm_frequency_capped"], ["arm_frequency_capped"]),
        (
            "throttled=0xf000f\n",
            ["under_voltage", "arm_frequency_capped", "throttled", "soft_temperature_limit"],
            ["under_voltage", "arm_frequency_capped", "throttled", "soft_temperature_limit"],
        ),
        ("throttled=0xE0000", [], ["arm_frequency_capped", "throttled", "soft_temperature_limit"]),
        ("throttled=0x100", [], []),  # a bit the table does not name is kept in raw only
    ],
)
def test_every_documented_bit_is_decoded(
    answer: str, now: list[str], since_boot: list[str]
) -> None:
    decoded = decode_throttled(answer)
    assert decoded.to_json()["now"] == now
    assert decoded.to_json()["since_boot"] == since_boot
    assert decoded.to_json()["raw"] == answer.strip().split("=")[1].lower()


def test_under_voltage_now_and_since_boot_are_separate() -> None:
    occurred = decode_throttled("throttled=0x10000")
    assert (occurred.now("under_voltage"), occurred.since_boot("under_voltage")) == (False, True)
    live = decode_throttled("throttled=0x1")
    assert (live.now("under_voltage"), live.since_boot("under_voltage")) == (True, False)


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "throttled=",
        "throttled=0x",
        "throttled=50005",
        "throttled=0xZZ",
        "throttled=0x123456789",  # more than 32 bits
        "throttled=0x0\nthrottled=0x5",
        'error=1 error_msg="Command not registered"',
        "VCHI initialization failed",
        "throttled=0x0 extra",
    ],
)
def test_anything_but_one_throttled_line_is_a_reading_error(answer: str) -> None:
    with pytest.raises(HealthReadingError, match="get_throttled answered"):
        decode_throttled(answer)


@given(st.text(max_size=64))
def test_any_text_decodes_or_is_a_reading_error(text: str) -> None:
    try:
        decoded = decode_throttled(text)
    except HealthReadingError:
        return
    assert 0 <= decoded.raw <= 0xFFFFFFFF


# -- vcgencmd as a real process --------------------------------------------------------------


def test_vcgencmd_is_run_and_its_answer_decoded(pi: FakePi) -> None:
    pi.set_throttled("throttled=0x50005\n")
    found = read_throttled(sources(pi))
    assert found == Throttled(0x50005)
    pi.set_throttled("throttled=0x0\n")
    assert read_throttled(sources(pi)) == Throttled(0)


def test_garbage_from_vcgencmd_is_a_typed_error_in_the_reading(pi: FakePi, state_dir: Path) -> None:
    pi.set_throttled("\x00\xff garbage \x1b[2J\n")
    health = read_health(state_dir, sources(pi))
    assert isinstance(health.throttled, ReadFailed)
    assert "not throttled=0x" in health.throttled.error
    assert health.cpu_temperature_c == 48.5  # the other readings are still there
    canonical.dumps(health.to_json())  # and the whole is a telemetry-safe document


def test_a_vcgencmd_that_fails_reports_its_status_and_first_error_line(
    pi: FakePi, state_dir: Path
) -> None:
    write_script(pi.vcgencmd, 'echo "VCHI initialization failed" >&2\nexit 255\n')
    health = read_health(state_dir, sources(pi))
    assert health.throttled == ReadFailed(
        "vcgencmd exited with status 255: VCHI initialization failed"
    )


def test_a_vcgencmd_that_hangs_is_killed_with_its_children(pi: FakePi, tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    # Not `exec sleep`: the shell's child keeps the pipe open, as a wedged helper would.
    write_script(pi.vcgencmd, f'sleep 300 &\necho $! > "{child}"\nwait\n')
    # 2 s: time enough, on a loaded machine, for the script to write its child's pid first.
    health = read_health(tmp_path, sources(pi, timeout_s=2.0))
    assert health.throttled == ReadFailed("vcgencmd did not answer within 2 s")
    pid = int(child.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, f"vcgencmd's child {pid} outlived the timeout"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: its parent (the killed shell) is gone and init reaps it
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_no_vcgencmd_is_unavailable_not_an_error(pi: FakePi, state_dir: Path) -> None:
    absent = HealthSources(pi.sys_root, pi.proc_root, pi.sys_root / "no-such-vcgencmd")
    health = read_health(state_dir, absent)
    assert isinstance(health.throttled, Unavailable)
    assert "not a Raspberry Pi" in health.throttled.why
    assert health.to_json()["throttled"] == {"unavailable": health.throttled.why}
    off = HealthSources(pi.sys_root, pi.proc_root, None)
    assert read_throttled(off) == Unavailable("vcgencmd not configured")


def test_a_vcgencmd_that_cannot_be_run_is_a_reading_error(pi: FakePi, state_dir: Path) -> None:
    pi.vcgencmd.chmod(0o644)
    health = read_health(state_dir, sources(pi))
    assert isinstance(health.throttled, ReadFailed)
    assert "permission denied" in health.throttled.error


# -- sysfs -------------------------------------------------------------------------------------


def test_the_cpu_thermal_zone_is_read_not_the_first_zone(pi: FakePi) -> None:
    pi.set_temperature(81.234)
    assert read_cpu_temperature(sources(pi)) == 81.234


def test_no_cpu_zone_is_unavailable_and_a_bad_one_an_error(pi: FakePi, tmp_path: Path) -> None:
    zone = pi.sys_root / "class/thermal/thermal_zone1"
    (zone / "temp").write_text("hot\n")
    with pytest.raises(HealthReadingError, match="reads 'hot'"):
        read_cpu_temperature(sources(pi))
    (zone / "temp").write_text("2147483647\n")  # what a broken sensor driver shows
    with pytest.raises(HealthReadingError, match="impossible"):
        read_cpu_temperature(sources(pi))
    (zone / "type").write_text("soc-thermal\n")
    assert read_cpu_temperature(sources(pi)) == Unavailable("no thermal zone cpu-thermal")
    empty = HealthSources(tmp_path / "empty", tmp_path / "empty", None)
    assert read_cpu_temperature(empty) == Unavailable("no thermal zone cpu-thermal")


def test_the_kernel_under_voltage_flag_is_read_where_vcgencmd_is_not_allowed(pi: FakePi) -> None:
    flag = pi.sys_root / "class/hwmon/hwmon0/in0_lcrit_alarm"
    assert read_under_voltage_hwmon(sources(pi)) is False
    flag.write_text("1\n")
    assert read_under_voltage_hwmon(sources(pi)) is True
    flag.write_text("yes\n")
    with pytest.raises(HealthReadingError):
        read_under_voltage_hwmon(sources(pi))


def test_the_state_folders_card_is_found_with_its_wear_and_writes(
    pi: FakePi, state_dir: Path
) -> None:
    pi.set_wear("0x02 0x0A", "0x02")
    pi.set_sectors_written(2_000_000)
    found = read_storage(state_dir, sources(pi))
    assert found == StorageWear(
        device="mmcblk0",
        kind="MMC",
        name="BJTD4R",
        life_time=(0x02, 0x0A),
        pre_eol=0x02,
        written_bytes=2_000_000 * 512,
    )
    assert found.life_used_percent == 90
    assert found.to_json()["pre_eol"] == "warning"
    assert found.to_json()["life_time"] == ["0x02", "0x0a"]


def test_a_whole_disk_without_partitions_is_found_too(tmp_path: Path, state_dir: Path) -> None:
    pi = make_pi(tmp_path / "pi", state_dir, partition=False)
    found = read_storage(state_dir, sources(pi))
    assert isinstance(found, StorageWear)
    assert found.device == "mmcblk0"


def test_an_sd_card_reports_no_wear_and_beyond_life_is_100(pi: FakePi, state_dir: Path) -> None:
    pi.set_wear(None, None)
    found = read_storage(state_dir, sources(pi))
    assert isinstance(found, StorageWear)
    assert (found.life_time, found.pre_eol, found.life_used_percent) == (None, None, None)
    pi.set_wear("0x0b 0x03", "0x03")
    worn = read_storage(state_dir, sources(pi))
    assert isinstance(worn, StorageWear)
    assert worn.life_used_percent == 100
    assert worn.to_json()["pre_eol"] == "urgent"


def test_without_a_link_for_the_state_folder_the_sd_card_is_assumed(
    pi: FakePi, state_dir: Path
) -> None:
    for link in (pi.sys_root / "dev/block").iterdir():
        link.unlink()
    found = read_storage(state_dir, sources(pi))
    assert isinstance(found, StorageWear)
    assert found.device == "mmcblk0"
    (pi.sys_root / "block/mmcblk0").unlink()
    assert isinstance(read_storage(state_dir, sources(pi)), Unavailable)


@pytest.mark.parametrize(
    ("life_time", "pre_eol", "error"),
    [
        ("0x01", "0x01", "not two values"),
        ("0x01 zz", "0x01", "life_time reads 'zz'"),
        ("0x01 0x100", "0x01", "not one byte"),
        ("0x01 0x01", "normal", "pre_eol_info reads 'normal'"),
    ],
)
def test_wear_that_cannot_be_read_is_a_reading_error(
    pi: FakePi, state_dir: Path, life_time: str, pre_eol: str, error: str
) -> None:
    pi.set_wear(life_time, pre_eol)
    health = read_health(state_dir, sources(pi))
    assert isinstance(health.storage, ReadFailed)
    assert error in health.storage.error


def test_the_whole_reading_as_telemetry_shows_it(pi: FakePi, state_dir: Path) -> None:
    pi.set_throttled("throttled=0x50005\n")
    shown = canonical.loads(canonical.dumps(read_health(state_dir, sources(pi)).to_json()))
    assert shown["cpu_temperature_c"] == 48.5
    assert shown["throttled"] == {
        "raw": "0x50005",
        "now": ["under_voltage", "throttled"],
        "since_boot": ["under_voltage", "throttled"],
    }
    assert shown["under_voltage_hwmon"] is False
    assert shown["storage"]["device"] == "mmcblk0"
    assert shown["storage"]["written_bytes_since_boot"] == 123_456 * 512
    state = shown["filesystems"]["state"]
    assert state["path"] == str(state_dir)
    assert 0 < state["free_bytes"] <= state["total_bytes"]
    assert 0 <= state["free_percent"] <= 100


def test_on_this_machine_nothing_raises(state_dir: Path) -> None:
    """The real sources of whatever machine runs the tests: not a Pi, so unavailable."""
    health = read_health(state_dir, HealthSources())
    shown = health.to_json()
    assert set(shown) == {
        "cpu_temperature_c",
        "throttled",
        "under_voltage_hwmon",
        "storage",
        "filesystems",
    }
    canonical.dumps(shown)
