"""The ACCUTORR as a peripheral: ``driver: blood_pressure``, ``backend: serial.accutorr``.

The unit has no command to start a measurement (manual pp. 1-52 and 1-53: ``L``, ``P`` and
the prompt request only): the patient presses START on the unit. The driver asks ``P``
every ``poll_s`` seconds, and at once when the agent calls ``request_measurement()``.

Telling a new measurement from the one already on the unit (our rule; the protocol has no
measurement counter): the first answer after the port opens is the baseline and is never
reported, because it may be an earlier patient's; the peripheral reports ``waiting`` only
once it has the baseline, so a START pressed from then on is read. After that, an answer shows a new
measurement when its values or NIBP flags differ from the previous answer's, or when the
elapsed-minutes field went down. A measurement older than ``max_age_min`` minutes is not
reported. Two measurements with identical values within the same minute are one reading:
the second patient gets none and is asked to measure again (never someone else's).

No answer within ``response_s``: the driver sends the prompt request (ASCII 03) and asks
again at the next poll; ``silent_limit`` silent polls in a row mean the unit is off,
unplugged or set to another baud rate: a transient error.
"""

from __future__ import annotations

import asyncio

from pydantic import Field

from healthhub.drivers import errors
from healthhub.drivers.base import PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.options import parse_options
from healthhub.drivers.registry import register
from healthhub.drivers.serial import accutorr
from healthhub.drivers.serial.peripheral import FrameReader, SerialPeripheral
from healthhub.drivers.serial.port import SerialPort, SerialPortOptions


class AccutorrOptions(SerialPortOptions):
    poll_s: float = Field(2.0, ge=0.05, le=60.0)
    response_s: float = Field(2.0, gt=0.0, le=10.0)
    silent_limit: int = Field(5, ge=1, le=50)
    max_age_min: int = Field(2, ge=0, le=60)


class AccutorrMonitor(SerialPeripheral[AccutorrOptions]):
    def __init__(self, spec: PeripheralSpec) -> None:
        super().__init__(spec, parse_options(spec, AccutorrOptions), accutorr.FRAMER)
        self._last: accutorr.PatientData | None = None

    async def serve(self, reader: FrameReader, port: SerialPort, sink: ReadingSink) -> None:
        self._last = None  # a new connection: the next answer is the baseline
        silent = 0
        while True:
            reader.discard_pending()
            await port.write(accutorr.PATIENT)
            data = await self._answer(reader)
            if data is None:
                silent += 1
                if silent >= self.settings.silent_limit:
                    raise errors.TransientDriverError(
                        f"{self.name}: no answer to P (unit off, unplugged, or another baud rate?)"
                    )
                await port.write(accutorr.PROMPT_REQUEST)
            else:
                silent = 0
                if self._last is None:  # the baseline: from now on a START is read
                    sink.state(self.name, PeripheralState.WAITING)
                await self._consider(data, sink)
            await self._pause()

    async def _pause(self) -> None:
        try:
            async with asyncio.timeout(self.settings.poll_s):
                await self.requested.wait()
        except TimeoutError:
            pass
        self.requested.clear()

    async def _answer(self, reader: FrameReader) -> accutorr.PatientData | None:
        """The next answer to ``P`` within ``response_s``; other lines (the ready banner,
        prompts, empty lines) are skipped, malformed answers counted and dropped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.response_s
        while (left := deadline - loop.time()) > 0:
            frame = await reader.next_within(left)
            if frame is None:
                return None
            if not accutorr.is_patient_line(frame):
                continue
            try:
                return accutorr.parse(frame)
            except errors.FrameError as exc:
                self.bad_frame(type(exc).__name__)
        return None

    async def _consider(self, data: accutorr.PatientData, sink: ReadingSink) -> None:
        last, self._last = self._last, data
        if last is None:
            return  # baseline: shown before we connected, perhaps an earlier patient's
        went_down = (
            data.minutes is not None and last.minutes is not None and data.minutes < last.minutes
        )
        if data.key == last.key and not went_down:
            return
        if data.minutes is None or data.minutes > self.settings.max_age_min:
            return
        await self.report(sink, accutorr.reading, data, accutorr.NoMeasurement)


@register("blood_pressure", "serial.accutorr")
def create(spec: PeripheralSpec) -> AccutorrMonitor:
    return AccutorrMonitor(spec)
