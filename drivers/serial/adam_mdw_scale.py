"""The Adam MDW-300L/MDW-250L scale: ``driver: scale``, ``backend: serial.adam_mdw``.

Frames and the rules for a body weight are in :mod:`healthhub.drivers.serial.adam_mdw`
(manual p.n. 700660159, section 8). The ``mode`` option follows the scale's S.F. parameter:

- ``command`` (S.F. = 3, the default and the one to use at a kiosk): the scale speaks only
  when asked. ``request_measurement()`` starts a weighing: ``W<CR>`` every ``retry_s``
  until the weight is stable, at most ``attempts`` times (a patient stepping on takes a
  few seconds); state ``measuring`` meanwhile. An answer that is not a weight (net, hold,
  capacity error, implausible) is refused and ends the weighing. ``silent_limit``
  unanswered commands in a row (``response_s`` each; the manual: one second is adequate)
  mean the scale is off or not in command mode: a transient error.
- ``print`` (S.F. = 2): each PRINT press sends one frame; a gross weight is a reading.
- ``continuous`` (S.F. = 1): the displayed weight streams without a stability flag, so a
  weight counts as stable after ``stable_frames`` identical frames in a row; one reading
  per weighing, the next once the platform is empty again.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field

from healthhub.drivers import errors
from healthhub.drivers.base import PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.options import parse_options
from healthhub.drivers.registry import register
from healthhub.drivers.serial import adam_mdw
from healthhub.drivers.serial.peripheral import FrameReader, Outcome, SerialPeripheral
from healthhub.drivers.serial.port import SerialPort, SerialPortOptions


class AdamMdwOptions(SerialPortOptions):
    mode: Literal["command", "print", "continuous"] = "command"
    attempts: int = Field(20, ge=1, le=120)
    retry_s: float = Field(0.5, ge=0.0, le=10.0)
    response_s: float = Field(1.0, gt=0.0, le=10.0)
    silent_limit: int = Field(3, ge=1, le=20)
    stable_frames: int = Field(5, ge=2, le=50)


class AdamMdwScale(SerialPeripheral[AdamMdwOptions]):
    def __init__(self, spec: PeripheralSpec) -> None:
        super().__init__(spec, parse_options(spec, AdamMdwOptions), adam_mdw.FRAMER)
        self._weighing_done = False  # continuous mode: this weighing already gave its reading
        self._run_length = 0
        self._last_key: tuple[object, ...] | None = None

    async def serve(self, reader: FrameReader, port: SerialPort, sink: ReadingSink) -> None:
        if self.settings.mode != "command":
            await super().serve(reader, port, sink)
            return
        sink.state(self.name, PeripheralState.WAITING)
        while True:
            await self.requested.wait()
            sink.state(self.name, PeripheralState.MEASURING)
            detail = await self._weigh(reader, port, sink)
            # A request made during this weighing is answered by it, not by a second one
            # (which would weigh the same patient twice).
            self.requested.clear()
            sink.state(self.name, PeripheralState.WAITING, detail)

    async def _weigh(self, reader: FrameReader, port: SerialPort, sink: ReadingSink) -> str:
        """One weighing in command mode; the detail to show while waiting afterwards."""
        silent = 0
        for _ in range(self.settings.attempts):
            reader.discard_pending()
            await port.write(adam_mdw.WEIGH)
            frame = await reader.next_within(self.settings.response_s)
            if frame is None:
                silent += 1
                if silent >= self.settings.silent_limit:
                    raise errors.TransientDriverError(
                        f"{self.name}: scale does not answer W (switched off, or S.F. not 3?)"
                    )
                continue
            silent = 0
            outcome = await self._judge(frame, sink)
            if outcome != "pending":
                return outcome
            await asyncio.sleep(self.settings.retry_s)
        return f"no stable weight after {self.settings.attempts} attempts"

    async def _judge(self, frame: bytes, sink: ReadingSink) -> Outcome:
        """``pending`` (ask again: a bad answer, or no stable weight yet), or the outcome of
        a weighing: ``taken`` / ``refused``."""
        try:
            parsed = adam_mdw.parse(frame)
        except errors.FrameError as exc:
            self.bad_frame(type(exc).__name__)
            return "pending"
        if parsed.kind != "weight":
            self.bad_frame(f"answer {parsed.kind} to W")
            return "pending"
        return await self.report(sink, adam_mdw.reading, parsed, adam_mdw.NotSettled)

    async def handle_frame(self, frame: bytes, sink: ReadingSink) -> None:
        """Print and continuous modes: frames the scale sends by itself."""
        try:
            parsed = adam_mdw.parse(frame)
        except errors.FrameError as exc:
            self.bad_frame(type(exc).__name__)
            return
        if parsed.kind != "print":
            self.bad_frame(f"{parsed.kind} frame outside command mode")
            return
        if self.settings.mode == "continuous" and not self._settled(parsed):
            return
        outcome = await self.report(sink, adam_mdw.reading, parsed, adam_mdw.NotSettled)
        if outcome == "pending":
            self._weighing_done = False  # platform empty: the next weighing may begin

    def _settled(self, parsed: adam_mdw.MdwFrame) -> bool:
        """Continuous mode: True once per weighing, when the same frame came
        ``stable_frames`` times in a row; an empty platform starts a new weighing."""
        weight = parsed.weight
        assert weight is not None
        if weight.condition == "value" and weight.value == 0:
            self._weighing_done, self._run_length, self._last_key = False, 0, None
            return False
        key = (weight.value, weight.unit, weight.condition, parsed.gross)
        self._run_length = self._run_length + 1 if key == self._last_key else 1
        self._last_key = key
        if self._weighing_done or self._run_length < self.settings.stable_frames:
            return False
        self._weighing_done = True
        return True


@register("scale", "serial.adam_mdw")
def create(spec: PeripheralSpec) -> AdamMdwScale:
    return AdamMdwScale(spec)
