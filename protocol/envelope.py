"""The data envelope every device message travels in (DESIGN.md, "The wire contract").

``v, id, device, site, seq, stream, kind, at, body``. On the clinical streams
the body is ``{"sealed": "<base64 sealed box>"}``, and what is sealed is the
header *and* the body, so the practice side can tell that a header was not
changed on the way (a sealed box alone would let someone move a body under
another patient's header). On other streams the body is a clear JSON object.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from typing import Any

from healthhub.protocol import canonical, topics
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.errors import MalformedMessage, ProtocolError, SealError
from healthhub.protocol.ids import is_uuid7
from healthhub.protocol.sealed import Opener, Sealer

VERSION = 1

#: Streams whose bodies identify a patient or hold a measurement: always sealed.
SEALED_STREAMS = frozenset({"readings", "submissions", "alerts"})

HEADER_FIELDS = ("v", "id", "device", "site", "seq", "stream", "kind", "at")
MAX_ENVELOPE_BYTES = 256 * 1024
_MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Envelope:
    id: str
    device: str
    site: str
    seq: int
    stream: str
    kind: str
    at: str
    body: dict[str, Any]
    v: int = VERSION

    @property
    def sealed(self) -> bool:
        return set(self.body) == {"sealed"}

    def header(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in HEADER_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return {**self.header(), "body": self.body}

    def to_bytes(self) -> bytes:
        return canonical.dumps(self.to_json())


def seal_envelope(sealer: Sealer, clear: Envelope) -> Envelope:
    """The envelope with its header and body sealed to the ingest key."""
    _check_header(clear.to_json())
    plaintext = canonical.dumps({"header": clear.header(), "body": clear.body})
    sealed_body = {"sealed": base64.b64encode(sealer.seal(plaintext)).decode("ascii")}
    return replace(clear, body=sealed_body)


def open_body(envelope: Envelope, opener: Opener) -> dict[str, Any]:
    """The clear body of a sealed envelope, after checking its header was not changed."""
    if not envelope.sealed:
        raise SealError(f"envelope {envelope.id} on {envelope.stream} is not sealed")
    try:
        ciphertext = base64.b64decode(envelope.body["sealed"], validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SealError("sealed body is not base64") from None
    inner = canonical.loads_object(opener.open(ciphertext), what="sealed body")
    if inner.get("header") != envelope.header():
        raise SealError("envelope header does not match its sealed copy: tampered")
    body = inner.get("body")
    if not isinstance(body, dict):
        raise SealError("sealed body holds no object")
    return body


def parse(data: bytes) -> Envelope:
    """Parse and check an envelope from the wire; :class:`MalformedMessage` if it is not one."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise MalformedMessage(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    raw = canonical.loads_object(data, what="envelope")
    _check_header(raw)
    body = raw.get("body")
    if not isinstance(body, dict):
        raise MalformedMessage("envelope body must be an object")
    extra = set(raw) - {*HEADER_FIELDS, "body"}
    if extra:
        raise MalformedMessage(f"envelope has unknown field(s): {', '.join(sorted(extra))}")
    envelope = Envelope(
        id=raw["id"],
        device=raw["device"],
        site=raw["site"],
        seq=raw["seq"],
        stream=raw["stream"],
        kind=raw["kind"],
        at=raw["at"],
        body=body,
        v=raw["v"],
    )
    if envelope.stream in SEALED_STREAMS and not envelope.sealed:
        raise MalformedMessage(f"{envelope.stream} bodies must be sealed")
    if envelope.sealed and not isinstance(body["sealed"], str):
        raise MalformedMessage("sealed body must be a base64 string")
    return envelope


def _check_header(raw: dict[str, Any]) -> None:
    missing = [name for name in HEADER_FIELDS if name not in raw]
    if missing:
        raise MalformedMessage(f"envelope is missing {', '.join(missing)}")
    if raw["v"] != VERSION or isinstance(raw["v"], bool):
        raise MalformedMessage(f"envelope version {raw['v']!r} is not supported")
    if not isinstance(raw["id"], str) or not is_uuid7(raw["id"]):
        raise MalformedMessage("envelope id must be a UUIDv7 string")
    seq = raw["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= _MAX_SEQ:
        raise MalformedMessage("envelope seq must be a positive integer")
    for name in ("device", "site", "stream", "kind"):
        if not isinstance(raw[name], str):
            raise MalformedMessage(f"envelope {name} must be a string")
    try:
        topics.validate_id(raw["device"], what="device")
        topics.validate_id(raw["site"], what="site")
    except ProtocolError as exc:
        raise MalformedMessage(str(exc)) from None
    if raw["stream"] not in topics.STREAMS:
        raise MalformedMessage(f"unknown stream {raw['stream']!r}")
    if not raw["kind"] or len(raw["kind"]) > 64:
        raise MalformedMessage("envelope kind must be 1-64 characters")
    parse_utc(raw["at"])
