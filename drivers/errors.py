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


class FrameError(TransientDriverError):
    """Bytes from a device that are not a reading: the frame is dropped, the device kept.

    Transient: one bad frame (noise, a half-sent notification) says nothing about the next.
    """


class TruncatedFrame(FrameError):
    """The frame ends before a field its flags announce."""


class NotAValue(FrameError):
    """A field holds a special value (NaN, NRes, +/-INFINITY, reserved, "unsuccessful")."""


class ImpossibleValue(FrameError):
    """A decoded value outside what a person at a practice can measure (protocol limits)."""
