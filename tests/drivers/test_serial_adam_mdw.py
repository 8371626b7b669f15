"""Adam MDW-300L scale (manual p.n. 700660159, section 8): frames byte by byte from the
manual, every status bit and capacity condition, fuzzing, and the backend on a real pty."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import run_cli
from serial_devices import (
    AdamMdwEmulator,
    RecordingSink,
    ScaleState,
    fuzz_frames,
    pulled_mid_frame,
    running,
)

from healthhub.drivers.base import PeripheralSpec, PeripheralState
from healthhub.drivers.errors import (
    FrameError,
    ImpossibleValue,
    NotAValue,
    TransientDriverError,
    TruncatedFrame,
)
from healthhub.drivers.serial import adam_mdw
from healthhub.drivers.serial.adam_mdw_scale import AdamMdwScale

STABLE = b"\x30\x70\x31"  # H1 stable, not at zero; H2 within capacity; H3 normal, gross


def answer(field: bytes, status: bytes = STABLE) -> bytes:
    """The answer to W<CR> (8.5.3 (1)): <LF>field<CR><LF>H1H2H3<CR><ETX>."""
    return b"\n" + field + b"\r\n" + status + b"\r\x03"


def kg(reading: Any) -> float:
    return float(reading.measurement.value("weight"))


# -- frames from the manual ----------------------------------------------------------------


def test_stable_gross_kilograms() -> None:
    reading = adam_mdw.decode(answer(b"    72.5kg"))
    assert kg(reading) == 72.5
    assert reading.details == {"unit_sent": "kg", "output": "command"}


def test_pounds_are_converted_exactly() -> None:
    assert kg(adam_mdw.decode(answer(b"   160.0lb"))) == round(160 * 0.45359237, 2)


def test_no_decimal_point_and_parity_bits_are_accepted() -> None:
    # P9 may set no decimal point; bit 7 of each status byte is parity (not checked).
    assert kg(adam_mdw.decode(answer(b"      73kg", bytes([0xB0, 0xF0, 0xB1])))) == 73


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        (b"^^^^^^^^^kg", "over capacity"),
        (b"^^^^^^kg", "over capacity"),  # the manual's own example prints six
        (b"_________kg", "under capacity"),
        (b"---------kg", "zero-point error"),
        (b"-    12.5kg", "negative weight"),
    ],
)
def test_capacity_conditions_and_negative_weight_are_not_values(field: bytes, reason: str) -> None:
    with pytest.raises(NotAValue, match=reason) as caught:
        adam_mdw.decode(answer(field))
    assert not isinstance(caught.value, adam_mdw.NotSettled)


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (b"\x31\x70\x31", adam_mdw.NotSettled, "not stable"),  # H1 bit 0
        (b"\x38\x70\x31", NotAValue, "EEPROM"),  # H1 bit 3
        (b"\x30\x71\x31", NotAValue, "capacity"),  # H2 bit 0 under
        (b"\x30\x72\x31", NotAValue, "capacity"),  # H2 bit 1 over
        (b"\x30\x70\x32", NotAValue, "hold mode"),  # H3 bits 0-1 = 10
        (b"\x30\x70\x35", NotAValue, "net weight"),  # H3 bit 2
    ],
)
def test_every_status_bit(status: bytes, error: type[Exception], reason: str) -> None:
    with pytest.raises(error, match=reason):
        adam_mdw.decode(answer(b"    72.5kg", status))


def test_at_zero_point_is_an_empty_platform() -> None:
    with pytest.raises(adam_mdw.NotSettled, match="platform empty"):
        adam_mdw.decode(answer(b"     0.0kg", b"\x32\x70\x31"))  # H1 bit 1
    with pytest.raises(adam_mdw.NotSettled):
        adam_mdw.decode(answer(b"     0.0kg"))


@pytest.mark.parametrize(
    "status",
    [
        b"\x30\x70\x30",  # H3 mode 00: not defined
        b"\x30\x70\x33",  # H3 mode 11: not defined
        b"\x70\x70\x31",  # H1 bit 6 must be 0
        b"\x34\x70\x31",  # H1 bit 2 always 0
        b"\x20\x70\x31",  # H1 bit 4 always 1
        b"\x30\x30\x31",  # H2 bit 6 must be 1
        b"\x30\x78\x31",  # H2 bit 3 always 0
        b"\x30\x70\x39",  # H3 bit 3 always 0
        b"\x30\x70\x71",  # H3 bit 6 must be 0
    ],
)
def test_status_bytes_breaking_table_1_make_a_bad_frame(status: bytes) -> None:
    with pytest.raises(FrameError) as caught:
        adam_mdw.decode(answer(b"    72.5kg", status))
    assert not isinstance(caught.value, NotAValue)


def test_other_answers_of_section_8_5_3() -> None:
    assert adam_mdw.parse(b"\n0p1\r\x03").kind == "status"  # S, Z, T
    units = adam_mdw.parse(b"\nlb\r\n0p1\r\x03")  # U
    assert (units.kind, units.unit) == ("units", "lb")
    assert adam_mdw.parse(b"\n?\r\x03").kind == "unknown_command"
    for frame in (b"\n0p1\r\x03", b"\nlb\r\n0p1\r\x03", b"\n?\r\x03"):
        with pytest.raises(NotAValue, match="carries no weight"):
            adam_mdw.decode(frame)


def test_print_and_continuous_output_gross_and_net() -> None:
    gross = adam_mdw.decode(b"\n    72.5kgGR\r\x03")  # 8.3 / 8.4
    assert kg(gross) == 72.5
    assert gross.details["output"] == "print"
    with pytest.raises(NotAValue, match="net weight"):
        adam_mdw.decode(b"\n    72.5kgNT\r\x03")


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"    72.5kg\r\n0p1\r\x03", TruncatedFrame),  # no LF
        (b"\n    72.5kg\r\n0p1\r", TruncatedFrame),  # no ETX
        (b"\n    72.5kg\r\n0p1\x03", TruncatedFrame),  # no CR before ETX
        (b"\n    72.5KG\r\n0p1\r\x03", FrameError),  # units are lower case
        (b"\n    7a.5kg\r\n0p1\r\x03", FrameError),
        (b"\n   72.5.0kg\r\n0p1\r\x03", FrameError),
        (b"\n    72.5kg\r\n0p\r\x03", TruncatedFrame),  # two status bytes
        (b"\n \xff\xfe72.5kg\r\n0p1\r\x03", FrameError),
        (b"\n  72.5kg\r\x03", FrameError),
    ],
)
def test_malformed_frames(frame: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        adam_mdw.decode(frame)


def test_implausible_weight_is_refused_by_the_limits() -> None:
    with pytest.raises(ImpossibleValue):
        adam_mdw.decode(answer(b"   700.0kg"))


def test_decode_cli_knows_the_scale() -> None:
    shown = run_cli(
        "healthhub-agent", "decode", "--driver", "serial.adam_mdw", answer(b"  72.5kg").hex()
    )
    assert "weight" in shown.stdout
    assert "72.5 kg" in shown.stdout
    refused = run_cli(
        "healthhub-agent", "decode", "--driver", "serial.adam_mdw", b"\n?\r\x03".hex(), check=False
    )
    assert refused.returncode == 1
    assert "NotAValue" in refused.stdout


# -- fuzzing -------------------------------------------------------------------------------

TEMPLATES = [answer(b"    72.5kg"), b"\n    72.5kgGR\r\x03", b"\nlb\r\n0p1\r\x03", b"\n?\r\x03"]


@settings(max_examples=10_000, deadline=None)
@given(blob=st.binary(max_size=40))
def test_fuzz_decoder_raises_only_frame_errors(blob: bytes) -> None:
    """Random bytes, and the manual's frames with random bytes written over them."""
    for frame in fuzz_frames(blob, TEMPLATES):
        try:
            reading = adam_mdw.decode(frame)
        except FrameError:
            continue
        assert 0.5 <= kg(reading) <= 635


# -- the backend on a pty ------------------------------------------------------------------


def scale(path: str, **options: Any) -> AdamMdwScale:
    fast = {"retry_s": 0.0, "response_s": 2.0}
    return AdamMdwScale(
        PeripheralSpec("scale", "scale", "serial.adam_mdw", {"port": path, **fast, **options})
    )


async def weigh(device: AdamMdwEmulator, **options: Any) -> tuple[RecordingSink, AdamMdwScale]:
    """One weighing in command mode: ask, and wait until the scale is waiting again."""
    sink, peripheral = RecordingSink(), scale(device.path, **options)
    async with running(peripheral, sink):
        await sink.wait_for(lambda: (str(PeripheralState.WAITING), "") in sink.states)
        peripheral.request_measurement()
        await sink.wait_for(
            lambda: sink.states[-1][0] == str(PeripheralState.WAITING) and len(sink.states) > 2
        )
    return sink, peripheral


def test_command_mode_waits_for_a_stable_weight() -> None:
    script = [{"stable": False, "weight": 70.1}, {"stable": False, "weight": 72.4}]
    with AdamMdwEmulator(ScaleState(weight=72.5), script) as device:
        sink, _ = asyncio.run(weigh(device))
        assert [kg(r) for r in sink.readings] == [72.5]
        assert device.commands == [b"W", b"W", b"W"]
    assert [s for s, _ in sink.states] == ["waiting", "measuring", "waiting"]
    assert sink.states[-1][1] == "taken"
    assert sink.refusals == []


def test_command_mode_in_pounds() -> None:
    with AdamMdwEmulator(ScaleState(weight=160.0, unit="lb")) as device:
        sink, _ = asyncio.run(weigh(device))
    assert [kg(r) for r in sink.readings] == [72.57]


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (ScaleState(weight=72.5, net=True), "net weight"),
        (ScaleState(weight=72.5, hold=True), "hold mode"),
        (ScaleState(weight=72.5, condition="over_capacity"), "over capacity"),
        (ScaleState(weight=72.5, eeprom_error=True), "EEPROM"),
        (ScaleState(weight=700.0), "outside what a person can measure"),
    ],
)
def test_command_mode_refuses_what_is_not_a_body_weight(state: ScaleState, reason: str) -> None:
    with AdamMdwEmulator(state) as device:
        sink, _ = asyncio.run(weigh(device))
        assert device.commands == [b"W"]  # refused at once: waiting would not help
    assert sink.readings == []
    assert len(sink.refusals) == 1
    assert reason in sink.refusals[0]
    assert "72" not in sink.refusals[0]
    assert "700" not in sink.refusals[0]


def test_command_mode_gives_up_on_an_empty_platform_after_its_attempts() -> None:
    with AdamMdwEmulator(ScaleState(weight=0.0)) as device:
        sink, _ = asyncio.run(weigh(device, attempts=3))
        assert device.commands == [b"W"] * 3
    assert sink.readings == []
    assert sink.refusals == []
    assert sink.states[-1] == ("waiting", "no stable weight after 3 attempts")


def test_command_mode_survives_garbage_and_bad_frames() -> None:
    bad_status = b"\n    72.5kg\r\n\x70\x70\x31\r\x03"  # H1 bit 6 set: breaks Table 1
    with AdamMdwEmulator(ScaleState(weight=72.5), [{"raw": bad_status}]) as device:
        device.prefix = b"\x00\xff\x13\x03garbage"
        sink, peripheral = asyncio.run(weigh(device))
        assert device.commands == [b"W", b"W"]
    assert [kg(r) for r in sink.readings] == [72.5]
    assert peripheral.bad_frames == 1
    assert peripheral.reader is not None
    assert peripheral.reader.noise_bytes >= 2 * len(device.prefix)


def test_a_silent_scale_is_a_transient_error() -> None:
    async def scenario(device: AdamMdwEmulator) -> None:
        sink, peripheral = RecordingSink(), scale(device.path, response_s=0.2, silent_limit=2)
        task = asyncio.create_task(peripheral.run(sink))
        await sink.wait_for(lambda: bool(sink.states))
        peripheral.request_measurement()
        with pytest.raises(TransientDriverError, match="does not answer"):
            await asyncio.wait_for(task, 10)

    with AdamMdwEmulator() as device:
        device.answering = False
        asyncio.run(scenario(device))
        assert device.received() == b"W\r" * 2


def test_print_mode_byte_by_byte() -> None:
    async def scenario(device: AdamMdwEmulator) -> RecordingSink:
        sink = RecordingSink()
        async with running(scale(device.path, mode="print"), sink):
            await sink.wait_for(lambda: bool(sink.states))
            device.send(b"\x7f\x00junk" + device.print_frame(), chunk=1)
            await sink.wait_for(lambda: bool(sink.readings))
            device.send(device.print_frame(ScaleState(weight=72.5, net=True)), chunk=3)
            await sink.wait_for(lambda: bool(sink.refusals))
        return sink

    with AdamMdwEmulator(ScaleState(weight=81.3)) as device:
        sink = asyncio.run(scenario(device))
        assert device.received() == b""  # print mode: the scale takes no commands
    assert [kg(r) for r in sink.readings] == [81.3]
    assert "net weight" in sink.refusals[0]


def test_continuous_mode_reads_once_per_weighing() -> None:
    async def scenario(device: AdamMdwEmulator) -> RecordingSink:
        sink = RecordingSink()
        peripheral = scale(device.path, mode="continuous", stable_frames=5)
        async with running(peripheral, sink):
            await sink.wait_for(lambda: bool(sink.states))

            async def frames(weight: float, count: int) -> None:
                device.send(device.print_frame(ScaleState(weight=weight)) * count, chunk=None)
                total = count + (0 if peripheral.reader is None else peripheral.reader.frames)
                await sink.wait_for(
                    lambda: peripheral.reader is not None and peripheral.reader.frames >= total
                )

            await frames(60.0, 3)  # stepping on
            await frames(64.2, 4)  # settling: four alike are not yet stable
            assert sink.readings == []
            await frames(64.2, 8)  # stable: one reading, however long it shows
            await frames(0.0, 2)  # stepped off
            await frames(90.4, 5)  # the next patient
        return sink

    with AdamMdwEmulator() as device:
        sink = asyncio.run(scenario(device))
    assert [kg(r) for r in sink.readings] == [64.2, 90.4]


def test_unplugged_mid_frame_is_a_transient_error() -> None:
    async def scenario(device: AdamMdwEmulator) -> None:
        sink = RecordingSink()
        task = asyncio.create_task(scale(device.path, mode="print").run(sink))
        await sink.wait_for(lambda: bool(sink.states))
        with pytest.raises(TransientDriverError, match="lost"):
            await pulled_mid_frame(device, task, device.print_frame()[:6])
        assert sink.readings == []

    with AdamMdwEmulator(ScaleState(weight=72.5)) as device:
        asyncio.run(scenario(device))


def test_a_request_during_a_weighing_does_not_weigh_twice() -> None:
    async def scenario(device: AdamMdwEmulator) -> RecordingSink:
        sink, peripheral = RecordingSink(), scale(device.path, response_s=0.3)
        async with running(peripheral, sink):
            await sink.wait_for(lambda: bool(sink.states))
            device.answering = False  # the weighing cannot end until the scale answers
            peripheral.request_measurement()
            await sink.wait_for(lambda: b"W" in device.received())
            peripheral.request_measurement()  # the UI asks again while the patient steps on
            device.answering = True
            await sink.wait_for(lambda: bool(sink.readings))
            await asyncio.sleep(0.1)  # room for a second weighing to start (none must)
        return sink

    with AdamMdwEmulator(ScaleState(weight=72.5)) as device:
        sink = asyncio.run(scenario(device))
        assert device.commands == [b"W"]  # the first W went unanswered
    assert len(sink.readings) == 1
    assert [s for s, _ in sink.states] == ["waiting", "measuring", "waiting"]
