"""collect-logs: the ring keeps a bounded window of recent lines; what leaves is redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from healthhub.agent.log_capture import (
    MAX_RECORD_BYTES,
    MAX_RESULT_BYTES,
    REDACTED,
    LogRing,
    collect,
    redact,
)
from healthhub.protocol import canonical


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own, so that the tests see only their own records."""
    named = logging.getLogger("healthhub.tests.log_capture")
    named.setLevel(logging.DEBUG)
    named.propagate = False
    yield named
    for handler in list(named.handlers):
        named.removeHandler(handler)


def test_lines_are_formatted_with_utc_time_level_and_logger(logger: logging.Logger) -> None:
    ring = LogRing().install(logger)
    logger.warning("outbox %d deep", 12)
    [line], dropped = ring.snapshot()
    assert line.endswith(" WARNING healthhub.tests.log_capture: outbox 12 deep")
    assert line[:24].endswith("Z")
    assert line[10] == "T"
    assert dropped == 0


def test_the_record_bound_drops_oldest_and_counts(logger: logging.Logger) -> None:
    ring = LogRing(max_records=5).install(logger)
    for n in range(12):
        logger.info("line %d", n)
    lines, dropped = ring.snapshot()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["7", "8", "9", "10", "11"]
    assert dropped == 7
    assert len(ring) == 5


def test_the_byte_bound_drops_oldest_and_counts(logger: logging.Logger) -> None:
    ring = LogRing(max_records=1000, max_bytes=1000).install(logger)
    for n in range(50):
        logger.info("%02d %s", n, "x" * 60)
    lines, dropped = ring.snapshot()
    assert ring.size <= 1000
    assert ring.size == sum(len(line.encode()) for line in lines)
    assert 0 < len(lines) < 50
    assert dropped == 50 - len(lines)
    assert "49 xxx" in lines[-1]
    assert ring.to_json()["dropped"] == dropped


def test_a_huge_record_is_cut_not_let_fill_the_ring(logger: logging.Logger) -> None:
    ring = LogRing().install(logger)
    logger.info("before")
    logger.error("payload: %s", "é" * 100_000)
    lines, dropped = ring.snapshot()
    assert dropped == 0
    assert len(lines[1].encode()) <= MAX_RECORD_BYTES
    assert lines[1].endswith("bytes cut]")
    assert ring.to_json()["cut"] == 1


def test_tracebacks_are_kept(logger: logging.Logger) -> None:
    ring = LogRing().install(logger)
    try:
        raise RuntimeError("broker gone")
    except RuntimeError:
        logger.exception("delivery failed")
    [line], _ = ring.snapshot()
    assert "Traceback" in line
    assert "RuntimeError: broker gone" in line


def test_install_on_the_root_logger() -> None:
    ring = LogRing().install()
    try:
        assert ring in logging.getLogger().handlers
        logging.getLogger("healthhub.tests.somewhere").error("seen at the root")
        assert "seen at the root" in ring.snapshot()[0][-1]
    finally:
        ring.uninstall()
    assert ring not in logging.getLogger().handlers


def test_bounds_must_leave_room() -> None:
    with pytest.raises(ValueError):
        LogRing(max_records=0)


# -- redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "personal",
    [
        "943 476 5919",  # NHS number, spaced 3-3-4
        "9434765919",  # run together
        "943-476-5919",
        "07700 900123",  # UK mobile
        "07700900123",
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "020 7946 0958",  # London
        "(020) 7946 0958",
        "+44 (0)20 7946 0958",
        "0161 496 0000",
        "01632 960123",
        "jane.doe@nhs.net",
        "J.Smith+kiosk@example.co.uk",
        "SW1A 1AA",  # postcodes
        "M1 1AE",
        "B33 8TH",
        "CR2 6XH",
        "DN55 1PT",
        "EC1A1BB",
        "sw1a 1aa",
        "01/02/1990",  # date of birth
        "1/2/1990",
        "31/12/2001",
        "01-02-1990",
        "01.02.1990",
    ],
)
def test_personal_data_is_redacted(personal: str) -> None:
    line = f"2026-11-23T10:15:30.123Z INFO lib: got {personal} from the form"
    assert redact(line) == f"2026-11-23T10:15:30.123Z INFO lib: got {REDACTED} from the form"


def test_personal_data_at_the_edges_and_in_punctuation() -> None:
    assert redact("9434765919") == REDACTED
    assert redact("(nhs=9434765919)") == f"(nhs={REDACTED})"
    assert redact("'SW1A 1AA',") == f"'{REDACTED}',"
    assert redact("a@b.co;07700 900123.") == f"{REDACTED};{REDACTED}."


@pytest.mark.parametrize(
    "technical",
    [
        "2026-11-23T10:15:30.123Z",
        "2026-11-23T10:15:30+00:00",
        "2026-11-23 10:15:30,123",
        "2026-11-23",
        "0190a3c2-7b1e-7012-8345-067891234567",  # UUIDv7
        "01234567-0123-7123-8123-012345678901",  # a UUID with long digit runs
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # sha256
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "192.168.1.10",
        "10.0.0.5:8883",
        "127.0.0.1:1883",
        "port 8883",
        "healthhub 0.1.0",
        "Kivy 2.3.1",
        "paho-mqtt 2.1.0",
        "Python 3.11.2",
        "seq 123456789",  # nine digits: not an NHS number
        "1732356930123",  # milliseconds since 1970 (13 digits)
        "0.1234567890",
        "kiosk-1 practice-a",
        "sha256 bp-1 mm[Hg] kg/m2",
        "01632",
        "healthhub/v1/devices/kiosk-1/cmd/res",
    ],
)
def test_technical_details_stay_readable(technical: str) -> None:
    line = f"2026-11-23T10:15:30.123Z INFO healthhub.agent: {technical} ok"
    assert redact(line) == line


def test_a_uuid_next_to_personal_data() -> None:
    uid = "0190a3c2-7b1e-7012-8345-067891234567"
    assert redact(f"{uid} 9434765919 {uid}") == f"{uid} {REDACTED} {uid}"


def test_kept_tokens_are_set_apart_before_any_rule_runs() -> None:
    # A message id shaped like an address: the UUID in it is kept, so no rule sees an e-mail.
    message_id = "<0190a3c2-7b1e-7012-8345-067891234567@kiosk-1.local>"
    assert redact(message_id) == message_id
    assert redact("<jane.doe@kiosk-1.local>") == f"<{REDACTED}>"


# -- collect -----------------------------------------------------------------------------


def test_collect_returns_the_last_lines_redacted(logger: logging.Logger) -> None:
    ring = LogRing(max_records=3).install(logger)
    for n in range(5):
        logger.info("reading %d for jane@example.com", n)
    detail = collect(ring, 2)
    assert [line.split(": ", 1)[1] for line in detail["lines"]] == [
        f"reading 3 for {REDACTED}",
        f"reading 4 for {REDACTED}",
    ]
    assert detail["dropped"] == 2
    assert detail["omitted"] == 0
    assert detail["requested"] == 2
    assert detail["bound"] == {
        "records": 3,
        "bytes": 256 * 1024,
        "record_bytes": MAX_RECORD_BYTES,
        "result_bytes": MAX_RESULT_BYTES,
    }
    assert detail["bytes"] == len(canonical.dumps(detail["lines"]))
    assert len(collect(ring, 2000)["lines"]) == 3
    with pytest.raises(ValueError):
        collect(ring, 0)


def test_collect_is_bounded_and_leaves_out_the_oldest(logger: logging.Logger) -> None:
    ring = LogRing(max_records=2000, max_bytes=4 * 1024 * 1024).install(logger)
    for n in range(2000):
        logger.info("%04d %s", n, "y" * 500)
    detail = collect(ring, 2000)
    encoded = canonical.dumps(detail["lines"])
    assert len(encoded) <= MAX_RESULT_BYTES
    assert detail["bytes"] == len(encoded)
    assert detail["omitted"] > 0
    assert detail["omitted"] + len(detail["lines"]) == 2000
    assert " 1999 " in detail["lines"][-1]  # the newest is kept
    assert f" {detail['omitted']:04d} " in detail["lines"][0]  # contiguous up to it
    # the whole detail fits in a result message
    assert len(json.dumps(detail)) < 256 * 1024


def test_collect_counts_json_escapes_against_the_bound(logger: logging.Logger) -> None:
    ring = LogRing(max_records=2000, max_bytes=4 * 1024 * 1024).install(logger)
    for _ in range(400):
        logger.info("%s", "\x01" * 1000)  # six bytes each once escaped
    detail = collect(ring, 2000, max_bytes=100_000)
    assert detail["bytes"] <= 100_000
    assert len(canonical.dumps(detail["lines"])) <= 100_000
    assert detail["omitted"] > 0
