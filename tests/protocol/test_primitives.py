"""UUIDv7, canonical JSON, signatures, keys, topics and atomic files."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from healthhub.protocol import canonical, signed, topics
from healthhub.protocol.errors import KeyFileError, MalformedMessage, ProtocolError, SignatureError
from healthhub.protocol.files import write_atomic
from healthhub.protocol.ids import is_uuid7, uuid7, uuid7_millis
from healthhub.protocol.keys import read_key, write_key


def test_uuid7_layout_and_order() -> None:
    ids = [uuid7(now_ms=1_700_000_000_000) for _ in range(5000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert all(is_uuid7(str(u)) for u in ids)
    assert ids == sorted(ids), "ids made in one millisecond must still increase"
    assert len(set(ids)) == len(ids)
    assert uuid7_millis(uuid7(now_ms=1_700_000_123_456)) >= 1_700_000_123_456
    assert not is_uuid7(str(uuid.uuid4()))


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical.dumps({"b": 1, "a": "ਪੰਜਾਬੀ"}) == '{"a":"ਪੰਜਾਬੀ","b":1}'.encode()
    with pytest.raises(ValueError):
        canonical.dumps({"x": float("nan")})
    with pytest.raises(MalformedMessage):
        canonical.loads(b'{"x": Infinity}')


def test_signature_verifies_and_detects_any_change() -> None:
    seed, verify_key = signed.generate_signing_key()
    doc = signed.sign({"scope": "fleet", "version": 3, "idle_s": 60}, seed)
    assert signed.verify(doc, verify_key) == {"scope": "fleet", "version": 3, "idle_s": 60}
    with pytest.raises(SignatureError):
        signed.verify({**doc, "version": 4}, verify_key)
    _, other = signed.generate_signing_key()
    with pytest.raises(SignatureError):
        signed.verify(doc, other)
    with pytest.raises(SignatureError):
        signed.verify({k: v for k, v in doc.items() if k != "signature"}, verify_key)


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "ingest.key"
    write_key(path, bytes(range(32)), private=True)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_key(path) == bytes(range(32))
    path.write_text("not base64!\n")
    with pytest.raises(KeyFileError, match="not base64"):
        read_key(path)
    path.write_text("AAAA\n")
    with pytest.raises(KeyFileError, match="32 bytes"):
        read_key(path)
    with pytest.raises(KeyFileError, match="not found"):
        read_key(tmp_path / "missing.key")


def test_write_atomic_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "device.yaml"
    write_atomic(path, b"old")
    write_atomic(path, b"new", mode=0o600)
    assert path.read_bytes() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["device.yaml"]


@pytest.mark.parametrize(
    "bad", ["", "A", "wall/1", "wall+1", "#", "-wall", "wall-", "healthhub-bridge", "x" * 65]
)
def test_ids_that_would_escape_their_topic_are_refused(bad: str) -> None:
    with pytest.raises(ProtocolError):
        topics.validate_id(bad)


def test_topics() -> None:
    assert topics.up("wall-1", "readings") == "healthhub/v1/devices/wall-1/up/readings"
    assert topics.ack("wall-1") == "healthhub/v1/devices/wall-1/ack"
    assert topics.parse_device_topic("healthhub/v1/devices/wall-1/up/readings") == (
        "wall-1",
        "up/readings",
    )
    with pytest.raises(ProtocolError):
        topics.up("wall-1", "secrets")
    with pytest.raises(ProtocolError):
        topics.parse_device_topic("healthhub/v1/fleet/config")
