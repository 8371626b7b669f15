"""What ``collect-logs`` returns: the agent's recent log lines, bounded and redacted.

:class:`LogRing` is a logging handler the agent installs on the root logger. It keeps the
most recent formatted records in memory, bounded by count and by size; a record that falls
out is counted (``dropped``), so a reader knows the window is not the whole story.

:func:`collect` takes the last lines from the ring, redacts them and bounds the result to
:data:`MAX_RESULT_BYTES` (as JSON, the size that goes on the wire), leaving out the oldest
lines first and saying how many it left out.

:func:`redact` is defence in depth. Health Hub never logs patient data, but a third-party
library might log what passes through it, so anything shaped like an NHS number, a UK phone
number, an e-mail address, a UK postcode or a date written dd/mm/yyyy (a date of birth) is
replaced by ``[redacted]``. What an engineer needs to read a log stays: ISO 8601
timestamps, UUIDs and hex digests are set apart before any rule runs, and the rules are
bounded so that IP addresses, ports and version numbers never match them. False positives
are accepted (a bare ten-digit number, such as a Unix time in seconds, is redacted); our own
logs write times in ISO 8601.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from datetime import UTC, datetime
from typing import Any, Final

from healthhub.protocol import canonical
from healthhub.protocol.clock import format_utc

REDACTED: Final = "[redacted]"
DEFAULT_MAX_RECORDS: Final = 2000
DEFAULT_MAX_BYTES: Final = 256 * 1024
#: One record longer than this (a huge traceback, a dumped payload) is cut.
MAX_RECORD_BYTES: Final = 8 * 1024
#: The most a collect-logs result carries, as JSON: it must fit one MQTT result message.
MAX_RESULT_BYTES: Final = 200 * 1024

# -- redaction ---------------------------------------------------------------------------

# Not next to a letter or digit, and not a piece of a longer dotted or hyphenated number.
_START = r"(?<![0-9A-Za-z])(?<!\d[.-])"
_END = r"(?![0-9A-Za-z]|[.-]\d)"

#: Tokens never redacted: ISO 8601 date-times, UUIDs, hex digests (with at least one letter,
#: so that a long run of digits is not waved through).
_KEEP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
    r"|(?<![0-9A-Za-z])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])"
)
# The look-behind makes a match start only where a run of address characters starts: without
# it a long run of letters is rescanned from every one of them (quadratic).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
#: NHS numbers: ten digits, run together or spaced (or hyphenated) 3-3-4.
_NHS = re.compile(_START + r"\d{3}([ -]?)\d{3}\1\d{4}" + _END)
#: UK phone numbers: 0 or +44 / 0044 (with an optional "(0)"), then 9 or 10 digits in
#: groups, e.g. 07700 900123, +44 7700 900123, (020) 7946 0958, 0161 496 0000. The digit
#: count is checked in :func:`_phone`.
_PHONE = re.compile(
    r"(?<![0-9A-Za-z+])(?<!\d[.-])"
    r"(?:(?:\+|00)44[ -]?(?:\(0\)[ -]?)?|\(?0)"
    r"\d{2,4}\)?[ -]?\d{3,4}(?:[ -]?\d{3,4})?" + _END
)
#: Dates written day first (dd/mm/yyyy, also with . or -): how a date of birth is written.
_DATE = re.compile(
    _START + r"(?:0?[1-9]|[12]\d|3[01])([/.-])(?:0?[1-9]|1[0-2])\1(?:1[89]|20)\d{2}" + _END
)
#: UK postcodes (outward code, optional space, inward code), either case. The inward
#: code's letters are never C, I, K, M, O or V.
_POSTCODE = re.compile(
    r"(?<![0-9A-Za-z])"
    r"[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?"
    r" ?\d[ABD-HJLNP-UW-Z]{2}"
    r"(?![0-9A-Za-z])",
    re.IGNORECASE,
)


def _phone(match: re.Match[str]) -> str:
    """Redact a phone-shaped match only if it holds a UK number's 9 or 10 national digits."""
    digits = re.sub(r"\D", "", match.group().replace("(0)", ""))
    prefix = next(p for p in ("0044", "44", "0") if digits.startswith(p))
    return REDACTED if 9 <= len(digits) - len(prefix) <= 10 else match.group()


def _redact_plain(text: str) -> str:
    text = _EMAIL.sub(REDACTED, text)
    text = _NHS.sub(REDACTED, text)
    text = _PHONE.sub(_phone, text)
    text = _DATE.sub(REDACTED, text)
    return _POSTCODE.sub(REDACTED, text)


def redact(text: str) -> str:
    """``text`` with anything shaped like personal data replaced by ``[redacted]``."""
    pieces: list[str] = []
    position = 0
    for kept in _KEEP.finditer(text):
        pieces.append(_redact_plain(text[position : kept.start()]))
        pieces.append(kept.group())
        position = kept.end()
    pieces.append(_redact_plain(text[position:]))
    return "".join(pieces)


# -- the ring ----------------------------------------------------------------------------


class UtcFormatter(logging.Formatter):
    """``2026-11-23T10:15:30.123Z WARNING healthhub.agent.delivery: message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return format_utc(datetime.fromtimestamp(record.created, UTC))


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f" [... {len(data) - limit} bytes cut]"
    keep = max(0, limit - len(marker))
    return data[:keep].decode("utf-8", errors="ignore") + marker


class LogRing(logging.Handler):
    """The most recent log records, formatted, at most ``max_records`` and ``max_bytes``
    (UTF-8) of them; older ones are dropped and counted."""

    def __init__(
        self,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        level: int = logging.NOTSET,
    ) -> None:
        if max_records < 1 or max_bytes < 1:
            raise ValueError("a log ring needs room for at least one record and one byte")
        super().__init__(level)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.record_limit = min(MAX_RECORD_BYTES, max_bytes)
        self._lines: deque[tuple[str, int]] = deque()
        self._bytes = 0
        self._dropped = 0
        self._cut = 0
        self.setFormatter(UtcFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # logging's contract: report it, never raise
            self.handleError(record)
            return
        if _utf8_size(line) > self.record_limit:
            line = _cut(line, self.record_limit)
            self._cut += 1
        size = _utf8_size(line)
        # Handler.handle() holds self.lock around emit(): appends and reads do not interleave.
        self._lines.append((line, size))
        self._bytes += size
        while len(self._lines) > self.max_records or self._bytes > self.max_bytes:
            _, gone = self._lines.popleft()
            self._bytes -= gone
            self._dropped += 1

    def install(self, logger: logging.Logger | None = None) -> LogRing:
        """Add the ring to ``logger`` (the root logger by default); returns the ring."""
        (logger or logging.getLogger()).addHandler(self)
        return self

    def uninstall(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).removeHandler(self)

    def snapshot(self) -> tuple[list[str], int]:
        """The lines held (oldest first) and how many were dropped, read together."""
        self.acquire()
        try:
            return [line for line, _ in self._lines], self._dropped
        finally:
            self.release()

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def size(self) -> int:
        """The UTF-8 bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._lines)

    def bound(self) -> dict[str, int]:
        return {
            "records": self.max_records,
            "bytes": self.max_bytes,
            "record_bytes": self.record_limit,
        }

    def to_json(self) -> dict[str, Any]:
        """For telemetry: what the ring holds, its bounds, and what it lost."""
        return {
            "records": len(self._lines),
            "bytes": self._bytes,
            "dropped": self._dropped,
            "cut": self._cut,
            "bound": self.bound(),
        }


def _json_size(line: str) -> int:
    return len(canonical.dumps(line)) + 1  # the line as a JSON string, and its comma


def collect(ring: LogRing, lines: int, *, max_bytes: int = MAX_RESULT_BYTES) -> dict[str, Any]:
    """The detail of a ``collect-logs`` result: the last ``lines`` lines, redacted, at most
    ``max_bytes`` as JSON (oldest left out first: ``omitted`` says how many)."""
    if isinstance(lines, bool) or not isinstance(lines, int) or lines < 1:
        raise ValueError("lines must be a whole number from 1")
    held, dropped = ring.snapshot()
    chosen = [redact(line) for line in held[-lines:]]
    total = 2  # the brackets of the JSON list
    start = len(chosen)
    while start > 0 and total + _json_size(chosen[start - 1]) <= max_bytes:
        start -= 1
        total += _json_size(chosen[start])
    kept = chosen[start:]
    return {
        "lines": kept,
        "requested": lines,
        "omitted": start,
        "dropped": dropped,
        "bound": {**ring.bound(), "result_bytes": max_bytes},
        "bytes": len(canonical.dumps(kept)),
    }
