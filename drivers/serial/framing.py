"""Cutting a serial byte stream into frames, so partial reads compose.

A framer looks at the bytes received so far and answers ``(frame, consumed)``:

- ``(None, 0)``: no whole frame yet; wait for more bytes;
- ``(None, n)``: the first ``n`` bytes are noise and are discarded (the caller counts them);
- ``(frame, n)``: one frame, which took the first ``n`` bytes.

The caller drops ``consumed`` bytes from its buffer and asks again until the answer is
``(None, 0)``. Every framer has a bound on a frame's length (``max_frame``): it answers
``(None, 0)`` only while the buffer is shorter than the bound, so a stream of garbage that
never brings a terminator is discarded once it passes the bound and the caller's buffer
never holds more than ``max_frame`` bytes plus one read. Framers are pure: no I/O, no state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

FrameResult = tuple[bytes | None, int]


class Framer(Protocol):
    @property
    def max_frame(self) -> int:
        """The longest frame, in bytes."""

    @property
    def overflow_leaves_tail(self) -> bool:
        """True when discarding an over-long frame leaves its tail in the stream (a line
        framer cannot see where the long line ends): the caller drops the next frame too."""

    def __call__(self, buffer: bytes) -> FrameResult:
        """The next frame in ``buffer``, or how many bytes to discard, or ``(None, 0)``."""


@dataclass(frozen=True)
class DelimitedFramer:
    """Frames that open with ``start`` and close with ``end``, delimiters included.

    Bytes before a ``start`` are noise. A ``start`` that is not closed by an ``end`` within
    ``max_frame`` bytes is noise too: everything up to the next ``start`` (or ``max_frame``
    bytes, if there is none) is discarded. A second ``start`` inside a frame does not
    restart it, because some protocols (the Adam MDW's two-line answer) carry the start
    byte inside a frame.
    """

    start: bytes
    end: bytes
    max_frame: int
    overflow_leaves_tail: bool = False  # the next frame opens with its own start

    def __post_init__(self) -> None:
        if not self.start or not self.end:
            raise ValueError("start and end delimiters must not be empty")
        if self.max_frame < len(self.start) + len(self.end):
            raise ValueError("max_frame is shorter than the delimiters")

    def __call__(self, buffer: bytes) -> FrameResult:
        begin = buffer.find(self.start)
        if begin < 0:
            # Keep a tail that could be the first bytes of a start split across reads.
            keep = min(len(self.start) - 1, len(buffer))
            while keep and not self.start.startswith(buffer[len(buffer) - keep :]):
                keep -= 1
            return None, len(buffer) - keep
        if begin > 0:
            return None, begin
        close = buffer.find(self.end, len(self.start), self.max_frame)
        if close >= 0:
            size = close + len(self.end)
            return bytes(buffer[:size]), size
        if len(buffer) < self.max_frame:
            return None, 0
        restart = buffer.find(self.start, 1, self.max_frame)
        return None, restart if restart > 0 else self.max_frame


@dataclass(frozen=True)
class LineFramer:
    """Lines ended by any byte of ``terminators`` (CR, LF or CRLF by default).

    A frame is the line without its terminator. A CR followed by LF is one terminator
    when both have arrived; an LF that arrives in a later read is an empty line, which the
    caller ignores. A line longer than ``max_frame`` without a terminator is noise: the
    first ``max_frame`` bytes are discarded, and the caller drops the rest of that line
    (the next frame), which must not pass for a short line of its own.
    """

    max_frame: int
    terminators: bytes = b"\r\n"
    overflow_leaves_tail: bool = True

    def __post_init__(self) -> None:
        if not self.terminators or self.max_frame < 1:
            raise ValueError("a line framer needs terminators and a positive bound")

    def __call__(self, buffer: bytes) -> FrameResult:
        limit = min(len(buffer), self.max_frame + 1)
        for index in range(limit):
            if buffer[index] in self.terminators:
                size = index + 1
                crlf = buffer[index] == 0x0D and 0x0A in self.terminators
                if crlf and size < len(buffer) and buffer[size] == 0x0A:
                    size += 1
                return bytes(buffer[:index]), size
        if len(buffer) <= self.max_frame:
            return None, 0
        return None, self.max_frame
