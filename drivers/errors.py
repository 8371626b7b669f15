"""Driver errors, classified so a supervisor knows whether to retry (bleak-retry-connector)."""

from __future__ import annotations


class DriverError(Exception):
    """Root of every error a driver raises."""


class TransientDriverError(DriverError):
    """Worth retrying: a device out of range, unplugged, busy, or a frame lost to noise."""


class PermanentDriverError(DriverError):
    """Not worth retrying until someone acts: wrong configuration, unsupported device."""


class DriverConfigError(PermanentDriverError):
    """A peripheral's entry in device.yaml names an unknown driver/backend or a bad option."""
