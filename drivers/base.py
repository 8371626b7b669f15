"""What every peripheral offers the agent, whatever its transport.

A peripheral is created from its declaration in device.yaml (driver, backend,
options) by :mod:`healthhub.drivers.registry`, and run by the agent's
supervisor with a :class:`ReadingSink`. It reports its state and hands over
validated measurements; ``await sink.reading(...)`` returns only when the
reading is durable, which is also the backpressure a fast device needs.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from healthhub.protocol.measurements import Measurement


class PeripheralState(enum.StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # ready, waiting for a patient or for the device to be switched on
    MEASURING = "measuring"
    ERROR = "error"
    STOPPED = "stopped"


@dataclass(frozen=True)
class PeripheralSpec:
    """One peripheral as declared in device.yaml."""

    name: str
    driver: str
    backend: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriverReading:
    measurement: Measurement
    taken_at: datetime


class ReadingSink(Protocol):
    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        """Hand over a reading; returns once it is committed (raises if it could not be)."""

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        """Report a change of state (shown to the UI and in telemetry)."""


class Peripheral(abc.ABC):
    """A running peripheral. ``run`` returns or raises only when the device is lost."""

    def __init__(self, spec: PeripheralSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @abc.abstractmethod
    async def run(self, sink: ReadingSink) -> None:
        """Serve the device until cancelled; raise a DriverError when it fails."""
