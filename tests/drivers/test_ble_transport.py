"""The BLE transport over the real bleak front end and a fake backend (tests/fake_bleak.py).

Time is injected: the transport's clock is fixed at ``NOW`` and its sleeps are recorded
and return at once, so nothing here waits beyond a turn of the event loop (and the fake
scanner's scan window of ``SCAN_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fake_bleak import (
    ABORT_BY_LOCAL,
    AUTHENTICATION_FAILED,
    IN_PROGRESS,
    NOT_READY,
    FakeAir,
    FakeDevice,
    dbus_error,
    frames,
)

from healthhub.agent.outbox import OutboxFull
from healthhub.drivers import registry
from healthhub.drivers.base import DriverReading, PeripheralSpec, PeripheralState, Signal
from healthhub.drivers.ble import racp
from healthhub.drivers.ble.backoff import ReconnectBackoff
from healthhub.drivers.ble.classify import DeviceAway
from healthhub.drivers.ble.session import FRAME_QUEUE_BOUND
from healthhub.drivers.ble.transport import MAX_FAILED_ATTEMPTS, BlePeripheral
from healthhub.drivers.errors import (
    DriverConfigError,
    PermanentDriverError,
    TransientDriverError,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
ADDRESS = "A4:C1:38:00:00:01"
SCAN_S = 0.01
BP = {0x1810: (0x2A35,), 0x180F: (0x2A19,)}
PLX = {0x1822: (0x2A5E, 0x2A5F, 0x2A60, 0x2A52)}


class RecordingSink:
    """A ReadingSink that records; ``fail_on=n`` makes the n-th commit fail as a full outbox."""

    def __init__(self, fail_on: int | None = None, gate: asyncio.Event | None = None) -> None:
        self.readings: list[DriverReading] = []
        self.refusals: list[str] = []
        self.states: list[tuple[PeripheralState, str]] = []
        self.batteries: list[int] = []
        self.fail_on = fail_on
        self.gate = gate
        self.on_reading: Callable[[], None] = lambda: None

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)  # committing takes a turn of the loop
        if self.fail_on is not None and len(self.readings) + 1 == self.fail_on:
            raise OutboxFull("outbox full (test)")
        self.on_reading()
        self.readings.append(reading)

    def refused(self, peripheral: str, reason: str) -> None:
        self.refusals.append(reason)

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append((state, detail))

    def battery(self, peripheral: str, percent: int) -> None:
        self.batteries.append(percent)

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        raise AssertionError("a BLE health device sends no signals")

    def values(self, code: str) -> list[float | None]:
        return [r.measurement.value(code) for r in self.readings]


class Sleeps:
    """The transport's sleep: records each delay and returns after one turn of the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def make(
    driver: str,
    air: FakeAir,
    sleeps: Sleeps | None = None,
    now: datetime = NOW,
    **options: Any,
) -> BlePeripheral:
    options = {"address": ADDRESS, "scan_timeout_s": SCAN_S, "device_clock": "utc", **options}
    options = {k: v for k, v in options.items() if v is not None}
    return BlePeripheral(
        PeripheralSpec("dev", driver, "ble", options),
        api=air.api(),
        sleep=sleeps or Sleeps(),
        backoff=ReconnectBackoff(0.5, 10.0, random.Random(3)),
        now=lambda: now,
        zone=ZoneInfo("Europe/London"),
    )


def serve(
    peripheral: BlePeripheral, sink: RecordingSink, done: Callable[[], bool], what: str
) -> None:
    """Run the peripheral until ``done()``; fail if it stops (or raises) first."""

    async def scenario() -> None:
        task = asyncio.create_task(peripheral.run(sink))
        deadline = asyncio.get_running_loop().time() + 10
        while not done():
            if task.done():
                task.result()
                raise AssertionError(f"the peripheral stopped before {what}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; states {sink.states}")
            await asyncio.sleep(0.001)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def fails(peripheral: BlePeripheral, sink: RecordingSink) -> BaseException:
    """Run the peripheral until it raises; the exception."""

    async def scenario() -> None:
        await asyncio.wait_for(peripheral.run(sink), 10)

    with pytest.raises(Exception) as caught:
        asyncio.run(scenario())
    return caught.value


def session_over(sink: RecordingSink) -> bool:
    """A session ran and the peripheral is looking for the device again."""
    states = [state for state, _ in sink.states]
    return PeripheralState.MEASURING in states and states[-1] is PeripheralState.WAITING


def bp_device(*memory: bytes, **kwargs: Any) -> FakeDevice:
    return FakeDevice(
        ADDRESS,
        services=kwargs.pop("services", BP),
        advertised=(0x1810,),
        memory=[(0x2A35, frame) for frame in memory],
        **kwargs,
    )


# -- a reading from each profile ------------------------------------------------------------


STAMP = NOW - timedelta(minutes=2)


#: driver -> (the device's services, its measurement characteristic)
DEVICES = {
    "blood_pressure": (BP, 0x2A35),
    "scale": ({0x181D: (0x2A9D,)}, 0x2A9D),
    "thermometer": ({0x1809: (0x2A1C,)}, 0x2A1C),
    "pulse_oximeter": ({0x1822: (0x2A5E,)}, 0x2A5E),
}


@pytest.mark.parametrize(
    ("driver", "frame", "expected"),
    [
        ("blood_pressure", frames.bp(128, 82, 97, pulse=71), ("systolic", 128, NOW)),
        ("blood_pressure", frames.bp(131, 85, 100, pulse=66, at=STAMP), ("diastolic", 85, STAMP)),
        ("scale", frames.weight(81.4, at=STAMP), ("weight", 81.4, STAMP)),
        ("thermometer", frames.temperature(37.2), ("temperature", 37.2, NOW)),
        ("pulse_oximeter", frames.plx_spot(97, 72, at=STAMP), ("spo2", 97, STAMP)),
    ],
)
def test_a_reading_arrives_from_each_profile(
    driver: str, frame: bytes, expected: tuple[str, float, datetime]
) -> None:
    services, characteristic = DEVICES[driver]
    device = FakeDevice(
        ADDRESS, services=services, advertised=tuple(services), memory=[(characteristic, frame)]
    )
    sink = RecordingSink()
    serve(make(driver, FakeAir(device)), sink, lambda: len(sink.readings) == 1, "a reading")
    [reading] = sink.readings
    code, value, taken_at = expected
    assert reading.measurement.value(code) == value
    assert reading.taken_at == taken_at  # the device's time if it sent one, else arrival
    states = [state for state, _ in sink.states]
    assert states[:2] == [PeripheralState.WAITING, PeripheralState.MEASURING]
    assert device.connects == 1
    assert sink.refusals == []


def test_discovery_without_address_connects_to_the_device_advertising_the_service() -> None:
    scale = FakeDevice("A4:C1:38:00:00:09", services={0x181D: (0x2A9D,)}, advertised=(0x181D,))
    silent_bp = FakeDevice("A4:C1:38:00:00:08", services=BP, advertised=())
    cuff = FakeDevice(
        "A4:C1:38:00:00:07",
        services=BP,
        advertised=(0x1810,),
        memory=[(0x2A35, frames.bp(118, 76, 90, pulse=64))],
    )
    air = FakeAir(scale, silent_bp, cuff)
    sink = RecordingSink()
    peripheral = make("blood_pressure", air, address=None, any_device=True)
    serve(peripheral, sink, lambda: sink.readings != [], "reading")
    assert sink.values("systolic") == [118]
    assert (scale.connects, silent_bp.connects, cuff.connects) == (0, 0, 1)


def test_battery_level_is_reported_and_a_reserved_one_ignored() -> None:
    sink = RecordingSink()
    air = FakeAir(bp_device(frames.bp(120, 80, 93, pulse=60), battery=b"\x57"))
    serve(make("blood_pressure", air), sink, lambda: sink.readings != [], "a reading")
    assert sink.batteries == [87]

    sink = RecordingSink()
    air = FakeAir(bp_device(frames.bp(120, 80, 93, pulse=60), battery=b"\xc8"))
    serve(make("blood_pressure", air), sink, lambda: sink.readings != [], "a reading")
    assert sink.batteries == []


def test_what_the_device_flagged_is_filed_with_the_reading() -> None:
    """An irregular pulse or a loose cuff travels with the reading for the clinician."""
    sink = RecordingSink()
    flagged = frames.bp(142, 91, 108, pulse=88, status=0b110)  # cuff too loose, irregular pulse
    serve(
        make("blood_pressure", FakeAir(bp_device(flagged))),
        sink,
        lambda: sink.readings != [],
        "a reading",
    )
    assert sink.readings[0].notes == ("cuff_too_loose", "irregular_pulse")


def test_a_continuous_oximeter_files_one_settled_reading_per_request() -> None:
    early = frames.plx_continuous(91, 80, status=1 << 6)  # early estimate
    stream = [early, frames.plx_continuous(97, 70), frames.plx_continuous(96, 71)]
    device = FakeDevice(
        ADDRESS, services=PLX, advertised=(0x1822,), memory=[(0x2A5F, f) for f in stream]
    )
    peripheral = make("pulse_oximeter", FakeAir(device), mode="continuous")
    peripheral.request_measurement()
    sink = RecordingSink()
    serve(peripheral, sink, lambda: session_over(sink), "the session")
    assert sink.values("spo2") == [97]
    assert device.racp_requests == []  # RACP belongs to spot-check mode

    unasked = FakeDevice(
        ADDRESS, services=PLX, advertised=(0x1822,), memory=[(0x2A5F, f) for f in stream]
    )
    sink = RecordingSink()
    peripheral = make("pulse_oximeter", FakeAir(unasked), mode="continuous")
    serve(peripheral, sink, lambda: session_over(sink), "the session")
    assert unasked.memory == []  # the stream was received
    assert sink.readings == []


# -- dating and refusals -------------------------------------------------------------------


def test_a_stale_stored_bp_record_is_refused_and_a_fresh_one_filed() -> None:
    old = frames.bp(183, 111, 135, pulse=88, at=NOW - timedelta(hours=3))
    ahead = frames.bp(150, 95, 113, pulse=77, at=NOW + timedelta(hours=1))
    fresh = frames.bp(126, 81, 96, pulse=70, at=NOW - timedelta(minutes=1))
    sink = RecordingSink()
    air = FakeAir(bp_device(old, ahead, fresh))
    serve(make("blood_pressure", air), sink, lambda: sink.readings != [], "the fresh reading")
    assert sink.values("systolic") == [126]
    assert sink.readings[0].taken_at == NOW - timedelta(minutes=1)
    assert len(sink.refusals) == 2
    assert "before it arrived" in sink.refusals[0]
    assert "clock is ahead" in sink.refusals[1]
    for reason in sink.refusals:  # no patient value in a refusal (it is logged)
        for value in ("183", "111", "135", "88", "150", "95", "113", "77"):
            assert value not in reason


def test_a_device_clock_in_local_time_is_read_as_local_time() -> None:
    summer_now = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    wall = datetime(2026, 7, 1, 10, 29)  # the cuff shows BST: 09:29 UTC
    for clock, expected in (("local", 1), ("utc", 0)):
        sink = RecordingSink()
        air = FakeAir(bp_device(frames.bp(124, 80, 95, pulse=66, at=wall)))
        peripheral = make("blood_pressure", air, now=summer_now, device_clock=clock)
        serve(peripheral, sink, lambda s=sink: session_over(s), "the session")
        assert len(sink.readings) == expected
        if expected:
            assert sink.readings[0].taken_at == datetime(2026, 7, 1, 9, 29, tzinfo=UTC)
    assert sink.refusals
    assert "clock is ahead" in sink.refusals[0]


def test_a_value_that_cannot_be_real_is_refused_without_the_value() -> None:
    sink = RecordingSink()
    air = FakeAir(bp_device(frames.bp(400, 82, 188, pulse=71)))
    serve(make("blood_pressure", air), sink, lambda: sink.refusals != [], "the refusal")
    assert sink.readings == []
    assert "outside what a person can measure" in sink.refusals[0]
    assert "400" not in sink.refusals[0]


# -- PLX stored records over RACP ----------------------------------------------------------


def plx_device(*records: bytes, **kwargs: Any) -> FakeDevice:
    return FakeDevice(ADDRESS, services=PLX, advertised=(0x1822,), stored=list(records), **kwargs)


RECORDS = [
    frames.plx_spot(95 + i, 60 + i, at=NOW - timedelta(minutes=10 - i), status=1 << 9)
    for i in range(3)
]


def test_plx_stored_records_arrive_are_committed_then_deleted() -> None:
    device = plx_device(*RECORDS)
    sink = RecordingSink()
    requests_when_committed: list[int] = []
    sink.on_reading = lambda: requests_when_committed.append(len(device.racp_requests))
    serve(make("pulse_oximeter", FakeAir(device)), sink, lambda: device.deleted == 3, "deletion")
    assert sink.values("spo2") == [95, 96, 97]
    assert [r.taken_at for r in sink.readings] == [NOW - timedelta(minutes=m) for m in (10, 9, 8)]
    assert requests_when_committed == [1, 1, 1]  # only "report" had been asked
    assert device.racp_requests == [racp.REPORT_ALL, racp.DELETE_ALL]
    assert device.stored == []


def test_plx_records_are_not_deleted_when_the_sink_fails() -> None:
    device = plx_device(*RECORDS)
    sink = RecordingSink(fail_on=2)
    error = fails(make("pulse_oximeter", FakeAir(device)), sink)
    assert isinstance(error, OutboxFull)  # the sink's own error, for the supervisor
    assert len(sink.readings) == 1
    assert device.racp_requests == [racp.REPORT_ALL]
    assert len(device.stored) == 3
    assert device.deleted == 0


def test_plx_transfer_cut_short_keeps_records_and_files_none_twice() -> None:
    device = plx_device(*RECORDS, drop_after=2, drop_once=True, switch_off_after_hang_up=False)
    sink = RecordingSink()
    serve(make("pulse_oximeter", FakeAir(device)), sink, lambda: device.deleted == 3, "deletion")
    assert device.racp_requests[:3] == [racp.REPORT_ALL, racp.REPORT_ALL, racp.DELETE_ALL]
    assert sink.values("spo2") == [95, 96, 97]  # the first two were sent again, filed once


def test_plx_no_records_found_asks_no_deletion() -> None:
    device = plx_device()
    sink = RecordingSink()
    serve(make("pulse_oximeter", FakeAir(device)), sink, lambda: session_over(sink), "hang-up")
    assert device.racp_requests == [racp.REPORT_ALL]
    assert sink.readings == []
    assert sink.refusals == []


def test_plx_error_response_keeps_the_records() -> None:
    device = plx_device(*RECORDS, report_code=racp.Code.PROCEDURE_NOT_COMPLETED)
    sink = RecordingSink()
    serve(make("pulse_oximeter", FakeAir(device)), sink, lambda: session_over(sink), "hang-up")
    assert len(sink.readings) == 3
    assert device.racp_requests == [racp.REPORT_ALL]
    assert len(device.stored) == 3


def test_an_undated_stored_record_is_refused_then_deleted_with_the_rest() -> None:
    undated = frames.plx_spot(93, 75, status=1 << 9)  # "from storage", no time stamp
    device = plx_device(RECORDS[0], undated)
    sink = RecordingSink()
    serve(make("pulse_oximeter", FakeAir(device)), sink, lambda: device.deleted == 2, "deletion")
    assert sink.values("spo2") == [95]
    assert len(sink.refusals) == 1
    assert "cannot be dated" in sink.refusals[0]


# -- reconnecting --------------------------------------------------------------------------


def test_device_hang_ups_and_failed_connects_reconnect_with_backoff() -> None:
    device = bp_device(
        frames.bp(121, 79, 93, pulse=61),
        frames.bp(119, 77, 91, pulse=63),
        drop_after=1,  # hangs up mid-transfer: the second reading waits for next time
        switch_off_after_hang_up=False,
        connect_errors=[
            dbus_error(*IN_PROGRESS),
            dbus_error(*ABORT_BY_LOCAL),
            None,  # connects: sends one reading, hangs up
            TimeoutError(),
            None,  # connects: sends the other
        ],
    )
    sleeps = Sleeps()
    sink = RecordingSink()
    serve(
        make("blood_pressure", FakeAir(device), sleeps), sink, lambda: len(sink.readings) == 2, "2"
    )
    assert sink.values("systolic") == [121, 119]
    first, second, after_good_session = sleeps.delays[:3]
    assert 0.25 <= first <= 0.5
    assert 0.5 <= second <= 1.0  # grows while attempts fail
    assert 0.25 <= after_good_session <= 0.5  # a session that sent a reading reset it
    waiting = [detail for state, detail in sink.states if state is PeripheralState.WAITING]
    assert any("InProgress" in detail for detail in waiting)


def test_readings_sent_before_a_hang_up_during_setup_are_filed() -> None:
    device = bp_device(
        frames.bp(127, 83, 98, pulse=69), frames.bp(125, 81, 96, pulse=68), battery=b"\x50"
    )
    device.hang_up_while_subscribing = True
    sink = RecordingSink()
    serve(make("blood_pressure", FakeAir(device)), sink, lambda: session_over(sink), "session")
    assert sink.values("systolic") == [127, 125]
    waiting = [detail for state, detail in sink.states if state is PeripheralState.WAITING]
    assert any("hung up during setup" in detail for detail in waiting)


def test_failed_attempts_in_a_row_are_told_to_the_supervisor() -> None:
    device = bp_device(connect_errors=[dbus_error(*ABORT_BY_LOCAL)] * MAX_FAILED_ATTEMPTS)
    error = fails(make("blood_pressure", FakeAir(device)), RecordingSink())
    assert type(error) is TransientDriverError
    assert f"{MAX_FAILED_ATTEMPTS} attempts in a row" in str(error)


def test_a_device_out_of_range_is_scanned_for_again_without_raising() -> None:
    device = bp_device(frames.bp(122, 78, 93, pulse=64), in_range=False)
    air = FakeAir(device)
    sleeps = Sleeps()
    sink = RecordingSink()

    def switched_on_after_three_scans() -> bool:
        if air.scans >= 3:
            device.in_range = True
        return sink.readings != []

    serve(make("blood_pressure", air, sleeps), sink, switched_on_after_three_scans, "reading")
    assert sleeps.delays[:2] == [1.0, 1.0]  # the rescan pause, no backoff growth


# -- what the supervisor must see ----------------------------------------------------------


def test_authentication_failed_on_pairing_is_permanent() -> None:
    device = bp_device(frames.bp(120, 80, 93), pair_error=dbus_error(*AUTHENTICATION_FAILED))
    sink = RecordingSink()
    error = fails(make("blood_pressure", FakeAir(device), pair=True), sink)
    assert isinstance(error, PermanentDriverError)
    assert "bluetoothctl pair" in str(error)
    assert device.pairings == 1
    assert PeripheralState.MEASURING not in [state for state, _ in sink.states]


def test_a_missing_characteristic_is_permanent() -> None:
    device = bp_device(services={0x1810: (0x2A49,)})  # Blood Pressure Feature only
    error = fails(make("blood_pressure", FakeAir(device)), RecordingSink())
    assert isinstance(error, PermanentDriverError)
    assert "does not offer characteristic" in str(error)


def test_a_device_that_needs_a_bond_says_so_and_pairs_when_configured() -> None:
    device = bp_device(frames.bp(120, 80, 93, pulse=60), requires_pairing=True)
    error = fails(make("blood_pressure", FakeAir(device)), RecordingSink())
    assert isinstance(error, PermanentDriverError)
    assert "pair: true" in str(error)

    sink = RecordingSink()
    serve(
        make("blood_pressure", FakeAir(device), pair=True), sink, lambda: sink.readings != [], "r"
    )
    assert device.pairings == 1


def test_an_adapter_that_is_not_ready_is_transient_for_the_supervisor() -> None:
    air = FakeAir(bp_device(), scanner_error=dbus_error(*NOT_READY))
    error = fails(make("blood_pressure", air, adapter="hci1"), RecordingSink())
    assert isinstance(error, TransientDriverError)
    assert not isinstance(error, DeviceAway)
    assert "power on" in str(error)
    assert air.adapters == ["hci1"]


def test_frames_beyond_the_queue_bound_end_the_session_with_an_error() -> None:
    flood = [frames.plx_spot(97, 70 + i % 50) for i in range(FRAME_QUEUE_BOUND + 50)]
    device = FakeDevice(
        ADDRESS,
        services={0x1822: (0x2A5E,)},
        advertised=(0x1822,),
        memory=[(0x2A5E, f) for f in flood],
    )
    gate = asyncio.Event()
    sink = RecordingSink(gate=gate)

    async def scenario() -> BaseException:
        task = asyncio.create_task(make("pulse_oximeter", FakeAir(device)).run(sink))
        while device.memory:
            await asyncio.sleep(0)
        gate.set()
        with pytest.raises(TransientDriverError) as caught:
            await asyncio.wait_for(task, 10)
        return caught.value

    error = asyncio.run(scenario())
    assert f"more than {FRAME_QUEUE_BOUND} frames" in str(error)
    assert len(sink.readings) < len(flood)  # the excess was lost, and said so


# -- configuration -------------------------------------------------------------------------


def test_ble_backends_are_registered_and_built_without_hardware() -> None:
    available = registry.available()
    for driver in ("blood_pressure", "scale", "thermometer", "pulse_oximeter"):
        assert (driver, "ble") in available
    peripheral = registry.create(
        PeripheralSpec("ox", "pulse_oximeter", "ble", {"address": "a4:c1:38:00:00:01"})
    )
    assert isinstance(peripheral, BlePeripheral)
    assert peripheral.options.address == ADDRESS
    assert peripheral.mode == "spot"


@pytest.mark.parametrize(
    ("driver", "options", "message"),
    [
        ("blood_pressure", {"address": 102030405012}, "quoted"),  # YAML read it as a number
        ("blood_pressure", {"address": "A4:C1:38"}, "not a Bluetooth address"),
        ("blood_pressure", {"address": ADDRESS, "mode": "continuous"}, "pulse_oximeter only"),
        ("blood_pressure", {}, "address is required"),  # any patient's cuff would do
        ("scale", {"stale_after_s": 0}, "stale_after_s"),
        ("thermometer", {"adapter": "usb0"}, "adapter"),
        ("thermometer", {"colour": "red"}, "unknown option"),
        ("height_measure", {}, "no backend"),
    ],
)
def test_bad_options_are_config_errors(driver: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        registry.create(PeripheralSpec("p", driver, "ble", options))
