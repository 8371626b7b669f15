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


class Signal(enum.StrEnum):
    """What a peripheral that measures nothing tells the agent."""

    PRESENCE = "presence"  # someone stands in front of the unit (PIR): wake the attract screen
    HELP_REQUESTED = "help_requested"  # the help button: a staff alert
    SCANNED = "scanned"  # a barcode/QR code was read; its text may identify a patient


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
    #: What the device flagged about this reading ("irregular_pulse", "body_movement",
    #: "cuff_loose", "questionable"...): filed with it, so a clinician can weigh it.
    notes: tuple[str, ...] = ()


#: The measurement kinds each driver family gives (protocol/measurements.py KINDS); the agent
#: uses it to ask the right peripherals when the UI starts measuring a kind.
KINDS_BY_DRIVER: Mapping[str, tuple[str, ...]] = {
    "blood_pressure": ("blood_pressure",),
    "scale": ("body_weight",),
    "height_measure": ("body_height",),
    "pulse_oximeter": ("oxygen_saturation",),
    "thermometer": ("body_temperature",),
}


class ReadingSink(Protocol):
    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        """Hand over a reading; returns once it is committed (raises if it could not be)."""

    def refused(self, peripheral: str, reason: str) -> None:
        """The device gave a value that cannot be real; it was not taken (reason has no value)."""

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        """Report a change of state (shown to the UI and in telemetry)."""

    def battery(self, peripheral: str, percent: int) -> None:
        """The device's own battery level, 0-100, where it reports one (BLE 0x2A19)."""

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        """A non-measurement event. ``text`` (a scanned code) may identify a patient: the
        agent passes it to the UI only and never logs or stores it."""


class Peripheral(abc.ABC):
    """A running peripheral. ``run`` returns or raises only when the device is lost."""

    def __init__(self, spec: PeripheralSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS_BY_DRIVER.get(self.spec.driver, ())

    def request_measurement(self) -> None:  # noqa: B027 - an optional hook, no-op by default
        """Ask the device to measure now, where it can be told to (a simulator, a kiosk unit on
        serial). Most devices measure when the patient presses their own button: for them
        this does nothing, and the reading arrives when the patient takes it."""

    def show_link(self, state: str) -> None:  # noqa: B027 - an optional hook, no-op by default
        """The agent's broker link changed (``connected``, ``connecting``, ``disconnected``,
        ``stopped``); a status LED shows it, other peripherals ignore it. Called on the
        event loop, also once when the peripheral starts; must not block."""

    def identify(self, seconds: float) -> bool:
        """IT staff asked the unit to show itself for ``seconds`` (a status LED flashes);
        True if this peripheral did something. Called on the event loop; must not block."""
        return False

    @abc.abstractmethod
    async def run(self, sink: ReadingSink) -> None:
        """Serve the device until cancelled; raise a DriverError when it fails."""
