"""One measurement at a tile: the steps, then the device's live state, until every kind is read.

The states the patient sees follow the agent's peripheral events: waiting for
the device, measuring, done, or an error with what to do. A value the device
gave that cannot be real is refused by the agent and shown as "try again",
never as a number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from healthhub.ui.i18n import N_
from healthhub.ui.tiles import Step, Tile


class MeasureState(enum.StrEnum):
    STEPS = "steps"  # reading the instructions
    STARTING = "starting"  # asked the agent to start
    WAITING = "waiting"  # the device is ready: waiting for it to measure
    MEASURING = "measuring"
    ERROR = "error"  # the device failed or was lost
    REFUSED = "refused"  # the device gave a value that cannot be real
    NO_DEVICE = "no_device"  # this unit has no such device
    UNAVAILABLE = "unavailable"  # the unit's service (agent) is not answering
    DONE = "done"


STATE_TEXT = {
    MeasureState.STARTING: N_("Getting the device ready..."),
    MeasureState.WAITING: N_("Ready. If the device has a start button, press it now."),
    MeasureState.MEASURING: N_("Measuring. Please keep still and quiet."),
    MeasureState.ERROR: N_("The device stopped working. Please try again."),
    MeasureState.REFUSED: N_("The device gave a reading that cannot be right. Please try again."),
    MeasureState.NO_DEVICE: N_("This unit cannot take this measurement. Please ask at reception."),
    MeasureState.UNAVAILABLE: N_("The unit is reconnecting. Please wait a moment, then try again."),
    MeasureState.DONE: N_("Done. Your reading has been taken."),
}
RETRY_STATES = frozenset(
    {MeasureState.ERROR, MeasureState.REFUSED, MeasureState.UNAVAILABLE, MeasureState.NO_DEVICE}
)


@dataclass(frozen=True)
class Reading:
    id: str
    kind: str
    values: dict[str, float]
    received_monotonic: float | None = None


@dataclass
class MeasurementFlow:
    tile: Tile
    step: int = 0
    state: MeasureState = MeasureState.STEPS
    got: dict[str, Reading] = field(default_factory=dict)

    @property
    def current_step(self) -> Step:
        return self.tile.steps[self.step]

    @property
    def on_last_step(self) -> bool:
        return self.step == len(self.tile.steps) - 1

    def next_step(self) -> None:
        self.step = min(self.step + 1, len(self.tile.steps) - 1)

    def previous_step(self) -> None:
        self.step = max(self.step - 1, 0)

    @property
    def status_text(self) -> str:
        return STATE_TEXT.get(self.state, "")

    @property
    def complete(self) -> bool:
        return all(kind in self.got for kind in self.tile.kinds)

    def _concerns(self, data: dict[str, Any]) -> bool:
        kinds = data.get("kinds", [])
        return isinstance(kinds, list) and bool(set(kinds) & set(self.tile.kinds))

    def on_peripheral(self, data: dict[str, Any]) -> None:
        if not self._concerns(data) or self.state in (MeasureState.STEPS, MeasureState.DONE):
            return
        state = data.get("state")
        if state == "measuring":
            self.state = MeasureState.MEASURING
        elif state == "error":
            self.state = MeasureState.ERROR
        elif state == "waiting" and self.state == MeasureState.STARTING:
            self.state = MeasureState.WAITING

    def on_refused(self, data: dict[str, Any]) -> None:
        if self._concerns(data) and self.state not in (MeasureState.STEPS, MeasureState.DONE):
            self.state = MeasureState.REFUSED

    def on_reading(self, reading: Reading) -> None:
        if reading.kind not in self.tile.kinds:
            return
        self.got[reading.kind] = reading
        if self.complete:
            self.state = MeasureState.DONE
