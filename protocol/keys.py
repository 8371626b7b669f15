"""Raw 32-byte keys (Ed25519 and X25519) as one-line base64 text files.

The fleet's signing key and the practice's ingest key are NaCl keys; they are
kept as base64 of their raw 32 bytes, one line, so an operator can compare a
public key by eye. Private key files are written 0600 and atomically.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from healthhub.protocol.errors import KeyFileError
from healthhub.protocol.files import write_atomic

KEY_BYTES = 32


def encode_key(raw: bytes) -> str:
    """Base64 text of a raw 32-byte key."""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"a key is {KEY_BYTES} bytes, not {len(raw)}")
    return base64.b64encode(raw).decode("ascii")


def decode_key(text: str, *, source: str = "key") -> bytes:
    """Raw bytes of a base64 key; :class:`KeyFileError` if it is not one."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{source}: not base64 ({exc})") from None
    if len(raw) != KEY_BYTES:
        raise KeyFileError(f"{source}: a key is {KEY_BYTES} bytes, this one is {len(raw)}")
    return raw


def write_key(path: Path, raw: bytes, *, private: bool) -> None:
    """Write a key file atomically; private keys are readable by the owner only."""
    write_atomic(path, (encode_key(raw) + "\n").encode("ascii"), mode=0o600 if private else 0o644)


def read_key(path: Path) -> bytes:
    """Read a key file written by :func:`write_key`."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc})") from None
    return decode_key(text, source=os.fspath(path))
