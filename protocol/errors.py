"""The exception tree of the wire contract.

Callers catch exactly what they can handle (STYLE.md, gpiozero): a bridge that
receives a bad message catches :class:`ProtocolError` and keeps running; a
device that cannot read its keys stops with :class:`KeyFileError`.
"""

from __future__ import annotations


class HealthHubError(Exception):
    """Root of every error Health Hub raises on purpose."""


class ProtocolError(HealthHubError):
    """A message or document does not follow the wire contract."""


class MalformedMessage(ProtocolError):
    """Bytes that are not a well-formed message (bad JSON, missing or mistyped field)."""


class InvalidMeasurement(ProtocolError):
    """A measurement whose kind, components, units or values are impossible."""


class SealError(ProtocolError):
    """A sealed body that cannot be opened: wrong key, truncated or tampered."""


class SignatureError(ProtocolError):
    """A signed document whose signature is missing or does not verify."""


class KeyFileError(HealthHubError):
    """A key file that is missing, unreadable or not a key of the expected kind."""
