"""Barcode/QR scanners: the line scanner on a real pty (codes through, junk dropped and
counted, over-long lines never passing as short ones, no code in any log), the line check
fuzzed, and the simulator backend."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serial_devices import PtyDevice, RecordingSink, pulled_mid_frame, running

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverConfigError, FrameError, TransientDriverError
from healthhub.drivers.serial.line_scanner import LineScanner, code_text

NHS_NUMBER = "9434765919"
QR = "https://example.org/q?id=7f3a&lang=ur"


def scanner(path: str, **options: Any) -> LineScanner:
    return LineScanner(
        PeripheralSpec("scanner", "barcode_scanner", "serial.line", {"port": path, **options})
    )


async def scan(device: PtyDevice, data: bytes, expect: int, **options: Any) -> Any:
    """Send ``data`` byte by byte; wait for ``expect`` codes; the sink and the scanner."""
    sink, peripheral = RecordingSink(), scanner(device.path, **options)
    async with running(peripheral, sink):
        await sink.wait_for(lambda: bool(sink.states))
        device.send(data, chunk=1)
        await sink.wait_for(lambda: len(sink.signals) >= expect)
        await asyncio.sleep(0.05)  # room for a wrong extra code to show up (none must)
    return sink, peripheral


@pytest.mark.parametrize("suffix", [b"\r", b"\r\n", b"\n"])
def test_codes_arrive_with_any_suffix(suffix: bytes) -> None:
    data = NHS_NUMBER.encode() + suffix + QR.encode() + suffix + "Ünïcødé 💊".encode() + suffix
    with PtyDevice() as device:
        sink, peripheral = asyncio.run(scan(device, data, 3))
    assert sink.signals == [("scanned", NHS_NUMBER), ("scanned", QR), ("scanned", "Ünïcødé 💊")]
    assert peripheral.dropped == 0


def test_binary_junk_is_dropped_and_counted() -> None:
    junk = b"\x00\x01\x02\r" + b"\xff\xfe\xfd\r" + b"AB\x07C\r" + b"\x1b[2J\r"
    with PtyDevice() as device:
        sink, peripheral = asyncio.run(scan(device, junk + b"12345\r", 1))
    assert sink.signals == [("scanned", "12345")]
    assert peripheral.dropped == 4
    assert peripheral.bad_frames == 4


def test_an_overlong_line_is_dropped_whole() -> None:
    long_code = b"9" * 100 + NHS_NUMBER.encode()  # its tail must not pass for an NHS number
    with PtyDevice() as device:
        sink, peripheral = asyncio.run(scan(device, long_code + b"\rOK\r", 1, max_length=16))
    assert sink.signals == [("scanned", "OK")]
    assert peripheral.reader is not None
    assert peripheral.reader.noise_bytes == len(long_code) + 1


def test_codes_never_reach_a_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with PtyDevice() as device:
        asyncio.run(scan(device, NHS_NUMBER.encode() + b"\x07\r" + NHS_NUMBER.encode() + b"\r", 1))
    assert caplog.records  # the dropped line was logged, by its reason
    assert NHS_NUMBER not in caplog.text


def test_an_unplugged_scanner_is_a_transient_error() -> None:
    async def scenario(device: PtyDevice) -> None:
        sink = RecordingSink()
        task = asyncio.create_task(scanner(device.path).run(sink))
        await sink.wait_for(lambda: bool(sink.states))
        with pytest.raises(TransientDriverError, match="lost"):
            await pulled_mid_frame(device, task, b"94347")
        assert sink.signals == []

    with PtyDevice() as device:
        asyncio.run(scenario(device))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty"),
        (b"\xc3", "UTF-8"),
        (b"a\tb", "control"),
        (b"a\x7fb", "control"),
        ("\u200b".encode(), "control"),  # a zero-width space is not printable
        (b"x" * 513, "longer than 512"),
    ],
)
def test_line_check(line: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        code_text(line)


@settings(max_examples=10_000, deadline=None)
@given(line=st.binary(max_size=40))
def test_fuzz_line_check_raises_only_frame_errors(line: bytes) -> None:
    try:
        text = code_text(line, max_length=32)
    except FrameError:
        return
    assert text.isprintable()
    assert 0 < len(text) <= 32
    assert text.encode() == line


# -- the simulator ---------------------------------------------------------------------------


def simulator(**options: Any) -> Any:
    return registry.create(PeripheralSpec("scanner", "barcode_scanner", "simulator", options))


def test_simulator_scans_on_request_then_stops() -> None:
    async def scenario() -> RecordingSink:
        sink, peripheral = RecordingSink(), simulator(script=[NHS_NUMBER, QR])
        task = asyncio.create_task(peripheral.run(sink))
        await sink.wait_for(lambda: bool(sink.states))
        assert sink.signals == []  # nothing until asked
        peripheral.request_measurement()
        await sink.wait_for(lambda: len(sink.signals) == 1)
        peripheral.request_measurement()
        await asyncio.wait_for(task, 10)
        return sink

    sink = asyncio.run(scenario())
    assert sink.signals == [("scanned", NHS_NUMBER), ("scanned", QR)]
    assert sink.states[-1] == ("stopped", "simulated script complete")


def test_simulator_on_an_interval_repeats() -> None:
    async def scenario() -> RecordingSink:
        sink = RecordingSink()
        async with running(simulator(script=["A1", "B2"], interval_s=0.01, repeat=True), sink):
            await sink.wait_for(lambda: len(sink.signals) >= 5)
        return sink

    assert [text for _, text in asyncio.run(scenario()).signals[:5]] == [
        "A1",
        "B2",
        "A1",
        "B2",
        "A1",
    ]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"script": []},
        {"script": ["ok", "bad\x07"]},
        {"script": ["x" * 600]},
        {"script": ["ok"], "interval_s": 0},
        {"script": ["ok"], "colour": "blue"},
    ],
)
def test_simulator_options_are_checked(options: dict[str, Any]) -> None:
    with pytest.raises(DriverConfigError):
        simulator(**options)
