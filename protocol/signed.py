"""Desired documents signed by the fleet's Ed25519 key over canonical JSON.

A signed document is the document with one more field, ``signature``:
``{"alg": "Ed25519", "value": "<base64 of 64 bytes>"}``; the signature covers
the canonical JSON of everything else. Config layers, content manifests and
commands (later issues) are all checked here before anything looks at them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import nacl.exceptions
import nacl.signing

from healthhub.protocol import canonical
from healthhub.protocol.errors import MalformedMessage, ProtocolError, SignatureError

ALGORITHM = "Ed25519"


def sign(document: dict[str, Any], signing_key_seed: bytes) -> dict[str, Any]:
    """A copy of ``document`` with its signature."""
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    signed = nacl.signing.SigningKey(signing_key_seed).sign(canonical.dumps(unsigned))
    value = base64.b64encode(signed.signature).decode("ascii")
    return {**unsigned, "signature": {"alg": ALGORITHM, "value": value}}


def verify(document: object, verify_key: bytes) -> dict[str, Any]:
    """The unsigned document if its signature verifies; else :class:`SignatureError`."""
    if not isinstance(document, dict):
        raise SignatureError("a signed document must be a JSON object")
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("alg") != ALGORITHM:
        raise SignatureError("document has no Ed25519 signature")
    try:
        raw = base64.b64decode(signature.get("value", ""), validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SignatureError("signature is not base64") from None
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    try:
        message = canonical.dumps(unsigned)
        nacl.signing.VerifyKey(verify_key).verify(message, raw)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        raise SignatureError("signature does not verify with the fleet signing key") from None
    return unsigned


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new ``(seed, verify_key)`` Ed25519 pair as raw 32-byte strings."""
    key = nacl.signing.SigningKey.generate()
    return bytes(key), bytes(key.verify_key)


def open_signed(
    payload: bytes,
    verify_key: bytes,
    *,
    kind: str,
    what: str,
    max_bytes: int,
    error: type[ProtocolError],
) -> dict[str, Any]:
    """A desired document's size, JSON (UTF-8 only: a device keeps it as text), signature
    and kind, checked in that order; any failure is ``error`` with a reason fit to report.
    Returns the unsigned document for the caller's own checks."""
    if len(payload) > max_bytes:
        raise error(f"{what} is {len(payload)} bytes; the limit is {max_bytes}")
    try:
        document = canonical.loads(payload.decode("utf-8"), what=what)
    except (UnicodeDecodeError, MalformedMessage):
        raise error(f"{what} is not JSON") from None
    try:
        unsigned = verify(document, verify_key)
    except ProtocolError as exc:
        raise error(str(exc)) from None
    if unsigned.get("kind") != kind:
        raise error(f"document kind is {unsigned.get('kind')!r:.40}, not {kind!r}")
    return unsigned
