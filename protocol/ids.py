"""UUIDv7 (RFC 9562, section 5.7): time-ordered ids made once when a reading is taken.

The envelope id is the practice side's key for exactly-once filing, so it is
made when the reading is taken and kept through every retry. Version 7 puts
the Unix time in milliseconds in the first 48 bits, so ids sort by time and
index well. Within one millisecond a per-process counter in ``rand_a`` keeps
them strictly increasing (RFC 9562 section 6.2, method 1).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_COUNTER_MAX = 0xFFF


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A new UUIDv7; ``now_ms`` is for tests that need a fixed clock."""
    global _last_ms, _counter  # noqa: PLW0603 - the monotonic state is process-wide by design
    with _lock:
        ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > _COUNTER_MAX:  # 4096 ids in one millisecond: borrow the next one
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count up
        _last_ms = ms
        counter = _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def is_uuid7(text: str) -> bool:
    """True if ``text`` is the canonical string form of a UUIDv7."""
    try:
        parsed = uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def uuid7_millis(value: uuid.UUID) -> int:
    """The Unix time in milliseconds that a UUIDv7 carries."""
    return value.int >> 80
