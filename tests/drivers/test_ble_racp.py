"""RACP and Battery Level codecs, dating rules and the reconnect backoff: pure parts, fuzzed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.drivers.ble import racp
from healthhub.drivers.ble.backoff import ReconnectBackoff
from healthhub.drivers.ble.battery import battery_percent
from healthhub.drivers.ble.dating import Undatable, hub_time, taken_at
from healthhub.drivers.errors import FrameError, NotAValue, TruncatedFrame

# -- RACP (GSS 3.178) ----------------------------------------------------------------------


def test_requests_are_report_all_and_delete_all() -> None:
    assert bytes.fromhex("0101") == racp.REPORT_ALL
    assert bytes.fromhex("0201") == racp.DELETE_ALL


@pytest.mark.parametrize(
    ("frame", "op_code", "code", "succeeded", "no_records"),
    [
        ("06000101", 0x01, 0x01, True, False),  # report stored records: success
        ("06000106", 0x01, 0x06, False, True),  # report: no records found
        ("06000201", 0x02, 0x01, True, False),  # delete: success
        ("06000108", 0x01, 0x08, False, False),  # procedure not completed
        ("060001ff", 0x01, 0xFF, False, False),  # a reserved code is not success
    ],
)
def test_response_codes(
    frame: str, op_code: int, code: int, succeeded: bool, no_records: bool
) -> None:
    response = racp.parse(bytes.fromhex(frame))
    assert isinstance(response, racp.Response)
    assert (response.request, response.code) == (op_code, code)
    assert response.succeeded is succeeded
    assert response.no_records is no_records


def test_describe_names_the_code_or_calls_it_reserved() -> None:
    assert "no records found" in racp.Response(0x01, 0x06).describe()
    assert "reserved code 0x0a" in racp.Response(0x01, 0x0A).describe()


def test_number_of_stored_records() -> None:
    assert racp.parse(bytes.fromhex("05002c01")) == racp.Count(300)


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("", TruncatedFrame),
        ("06", TruncatedFrame),
        ("060001", TruncatedFrame),  # response code missing
        ("0600010100", TruncatedFrame),  # one byte too many
        ("050001", TruncatedFrame),
        ("06010101", NotAValue),  # a response carries the Null operator
        ("0101", NotAValue),  # our own request echoed is not a response
    ],
)
def test_malformed_responses_are_typed_errors(frame: str, error: type[FrameError]) -> None:
    with pytest.raises(error):
        racp.parse(bytes.fromhex(frame))


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=8))
def test_racp_parse_raises_only_frame_errors(data: bytes) -> None:
    try:
        result = racp.parse(data)
    except FrameError:
        return
    assert isinstance(result, racp.Response | racp.Count)
    assert len(data) == 4


# -- Battery Level (0x2A19) -----------------------------------------------------------------


def test_battery_level() -> None:
    assert battery_percent(b"\x57") == 87
    assert battery_percent(bytearray(b"\x00")) == 0
    with pytest.raises(NotAValue):
        battery_percent(b"\x65")  # 101 %
    with pytest.raises(TruncatedFrame):
        battery_percent(b"")


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=4))
def test_battery_level_raises_only_frame_errors(data: bytes) -> None:
    try:
        percent = battery_percent(data)
    except FrameError:
        return
    assert 0 <= percent <= 100


# -- dating --------------------------------------------------------------------------------

ARRIVED = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)


def test_undated_live_reading_takes_its_arrival_time() -> None:
    assert taken_at(None, ARRIVED, stored=False, stale_after_s=900) == ARRIVED


def test_undated_stored_record_cannot_be_dated() -> None:
    result = taken_at(None, ARRIVED, stored=True, stale_after_s=900)
    assert isinstance(result, Undatable)
    assert "without a time stamp" in result.reason


@pytest.mark.parametrize(
    ("offset_s", "expected"),
    [
        (-899, ARRIVED - timedelta(seconds=899)),  # inside the window: the device's time
        (-901, None),  # older: refused
        (60, ARRIVED),  # a clock a little fast: never later than arrival
        (901, None),  # a clock far ahead: refused
    ],
)
def test_stamped_readings(offset_s: int, expected: datetime | None) -> None:
    stamp = ARRIVED + timedelta(seconds=offset_s)
    result = taken_at(stamp, ARRIVED, stored=False, stale_after_s=900)
    if expected is None:
        assert isinstance(result, Undatable)
        # the reason names the window, never the time stamp
        assert not any(ch.isdigit() for ch in result.reason.replace("900", ""))
    else:
        assert result == expected


def test_device_clock_local_reads_wall_time_in_the_hub_zone() -> None:
    wall = datetime(2026, 7, 1, 10, 29, tzinfo=UTC)  # the decoders tag wall time UTC
    london = ZoneInfo("Europe/London")  # BST in July: UTC+1
    assert hub_time(wall, "local", london) == datetime(2026, 7, 1, 9, 29, tzinfo=UTC)
    assert hub_time(wall, "utc", london) == wall
    winter = datetime(2026, 1, 5, 10, 29, tzinfo=UTC)
    assert hub_time(winter, "local", london) == winter


# -- reconnect backoff ---------------------------------------------------------------------


def test_backoff_grows_with_jitter_to_its_cap_and_resets() -> None:
    backoff = ReconnectBackoff(0.5, 4.0, random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    assert backoff.failures == 6
    backoff.reset()
    assert backoff.failures == 0
    assert 0.25 <= backoff.next() <= 0.5


def test_backoff_rejects_a_cap_below_the_start() -> None:
    with pytest.raises(ValueError):
        ReconnectBackoff(5.0, 1.0)
