"""Signed commands: only a genuine, well-formed command for this device is taken."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.protocol import canonical, commands, signed
from healthhub.protocol.commands import (
    CLOCK_SKEW_S,
    MAX_COMMAND_BYTES,
    MAX_LIFETIME_S,
    Command,
    CommandRejected,
    decode,
    encode,
    is_expired,
    make,
    parse_result,
    result,
)
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.ids import is_uuid7
from healthhub.protocol.signed import generate_signing_key

SEED, VERIFY = generate_signing_key()
OTHER_SEED, OTHER_VERIFY = generate_signing_key()
NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
ID = "019ab0c4-5e00-7abc-8def-0123456789ab"


def document(**changes: Any) -> dict[str, Any]:
    """A command document to sign, as a console might write it, with ``changes``."""
    doc: dict[str, Any] = {
        "kind": "command",
        "id": ID,
        "device": "kiosk-1",
        "name": "identify",
        "args": {"seconds": 10},
        "issued_at": "2026-11-23T10:00:00.000Z",
        "expires_at": "2026-11-23T10:05:00.000Z",
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def signed_bytes(doc: dict[str, Any], seed: bytes = SEED) -> bytes:
    return canonical.dumps(signed.sign(doc, seed))


def rejected(payload: bytes, *, device: str = "kiosk-1", now: datetime = NOW) -> CommandRejected:
    with pytest.raises(CommandRejected) as caught:
        decode(payload, VERIFY, device=device, now=now)
    return caught.value


def test_round_trip() -> None:
    command = make("kiosk-1", "identify", {"seconds": 60}, lifetime_s=120, now=NOW)
    assert is_uuid7(command.id)
    assert command.issued_at == "2026-11-23T10:00:00.000Z"
    assert command.expires_at == "2026-11-23T10:02:00.000Z"
    payload = encode(command, SEED)
    assert decode(payload, VERIFY, device="kiosk-1", now=NOW) == command
    on_wire = json.loads(payload)
    assert on_wire["kind"] == "command"
    assert on_wire["args"] == {"seconds": 60}
    assert on_wire["signature"]["alg"] == "Ed25519"


def test_defaults_are_filled_in_and_no_arg_commands_take_none() -> None:
    assert make("kiosk-1", "identify", now=NOW).args == {"seconds": 30}
    assert make("kiosk-1", "collect-logs", now=NOW).args == {"lines": 500}
    assert make("kiosk-1", "reboot", now=NOW).args == {}
    sent = decode(signed_bytes(document(args={})), VERIFY, device="kiosk-1", now=NOW)
    assert sent.args == {"seconds": 30}
    for name, spec in commands.NAMES.items():
        if any(rule.default is None for rule in spec.args.values()):
            continue  # a required argument (cert.install): tests/protocol/test_cert_commands.py
        command = make("kiosk-1", name, now=NOW)
        assert decode(encode(command, SEED), VERIFY, device="kiosk-1", now=NOW) == command


def test_a_hand_written_document_decodes() -> None:
    command = decode(signed_bytes(document()), VERIFY, device="kiosk-1", now=NOW)
    assert command == Command(
        ID,
        "kiosk-1",
        "identify",
        {"seconds": 10},
        "2026-11-23T10:00:00.000Z",
        "2026-11-23T10:05:00.000Z",
    )
    assert command.expires - command.issued == timedelta(minutes=5)


def test_forged_signature() -> None:
    good = signed.sign(document(), SEED)
    forged = canonical.dumps({**good, "name": "reboot", "args": {}})
    exc = rejected(forged)
    assert "does not verify" in str(exc)
    assert exc.command_id == ID  # the refusal can still be reported against the id


def test_signed_by_another_key() -> None:
    exc = rejected(signed_bytes(document(), OTHER_SEED))
    assert "does not verify" in str(exc)


def test_unsigned() -> None:
    exc = rejected(canonical.dumps(document()))
    assert "no Ed25519 signature" in str(exc)
    assert exc.command_id == ID


def test_not_json_or_not_an_object() -> None:
    assert rejected(b"\xff{not json").command_id is None
    assert "JSON object" in str(rejected(b"[1, 2]"))
    assert "not allowed" in str(rejected(b'{"x": NaN}'))


def test_too_big() -> None:
    payload = signed_bytes(document(padding="x" * MAX_COMMAND_BYTES))
    assert "limit" in str(rejected(payload))


def test_wrong_kind() -> None:
    assert "kind is 'config'" in str(rejected(signed_bytes(document(kind="config"))))


def test_command_for_another_device() -> None:
    exc = rejected(signed_bytes(document(device="kiosk-2")))
    assert str(exc) == "command is for kiosk-2, not kiosk-1"
    assert exc.command_id == ID
    assert "not valid" in str(rejected(signed_bytes(document(device="../kiosk-1"))))


def test_unknown_name() -> None:
    exc = rejected(signed_bytes(document(name="rm-rf", args={})))
    assert "unknown command 'rm-rf'" in str(exc)
    assert "identify" in str(exc)  # says what the commands are


@pytest.mark.parametrize(
    ("name", "args", "reason"),
    [
        ("identify", {"seconds": 4}, "seconds is 4; it must be 5-300"),
        ("identify", {"seconds": 301}, "seconds is 301; it must be 5-300"),
        ("identify", {"seconds": "30"}, "whole number"),
        ("identify", {"seconds": True}, "whole number"),
        ("identify", {"seconds": 30.0}, "whole number"),
        ("identify", {"colour": "red"}, "unknown argument(s) colour: identify takes seconds"),
        ("collect-logs", {"lines": 0}, "lines is 0; it must be 1-2000"),
        ("collect-logs", {"lines": 2001}, "lines is 2001"),
        ("reboot", {"force": 1}, "reboot takes no arguments"),
        ("reboot", [], "args must be a mapping"),
    ],
)
def test_bad_args(name: str, args: Any, reason: str) -> None:
    assert reason in str(rejected(signed_bytes(document(name=name, args=args))))


def test_the_console_cannot_make_what_a_device_refuses() -> None:
    with pytest.raises(CommandRejected, match="5-300"):
        make("kiosk-1", "identify", {"seconds": 1000}, now=NOW)
    with pytest.raises(CommandRejected, match="unknown command"):
        make("kiosk-1", "self-destruct", now=NOW)
    with pytest.raises(CommandRejected, match="not valid"):
        make("Kiosk 1", "reboot", now=NOW)
    with pytest.raises(CommandRejected, match="lifetime"):
        make("kiosk-1", "reboot", lifetime_s=MAX_LIFETIME_S + 1, now=NOW)
    with pytest.raises(CommandRejected, match="lifetime"):
        make("kiosk-1", "reboot", lifetime_s=0, now=NOW)
    assert make("kiosk-1", "reboot", lifetime_s=MAX_LIFETIME_S, now=NOW).expires_at == (
        "2026-11-24T10:00:00.000Z"
    )


def test_lifetime_too_long() -> None:
    payload = signed_bytes(document(expires_at="2026-11-24T10:00:00.001Z"))
    assert f"the longest a command may live is {MAX_LIFETIME_S} s" in str(rejected(payload))
    exactly = signed_bytes(document(expires_at="2026-11-24T10:00:00.000Z"))
    assert decode(exactly, VERIFY, device="kiosk-1", now=NOW).expires_at.startswith("2026-11-24")


@pytest.mark.parametrize("expires_at", ["2026-11-23T09:59:59.000Z", "2026-11-23T10:00:00.000Z"])
def test_lifetime_negative_or_zero(expires_at: str) -> None:
    assert "is not after issued_at" in str(rejected(signed_bytes(document(expires_at=expires_at))))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("issued_at", "yesterday", "issued_at is not an ISO 8601 timestamp"),
        ("issued_at", "2026-11-23T10:00:00", "issued_at has no timezone"),
        ("expires_at", 1764000000, "expires_at must be an ISO 8601 string"),
        ("issued_at", ..., "command has no issued_at"),
        ("args", ..., "command has no args"),
    ],
)
def test_bad_timestamps_and_missing_fields(field: str, value: Any, reason: str) -> None:
    assert reason in str(rejected(signed_bytes(document(**{field: value}))))


def test_unknown_fields_are_refused() -> None:
    exc = rejected(signed_bytes(document(priority="high")))
    assert "unknown field(s) priority" in str(exc)


def test_issued_in_the_future() -> None:
    payload = signed_bytes(document())
    before = NOW - timedelta(seconds=CLOCK_SKEW_S)
    assert decode(payload, VERIFY, device="kiosk-1", now=before).id == ID  # within the skew
    assert "check that both clocks are set" in str(
        rejected(payload, now=before - timedelta(milliseconds=1))
    )


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-a-uuid",
        str(uuid.uuid4()),  # a UUID, but not version 7
        ID.upper(),  # the same id spelled otherwise would pass the journal as new
        "{" + ID + "}",
        ID.replace("-", ""),
        42,
        None,
    ],
)
def test_id_must_be_a_canonical_uuid7(bad_id: Any) -> None:
    exc = rejected(signed_bytes(document(id=bad_id)))
    assert "is not a UUIDv7" in str(exc)
    assert exc.command_id is None  # nothing usable to report it against


def test_command_id_is_filled_when_readable() -> None:
    exc = rejected(signed_bytes(document(name="format-disk")))
    assert exc.command_id == ID
    assert rejected(signed_bytes(document(id="nope", name="format-disk"))).command_id is None


def test_expired_or_not() -> None:
    command = decode(signed_bytes(document()), VERIFY, device="kiosk-1", now=NOW)
    expires = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert not is_expired(command, NOW)
    assert not is_expired(command, expires)
    assert not is_expired(command, expires + timedelta(seconds=CLOCK_SKEW_S))  # the allowance
    assert is_expired(command, expires + timedelta(seconds=CLOCK_SKEW_S, milliseconds=1))
    # decode itself does not refuse an expired command: the device reports it as expired
    later = expires + timedelta(hours=1)
    assert decode(signed_bytes(document()), VERIFY, device="kiosk-1", now=later) == command


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        decode(signed_bytes(document()), VERIFY, device="kiosk-1", now=datetime(2026, 11, 23))


# -- results ------------------------------------------------------------------------------


def test_result_round_trip() -> None:
    payload = result(ID, "kiosk-1", "collect-logs", "succeeded", detail={"lines": ["a"]}, at=NOW)
    assert parse_result(payload) == {
        "kind": "command-result",
        "id": ID,
        "device": "kiosk-1",
        "name": "collect-logs",
        "state": "succeeded",
        "reason": "",
        "detail": {"lines": ["a"]},
        "at": "2026-11-23T10:00:00.000Z",
    }
    assert payload == canonical.dumps(json.loads(payload))  # canonical JSON


def test_a_rejection_without_a_readable_id_is_still_reported() -> None:
    parsed = parse_result(result(None, "kiosk-1", None, "rejected", reason="not JSON", at=NOW))
    assert parsed["id"] is None
    assert parsed["reason"] == "not JSON"
    with pytest.raises(ValueError, match="only a rejected command"):
        result(None, "kiosk-1", "reboot", "succeeded")


def test_result_states() -> None:
    assert commands.STATES == ("accepted", "succeeded", "failed", "rejected", "expired")
    assert set(commands.FINAL_STATES) == {"succeeded", "failed", "rejected", "expired"}
    for state in commands.STATES:
        assert parse_result(result(ID, "kiosk-1", "reboot", state))["state"] == state
    with pytest.raises(ValueError, match="state 'done'"):
        result(ID, "kiosk-1", "reboot", "done")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"garbage",
        b"[]",
        b'{"kind": "command"}',
        canonical.dumps({"kind": "command-result", "id": ID}),
    ],
)
def test_parse_result_refuses_garbage(payload: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse_result(payload)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("state", "done"),
        ("id", "nope"),
        ("id", None),  # only a rejection may lack its id
        ("device", "kiosk/1"),
        ("name", 3),
        ("reason", None),
        ("detail", [1]),
        ("at", "soon"),
    ],
)
def test_parse_result_checks_each_field(field: str, value: Any) -> None:
    good = json.loads(result(ID, "kiosk-1", "reboot", "succeeded", at=NOW))
    with pytest.raises(MalformedMessage):
        parse_result(canonical.dumps({**good, field: value}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_decode_refuses_random_bytes_with_a_typed_error(data: bytes) -> None:
    with pytest.raises(CommandRejected):
        decode(data, VERIFY, device="kiosk-1", now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400), st.binary(max_size=4))
def test_decode_refuses_every_damaged_command(cut: int, junk: bytes) -> None:
    payload = encode(make("kiosk-1", "identify", now=NOW), SEED)
    damaged = payload[: min(cut, len(payload) - 1)] + junk
    if damaged.rstrip(b" \t\n\r") == payload:  # JSON allows trailing white space
        return
    with pytest.raises(CommandRejected):
        decode(damaged, VERIFY, device="kiosk-1", now=NOW)
