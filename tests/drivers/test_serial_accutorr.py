"""Datascope ACCUTORR 3 PC interface (service manual pp. 1-52 to 1-54): the manual's answer
byte for byte, the NIBP status flags, fuzzing, and the backend polling a real pty."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import run_cli
from serial_devices import (
    AccutorrEmulator,
    RecordingSink,
    fuzz_frames,
    pulled_mid_frame,
    running,
)

from healthhub.agent.peripherals import PeripheralSupervisor
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import FrameError, ImpossibleValue, NotAValue, TransientDriverError
from healthhub.drivers.serial import accutorr
from healthhub.drivers.serial.accutorr_monitor import AccutorrMonitor

DEVICES = Path(__file__).resolve().parents[1] / "serial_devices.py"
MANUAL_EXAMPLE = b"P:--,85,120, 45, 80,000,010,000, 5"  # p. 1-53, "exactly like this"
PLAUSIBLE = MANUAL_EXAMPLE.replace(b" 45", b" 93")  # the example's mean cannot be real


def values(reading: Any) -> dict[str, float]:
    return {c.code: c.value for c in reading.measurement.components}


# -- the answer to P -------------------------------------------------------------------------


def test_the_manuals_example() -> None:
    data = accutorr.parse(MANUAL_EXAMPLE)
    assert data == accutorr.PatientData(
        spo2=None,
        pulse=85,
        systolic=120,
        mean=45,
        diastolic=80,
        status0=0,
        status1=10,
        status2=0,
        minutes=5,
    )
    # The manual's example shows the format, not a real measurement: a mean of 45 with
    # 120/80 cannot be (the mean lies between diastolic and systolic), so it is refused.
    with pytest.raises(ImpossibleValue, match="mean_arterial"):
        accutorr.decode(MANUAL_EXAMPLE)
    reading = accutorr.decode(PLAUSIBLE)
    assert values(reading) == {"systolic": 120, "diastolic": 80, "mean_arterial": 93, "pulse": 85}
    assert reading.details == {"minutes_since_measurement": 5}


def test_prompts_before_the_echo_are_skipped() -> None:
    assert accutorr.is_patient_line(b">" + MANUAL_EXAMPLE)
    assert accutorr.decode(b"> " + PLAUSIBLE).measurement.value("systolic") == 120
    assert not accutorr.is_patient_line(b"ACCUTORR PC Interface is ready")
    assert not accutorr.is_patient_line(b"L:100, 85,120, 50,160, 90,110, 60,100, 50")


@pytest.mark.parametrize(
    ("status2", "reason"),
    [
        (1, "NIBP cuff overpressure"),  # status byte 2, bit 0
        (2, "NIBP motion artifact"),  # bit 1
        (3, "NIBP cuff overpressure and NIBP motion artifact"),
    ],
)
def test_nibp_flags_refuse_with_the_units_reason(status2: int, reason: str) -> None:
    line = f"P:--, 72,128, 97, 82,000,000,{status2:03d},  0".encode()
    with pytest.raises(NotAValue, match=reason) as caught:
        accutorr.decode(line)
    assert not any(str(v) in str(caught.value) for v in (72, 128, 97, 82))


def test_spo2_flags_and_unused_bits_do_not_touch_blood_pressure() -> None:
    line = b"P: 97, 72,128, 97, 82,255,255,252,  0"  # every SaO2 flag; status 2 bits 2-7
    assert values(accutorr.decode(line))["systolic"] == 128


def test_no_measurement_shown() -> None:
    with pytest.raises(accutorr.NoMeasurement):
        accutorr.decode(b"P:--,--,--,--,--,000,000,000,--")


def test_fields_not_in_use_are_left_out() -> None:
    reading = accutorr.decode(b"P:--, 72,128,--, 82,000,000,000,  1")
    assert "mean_arterial" not in values(reading)
    assert values(accutorr.decode(b"P:--,--,128, 97, 82,000,000,000,  1")) == {
        "systolic": 128,
        "diastolic": 82,
        "mean_arterial": 97,
    }


@pytest.mark.parametrize(
    "line",
    [
        b"P:--,85,120, 45, 80,000,010,000",  # eight fields
        b"P:--,85,120, 45, 80,000,010,000, 5,7",  # ten
        b"P:--,85,1a0, 45, 80,000,010,000, 5",
        b"P:--,85,1200, 45, 80,000,010,000, 5",  # more than 3 digits
        b"P:--,85,120, 45, 80,000,256,000, 5",  # not a byte
        b"P:--,85,120,-45, 80,000,010,000, 5",
        b"L:100, 85,120, 50,160, 90,110, 60,100, 50",
        b"P:--,85,\xff20, 45, 80,000,010,000, 5",
        b"",
    ],
)
def test_malformed_answers(line: bytes) -> None:
    with pytest.raises(FrameError):
        accutorr.decode(line)


def test_impossible_values_are_refused_by_the_limits() -> None:
    with pytest.raises(ImpossibleValue):
        accutorr.decode(b"P:--, 72, 80, 97,120,000,000,000,  0")  # systolic below diastolic
    with pytest.raises(ImpossibleValue):
        accutorr.decode(b"P:--, 72,999, 97, 82,000,000,000,  0")


def test_decode_cli_knows_the_monitor() -> None:
    shown = run_cli("healthhub-agent", "decode", "--driver", "serial.accutorr", PLAUSIBLE.hex())
    assert "systolic" in shown.stdout
    assert "120 mm[Hg]" in shown.stdout


# -- fuzzing -------------------------------------------------------------------------------

TEMPLATES = [
    MANUAL_EXAMPLE,
    b">P: 97, 72,128, 97, 82,000,000,002,  0",
    b"P:--,--,--,--,--,000,000,000,--",
]


@settings(max_examples=10_000, deadline=None)
@given(blob=st.binary(max_size=40))
def test_fuzz_decoder_raises_only_frame_errors(blob: bytes) -> None:
    for frame in fuzz_frames(blob, TEMPLATES, prefixes=(b"", b"P:")):
        try:
            reading = accutorr.decode(frame)
        except FrameError:
            continue
        assert values(reading)["systolic"] > values(reading)["diastolic"]


# -- the backend on a pty ------------------------------------------------------------------

PATIENT = {"systolic": 128, "diastolic": 82, "pulse": 71}


def monitor(path: str, **options: Any) -> AccutorrMonitor:
    fast = {"poll_s": 0.05, "response_s": 2.0}
    spec = PeripheralSpec(
        "bp", "blood_pressure", "serial.accutorr", {"port": path, **fast, **options}
    )
    return AccutorrMonitor(spec)


async def polls(unit: AccutorrEmulator, count: int) -> None:
    """Until the driver has asked P ``count`` times in all (each answer is sent by then)."""
    async with asyncio.timeout(10):
        while unit.received().count(b"P") < count:
            await asyncio.sleep(0.005)


async def a_reading(unit: AccutorrEmulator, sink: RecordingSink) -> None:
    await sink.wait_for(lambda: bool(sink.readings))


async def a_refusal(unit: AccutorrEmulator, sink: RecordingSink) -> None:
    await sink.wait_for(lambda: bool(sink.refusals))


def start_pressed(
    unit: AccutorrEmulator,
    measured: dict[str, int],
    until: Callable[[AccutorrEmulator, RecordingSink], Awaitable[None]] = a_reading,
    after_polls: int = 2,
    **options: Any,
) -> tuple[RecordingSink, AccutorrMonitor]:
    """The monitor polling ``unit``: once it has asked P ``after_polls`` times in all, a
    patient presses START and the unit measures ``measured``; it runs until ``until``
    returns. What the monitor reported, and the monitor."""

    async def scenario() -> tuple[RecordingSink, AccutorrMonitor]:
        sink, peripheral = RecordingSink(), monitor(unit.path, **options)
        async with running(peripheral, sink):
            await polls(unit, after_polls)
            unit.measure(**measured)
            await until(unit, sink)
        return sink, peripheral

    return asyncio.run(scenario())


def test_a_measurement_taken_after_connecting_is_read_once() -> None:
    async def a_reading_then_three_polls(unit: AccutorrEmulator, sink: RecordingSink) -> None:
        await a_reading(unit, sink)
        seen = unit.received().count(b"P")
        await polls(unit, seen + 3)  # the same measurement shown again is not new

    with AccutorrEmulator() as unit:
        sink, _ = start_pressed(unit, {**PATIENT, "mean": 97}, a_reading_then_three_polls)
    assert [values(r) for r in sink.readings] == [
        {"systolic": 128, "diastolic": 82, "mean_arterial": 97, "pulse": 71}
    ]
    assert sink.refusals == []


def test_the_measurement_shown_before_connecting_is_never_reported() -> None:
    next_patient = {"systolic": 141, "diastolic": 88, "pulse": 64}
    with AccutorrEmulator() as unit:
        unit.measure(systolic=150, diastolic=95, pulse=80)  # an earlier patient's
        sink, _ = start_pressed(unit, next_patient, after_polls=3)
    assert [values(r)["systolic"] for r in sink.readings] == [141]


def test_identical_values_are_new_when_the_elapsed_time_goes_down() -> None:
    with AccutorrEmulator() as unit:
        unit.measure(minutes_ago=1, **PATIENT)  # the first measurement, a minute old
        sink, _ = start_pressed(unit, PATIENT)  # same values, elapsed 0
    assert len(sink.readings) == 1


def test_an_old_measurement_is_not_reported() -> None:
    async def six_polls(unit: AccutorrEmulator, sink: RecordingSink) -> None:
        await polls(unit, 6)

    with AccutorrEmulator() as unit:
        sink, _ = start_pressed(unit, {"minutes_ago": 3, **PATIENT}, six_polls, max_age_min=2)
    assert sink.readings == []


def test_motion_artifact_is_refused_without_values() -> None:
    with AccutorrEmulator() as unit:
        sink, _ = start_pressed(unit, {**PATIENT, "status2": 2}, a_refusal)
    assert sink.readings == []
    assert sink.refusals == ["serial.accutorr: unit reports NIBP motion artifact"]


def test_request_measurement_polls_at_once() -> None:
    async def scenario(unit: AccutorrEmulator) -> int:
        sink = RecordingSink()
        peripheral = monitor(unit.path, poll_s=60.0)
        async with running(peripheral, sink):
            await polls(unit, 1)  # the first poll, at start
            unit.measure(systolic=128, diastolic=82, pulse=71)
            peripheral.request_measurement()
            await sink.wait_for(lambda: bool(sink.readings))
            return unit.received().count(b"P")

    with AccutorrEmulator() as unit:
        assert asyncio.run(scenario(unit)) == 2


def test_garbage_and_broken_answers_are_survived() -> None:
    with AccutorrEmulator() as unit:
        unit.prefix = b"\x00\xff\xfe" * 100 + b"\r\nP:--,8x,120\r\n"
        sink, peripheral = start_pressed(unit, PATIENT)
    assert [values(r)["systolic"] for r in sink.readings] == [128]
    assert peripheral.reader is not None
    assert peripheral.reader.noise_bytes > 0


def test_a_silent_unit_is_a_transient_error_after_prompt_requests() -> None:
    async def scenario(unit: AccutorrEmulator) -> None:
        task = asyncio.create_task(
            monitor(unit.path, response_s=0.1, silent_limit=3).run(RecordingSink())
        )
        with pytest.raises(TransientDriverError, match="no answer to P"):
            await asyncio.wait_for(task, 10)

    with AccutorrEmulator() as unit:
        unit.answering = False
        asyncio.run(scenario(unit))
        assert unit.received() == b"P\x03P\x03P"


def test_unplugged_mid_answer_is_a_transient_error() -> None:
    async def scenario(unit: AccutorrEmulator) -> None:
        sink = RecordingSink()
        task = asyncio.create_task(monitor(unit.path, response_s=5.0).run(sink))
        await polls(unit, 1)
        unit.answering = False  # the next P finds the driver waiting for its answer
        await polls(unit, 2)
        unit.measure(systolic=128, diastolic=82, pulse=71)
        with pytest.raises(TransientDriverError, match="lost"):
            await pulled_mid_frame(unit, task, unit.patient_line()[:12])
        assert sink.readings == []

    with AccutorrEmulator() as unit:
        asyncio.run(scenario(unit))


def test_the_standalone_emulator_serves_another_process() -> None:
    """``python tests/serial_devices.py accutorr`` as the system test runs it: the pty path
    on stdout, a scripted measurement on SIGUSR1, SIGTERM to stop."""
    script = json.dumps([{"systolic": 133, "diastolic": 84, "pulse": 66}])
    emulator = subprocess.Popen(
        [sys.executable, str(DEVICES), "accutorr", "--script", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        path = emulator.stdout.readline().strip()
        assert path.startswith("/dev/pts/")

        async def scenario() -> RecordingSink:
            sink = RecordingSink()
            peripheral = monitor(path)
            async with running(peripheral, sink):
                await sink.wait_for(lambda: peripheral.reader is not None)
                await sink.wait_for(lambda: peripheral.reader.frames >= 2)  # type: ignore[union-attr]
                emulator.send_signal(signal.SIGUSR1)  # the patient presses START
                await sink.wait_for(lambda: bool(sink.readings))
            return sink

        sink = asyncio.run(scenario())
        assert [values(r)["systolic"] for r in sink.readings] == [133]
    finally:
        emulator.terminate()
        assert emulator.wait(10) == 0


def test_the_agents_supervisor_runs_it_and_restarts_it_after_a_silence() -> None:
    """Through the real supervisor: a reading reaches the agent; a unit that goes silent
    is restarted (transient), and the measurement after the restart is read."""

    async def scenario(unit: AccutorrEmulator) -> tuple[list[Any], PeripheralSupervisor]:
        taken: list[Any] = []

        async def take(name: str, reading: Any) -> None:
            taken.append((name, reading))

        options = {"port": unit.path, "poll_s": 0.05, "response_s": 0.1, "silent_limit": 2}
        spec = PeripheralSpec("bp", "blood_pressure", "serial.accutorr", options)
        supervisor = PeripheralSupervisor([spec], take, restart_initial_s=0.01)
        runner = asyncio.create_task(supervisor.run())
        try:
            await polls(unit, 2)
            unit.measure(systolic=128, diastolic=82, pulse=71)
            async with asyncio.timeout(10):
                while not taken:
                    await asyncio.sleep(0.005)
            unit.answering = False  # switched off: two silent polls, a transient error
            async with asyncio.timeout(10):
                while supervisor.status["bp"].restarts == 0:
                    await asyncio.sleep(0.005)
            unit.answering = True
            seen = unit.received().count(b"P")
            await polls(unit, seen + 2)  # the new connection's baseline
            unit.measure(systolic=119, diastolic=77, pulse=64)
            async with asyncio.timeout(10):
                while len(taken) < 2:
                    await asyncio.sleep(0.005)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        return taken, supervisor

    with AccutorrEmulator() as unit:
        taken, supervisor = asyncio.run(scenario(unit))
    assert [values(r)["systolic"] for _, r in taken] == [128, 119]
    assert supervisor.status["bp"].readings == 2


def test_waiting_is_reported_once_the_baseline_is_known() -> None:
    async def scenario(unit: AccutorrEmulator) -> RecordingSink:
        sink = RecordingSink()
        async with running(monitor(unit.path, response_s=0.2, silent_limit=50), sink):
            await polls(unit, 2)  # unanswered: no baseline yet
            assert sink.states == []
            unit.answering = True
            await sink.wait_for(lambda: bool(sink.states))
            unit.measure(systolic=128, diastolic=82, pulse=71)  # START once ready
            await sink.wait_for(lambda: bool(sink.readings))
        return sink

    with AccutorrEmulator() as unit:
        unit.answering = False
        sink = asyncio.run(scenario(unit))
    assert sink.states == [("waiting", "")]
    assert len(sink.readings) == 1
