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
from healthhub.protocol.errors import SignatureError

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
