"""Canonical JSON: the one byte form that is signed, sealed and compared.

Keys sorted, no insignificant whitespace, UTF-8 (not ``\\u`` escapes), and no
NaN or infinity (JSON has none, and a measurement must never carry one). This
is the subset of RFC 8785 (JCS) that our documents use: they hold strings,
integers, booleans, nulls, lists, objects and finite floats, and Python prints
a float as its shortest round-trip form on every platform we run on.
"""

from __future__ import annotations

import json
from typing import Any

from healthhub.protocol.errors import MalformedMessage


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``; ``ValueError`` for NaN or infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _reject_constant(name: str) -> Any:
    raise MalformedMessage(f"JSON constant {name} is not allowed")


def loads(data: bytes | str, *, what: str = "message") -> Any:
    """Parse JSON, refusing NaN/Infinity; :class:`MalformedMessage` on any failure."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except MalformedMessage:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"{what} is not valid JSON: {exc}") from None


def loads_object(data: bytes | str, *, what: str = "message") -> dict[str, Any]:
    """Parse a JSON object; anything else is a :class:`MalformedMessage`."""
    value = loads(data, what=what)
    if not isinstance(value, dict):
        raise MalformedMessage(f"{what} must be a JSON object, not {type(value).__name__}")
    return value
