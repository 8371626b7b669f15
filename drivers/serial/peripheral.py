"""The run loop every serial device shares: open the port, cut frames, hand them on.

:class:`SerialPeripheral` opens its port when the agent runs it (never in the constructor,
which only parses options), reports ``waiting`` once the device is ready to measure, and
serves frames until the device is lost; a lost device raises
:class:`TransientDriverError` and the supervisor restarts it with backoff. Subclasses
decide what a frame means (``handle_frame``) or drive a command-and-answer protocol
themselves (``serve``), using :class:`FrameReader`.

What happens to a frame, the same for every device:

- noise and frames that fail their checks are counted (``bad_frames``, ``noise_bytes``)
  and dropped; the state does not change, because one bad frame says nothing of the next;
- a value the device flags as not a reading, or that cannot be real, goes to
  ``sink.refused`` with a reason that holds no patient value (:meth:`~SerialPeripheral.report`);
- a reading goes to ``await sink.reading(...)``, which returns once it is committed (the
  backpressure a fast device needs).

Logs name the peripheral and the reason only: never a frame's bytes, a value or a code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from healthhub.drivers.base import (
    DriverReading,
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    ReadingSink,
)
from healthhub.drivers.decoded import DecodedReading
from healthhub.drivers.errors import ImpossibleValue, NotAValue
from healthhub.drivers.serial.framing import Framer
from healthhub.drivers.serial.port import SerialPort, SerialPortOptions

log = logging.getLogger(__name__)

#: A value-free reason for a value outside the protocol's plausibility limits: the
#: limits' own message (``checked``) quotes the value, which may not reach a log.
IMPLAUSIBLE = "a value outside what a person can measure (not taken)"

#: What became of a value offered with :meth:`SerialPeripheral.report`.
Outcome = Literal["taken", "refused", "pending"]

OptionsT = TypeVar("OptionsT", bound=SerialPortOptions)
DataT = TypeVar("DataT")


class FrameReader:
    """Frames from an open port. The buffer never holds more than the framer's bound plus
    one read (:data:`~healthhub.drivers.serial.port.READ_CHUNK`)."""

    def __init__(self, port: SerialPort, framer: Framer) -> None:
        self._port = port
        self._framer = framer
        self._buffer = bytearray()
        self._tail = False  # the next frame is the rest of an over-long one: drop it
        self.frames = 0
        self.noise_bytes = 0

    def _take(self) -> bytes | None:
        while self._buffer:
            frame, consumed = self._framer(bytes(self._buffer))
            if consumed == 0:
                return None
            del self._buffer[:consumed]
            if frame is None:
                self.noise_bytes += consumed
                self._tail = self._framer.overflow_leaves_tail
            elif self._tail:
                self.noise_bytes += consumed
                self._tail = False
            else:
                self.frames += 1
                return frame
        return None

    async def next(self) -> bytes:
        """The next frame, waiting as long as it takes."""
        while True:
            frame = self._take()
            if frame is not None:
                return frame
            self._buffer += await self._port.read()

    async def next_within(self, timeout_s: float) -> bytes | None:
        """The next frame, or ``None`` if none is complete within ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.next()
        except TimeoutError:
            return None

    def discard_pending(self) -> None:
        """Drop bytes not yet framed, buffered here or in the kernel, before a command: a
        late answer must not pass for the answer to the next one."""
        self.noise_bytes += len(self._buffer) + self._port.drain()
        self._buffer.clear()


class SerialPeripheral(Peripheral, Generic[OptionsT]):
    """A device on a serial port; subclasses give their parsed options (:attr:`settings`),
    the framer and what frames mean."""

    def __init__(self, spec: PeripheralSpec, settings: OptionsT, framer: Framer) -> None:
        super().__init__(spec)
        self.settings = settings
        self.framer = framer
        self.bad_frames = 0
        self.reader: FrameReader | None = None  # while running: its counters are telemetry
        #: Set by :meth:`request_measurement`; a device that can be told to measure waits
        #: on it, the others never look.
        self.requested = asyncio.Event()

    def request_measurement(self) -> None:
        self.requested.set()

    async def run(self, sink: ReadingSink) -> None:
        port = SerialPort.open(self.settings)
        async with port:
            self.reader = FrameReader(port, self.framer)
            await self.serve(self.reader, port, sink)

    async def serve(self, reader: FrameReader, port: SerialPort, sink: ReadingSink) -> None:
        """Report ``waiting`` (ready), then hand every frame to :meth:`handle_frame` until
        the device is lost. An override reports ``waiting`` when its device is ready."""
        sink.state(self.name, PeripheralState.WAITING)
        while True:
            await self.handle_frame(await reader.next(), sink)

    async def handle_frame(self, frame: bytes, sink: ReadingSink) -> None:
        """What one frame means; devices that only answer commands override ``serve``."""
        raise NotImplementedError

    def bad_frame(self, reason: str) -> None:
        """Count and drop a frame; the reason names the check, never the bytes."""
        self.bad_frames += 1
        log.debug("peripheral %s: frame dropped: %s", self.name, reason)

    async def report(
        self,
        sink: ReadingSink,
        reading: Callable[[DataT], DecodedReading],
        data: DataT,
        pending: type[NotAValue],
    ) -> Outcome:
        """Deliver ``reading(data)`` (``taken``), or refuse what is not a reading
        (``refused``): a value the device flags, with its value-free reason, or one that
        cannot be real, with :data:`IMPLAUSIBLE`. ``pending`` is the device's "no reading
        yet" (nothing measured, a weight not settled): neither delivered nor refused."""
        try:
            decoded = reading(data)
        except pending:
            return "pending"
        except ImpossibleValue:
            sink.refused(self.name, IMPLAUSIBLE)
            return "refused"
        except NotAValue as exc:
            sink.refused(self.name, str(exc))
            return "refused"
        taken_at = decoded.taken_at or datetime.now(UTC)
        await sink.reading(self.name, DriverReading(decoded.measurement, taken_at, decoded.notes))
        return "taken"
