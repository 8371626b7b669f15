"""Envelopes: round trip, sealing binds the header, and bad bytes get typed errors."""

from __future__ import annotations

import base64
import contextlib
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthhub.protocol import canonical
from healthhub.protocol import envelope as wire
from healthhub.protocol.errors import MalformedMessage, ProtocolError, SealError
from healthhub.protocol.ids import uuid7
from healthhub.protocol.sealed import Opener, Sealer, generate_keypair

PRIVATE, PUBLIC = generate_keypair()
BODY = {"components": [{"code": "systolic", "value": 128, "unit": "mm[Hg]"}]}


def clear(**overrides: object) -> wire.Envelope:
    fields = {
        "id": str(uuid7()),
        "device": "wall-1",
        "site": "practice-a",
        "seq": 1,
        "stream": "readings",
        "kind": "blood_pressure",
        "at": "2026-11-23T10:15:30.123Z",
        "body": BODY,
    }
    fields.update(overrides)
    return wire.Envelope(**fields)  # type: ignore[arg-type]


def test_sealed_round_trip_reveals_body_only_to_ingest_key() -> None:
    sealed = wire.seal_envelope(Sealer(PUBLIC), clear())
    data = sealed.to_bytes()
    assert b"systolic" not in data
    # (not a bare b"128": base64 ciphertext holds those three characters about once in 700 runs)
    assert b'"value":128' not in data
    parsed = wire.parse(data)
    assert parsed == sealed
    assert wire.open_body(parsed, Opener(PRIVATE)) == BODY


def test_other_key_cannot_open() -> None:
    other_private, _ = generate_keypair()
    sealed = wire.seal_envelope(Sealer(PUBLIC), clear())
    with pytest.raises(SealError):
        wire.open_body(sealed, Opener(other_private))


@pytest.mark.parametrize(
    "change", [{"seq": 2}, {"device": "wall-2"}, {"site": "practice-b"}, {"kind": "bmi"}]
)
def test_changed_header_is_detected(change: dict[str, object]) -> None:
    sealed = wire.seal_envelope(Sealer(PUBLIC), clear())
    tampered = wire.parse(canonical.dumps({**sealed.to_json(), **change}))
    with pytest.raises(SealError, match="tampered"):
        wire.open_body(tampered, Opener(PRIVATE))


def test_flipped_ciphertext_byte_is_detected() -> None:
    sealed = wire.seal_envelope(Sealer(PUBLIC), clear())
    raw = bytearray(base64.b64decode(sealed.body["sealed"]))
    raw[40] ^= 0x01
    tampered = replace(sealed, body={"sealed": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(SealError):
        wire.open_body(tampered, Opener(PRIVATE))


def test_clinical_stream_must_be_sealed() -> None:
    with pytest.raises(MalformedMessage, match="must be sealed"):
        wire.parse(clear().to_bytes())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("id"), "missing id"),
        (lambda e: e.update(id="not-a-uuid"), "UUIDv7"),
        (lambda e: e.update(id="0190b5a8-0000-4000-8000-000000000000"), "UUIDv7"),
        (lambda e: e.update(seq=0), "positive"),
        (lambda e: e.update(seq=True), "positive"),
        (lambda e: e.update(seq="1"), "positive"),
        (lambda e: e.update(v=2), "version"),
        (lambda e: e.update(device="Wall/1"), "device"),
        (lambda e: e.update(site="#"), "site"),
        (lambda e: e.update(stream="secrets"), "stream"),
        (lambda e: e.update(at="yesterday"), "ISO 8601"),
        (lambda e: e.update(at="2026-11-23T10:15:30"), "timezone"),
        (lambda e: e.update(extra=1), "unknown field"),
        (lambda e: e.update(body=[1]), "body must be an object"),
    ],
)
def test_malformed_fields_are_rejected_with_reason(mutate: object, message: str) -> None:
    raw = wire.seal_envelope(Sealer(PUBLIC), clear()).to_json()
    mutate(raw)  # type: ignore[operator]
    with pytest.raises(MalformedMessage, match=message):
        wire.parse(json.dumps(raw).encode())


@pytest.mark.parametrize(
    "data", [b"", b"null", b"[]", b"{", b"\xff\xfe", b'{"v": NaN}', b"1" * 300_000]
)
def test_not_an_envelope(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        wire.parse(data)


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_only_raise_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        wire.parse(data)


@settings(max_examples=200, derandomize=True)
@given(st.integers(min_value=0, max_value=10_000), st.binary(max_size=8))
def test_fuzz_truncated_and_spliced_envelopes(cut: int, junk: bytes) -> None:
    data = wire.seal_envelope(Sealer(PUBLIC), clear()).to_bytes()
    mangled = data[: cut % (len(data) + 1)] + junk
    try:
        parsed = wire.parse(mangled)
    except ProtocolError:
        return
    # Whatever still parses must still open only if it is intact.
    try:
        wire.open_body(parsed, Opener(PRIVATE))
    except ProtocolError:
        return
    assert mangled == data or parsed == wire.parse(data)
