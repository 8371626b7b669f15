"""Framers: whole frames from partial reads, noise before and between frames, garbage past
the bound, and fuzzing (random chunkings, random bytes: progress always, never a hang)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.drivers.serial import accutorr, adam_mdw
from healthhub.drivers.serial.framing import DelimitedFramer, Framer, LineFramer

STX_ETX = DelimitedFramer(b"\x02", b"\x03", max_frame=16)
MDW = adam_mdw.FRAMER
LINES = LineFramer(max_frame=16)
W_ANSWER = b"\n    72.5kg\r\n\x30\x70\x31\r\x03"  # manual 8.5.3 (1), a stable 72.5 kg


def run(framer: Framer, chunks: list[bytes]) -> tuple[list[bytes], int, int]:
    """Feed ``chunks`` one read at a time as FrameReader does: (frames, noise, max buffer)."""
    buffer = b""
    frames: list[bytes] = []
    noise = 0
    largest = 0
    tail = False
    for chunk in chunks:
        buffer += chunk
        largest = max(largest, len(buffer))
        while True:
            frame, consumed = framer(buffer)
            assert 0 <= consumed <= len(buffer)
            if consumed == 0:
                assert frame is None
                assert len(buffer) <= framer.max_frame  # waiting only below the bound
                break
            buffer = buffer[consumed:]
            if frame is None:
                noise += consumed
                tail = framer.overflow_leaves_tail
            elif tail:
                noise += consumed
                tail = False
            else:
                assert len(frame) <= framer.max_frame
                frames.append(frame)
    return frames, noise, largest


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- delimited frames ----------------------------------------------------------------------


def test_delimited_frame_whole_and_byte_by_byte() -> None:
    data = b"\x02hello\x03"
    assert STX_ETX(data) == (data, len(data))
    assert run(STX_ETX, bytewise(data))[:2] == ([data], 0)


def test_delimited_needs_more_until_the_end_arrives() -> None:
    assert STX_ETX(b"") == (None, 0)
    assert STX_ETX(b"\x02hel") == (None, 0)


def test_delimited_noise_before_and_between_frames_is_counted() -> None:
    data = b"ab\x02one\x03\xff\xfe\x02two\x03z"
    frames, noise, _ = run(STX_ETX, [data])
    assert frames == [b"\x02one\x03", b"\x02two\x03"]
    assert noise == 5  # "ab", 0xFF 0xFE, "z"
    assert STX_ETX(b"ab\x02x\x03") == (None, 2)  # noise first, then the frame


def test_delimited_unterminated_garbage_is_discarded_past_the_bound() -> None:
    garbage = b"\x02" + b"g" * 40
    frame, consumed = STX_ETX(garbage)
    assert frame is None
    assert consumed == 16  # the bound, as there is no later start
    frames, noise, largest = run(STX_ETX, [*bytewise(garbage), b"\x02ok\x03"])
    assert frames == [b"\x02ok\x03"]
    assert noise == len(garbage)
    assert largest <= 16 + 1


def test_delimited_overlong_frame_resyncs_on_the_next_start() -> None:
    unclosed = b"\x02" + b"x" * 5 + b"\x02" + b"y" * 20
    assert STX_ETX(unclosed) == (None, 6)  # up to the next start, inside the bound
    long_one = b"\x02" + b"x" * 20 + b"\x02ok\x03"
    frames, noise, _ = run(STX_ETX, [long_one])
    assert frames == [b"\x02ok\x03"]
    assert noise == 21


def test_delimited_multibyte_start_split_across_reads() -> None:
    framer = DelimitedFramer(b"<<", b">>", max_frame=32)
    data = b"junk<<payload>>"
    assert framer(b"junk<") == (None, 4)  # keeps the "<" that may open the start
    frames, noise, _ = run(framer, bytewise(data))
    assert frames == [b"<<payload>>"]
    assert noise == 4


def test_framer_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        DelimitedFramer(b"", b"\x03", 8)
    with pytest.raises(ValueError):
        DelimitedFramer(b"\x02", b"\x03", 1)
    with pytest.raises(ValueError):
        LineFramer(max_frame=0)


def test_mdw_answer_with_its_inner_lf_is_one_frame() -> None:
    assert MDW(W_ANSWER) == (W_ANSWER, len(W_ANSWER))
    frames, noise, _ = run(MDW, [b"\x00\xff", *bytewise(W_ANSWER), b"\x11", W_ANSWER])
    assert frames == [W_ANSWER, W_ANSWER]
    assert noise == 3


# -- lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [b"\r", b"\n", b"\r\n"])
def test_lines_with_cr_lf_or_crlf(suffix: bytes) -> None:
    data = b"ABC" + suffix + b"12345" + suffix
    frames, noise, _ = run(LINES, [data])
    assert frames == [b"ABC", b"12345"]
    assert noise == 0


def test_crlf_split_across_reads_gives_an_empty_line() -> None:
    assert LINES(b"ABC\r") == (b"ABC", 4)
    assert LINES(b"\nDEF\r\n") == (b"", 1)  # the LF of the CR LF, read later
    frames, _, _ = run(LINES, bytewise(b"ABC\r\nDEF\r\n"))
    assert [f for f in frames if f] == [b"ABC", b"DEF"]


def test_overlong_line_and_its_tail_are_discarded() -> None:
    long_line = b"9" * 40 + b"\r"
    frames, noise, largest = run(LINES, [*bytewise(long_line), b"OK\r"])
    assert frames == [b"OK"]  # the long line's last digits never pass for a short code
    assert noise == len(long_line)
    assert largest <= 16 + 1


def test_line_of_exactly_the_bound_is_a_frame() -> None:
    line = b"x" * 16
    assert LINES(line + b"\r") == (line, 17)
    assert LINES(line) == (None, 0)
    assert LINES(line + b"y") == (None, 16)


def test_accutorr_answer_line() -> None:
    line = b"P:--,85,120, 45, 80,000,010,000, 5"
    frames, _, _ = run(accutorr.FRAMER, [b">" + line + b"\r\n>"])
    assert frames == [b">" + line]


# -- fuzzing ---------------------------------------------------------------------------------
# One binary strategy per test (the cheapest hypothesis draws), from which the stream and
# its chunking are derived: 10,000 examples per framer stay within the suite's time.


def chunked(data: bytes, cuts: bytes) -> list[bytes]:
    """``data`` cut where the bytes of ``cuts`` point (modulo its length)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def check_framer(framer: Framer, stream: bytes, cuts: bytes) -> list[bytes]:
    whole, whole_noise, _ = run(framer, [stream])
    pieces, noise, largest = run(framer, chunked(stream, cuts))
    assert largest <= framer.max_frame + len(stream)
    assert sum(len(f) for f in whole) + whole_noise <= len(stream)
    # Any chunking gives the same frames (an empty line is the CR LF split across reads).
    assert [f for f in pieces if f] == [f for f in whole if f]
    assert noise == whole_noise
    return [f for f in pieces if f]


@settings(max_examples=10_000, deadline=None)
@given(blob=st.binary(max_size=160))
def test_fuzz_delimited_framer(blob: bytes) -> None:
    cuts, junk = blob[:12], blob[12:]
    frames = check_framer(MDW, junk, cuts)
    assert all(f.startswith(b"\n") and f.endswith(b"\x03") for f in frames)
    # Noise that holds no start byte never hides the frame after it.
    noise = junk.replace(b"\n", b"")
    assert check_framer(MDW, noise + W_ANSWER + noise[:7], cuts) == [W_ANSWER]
    check_framer(DelimitedFramer(b"<<", b">>", max_frame=24), junk, cuts)


@settings(max_examples=10_000, deadline=None)
@given(blob=st.binary(max_size=160))
def test_fuzz_line_framer(blob: bytes) -> None:
    cuts, junk = blob[:12], blob[12:]
    framer = LineFramer(max_frame=24)
    frames = check_framer(framer, junk + b"\rOK\r\n", cuts)
    assert frames[-1] == b"OK"  # whatever came before, the next good line comes through
    assert all(len(f) <= 24 and not set(f) & {10, 13} for f in frames)
