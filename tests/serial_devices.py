"""Serial devices emulated on the master side of a real pseudo-terminal, for tests and demos.

The driver under test opens ``device.path`` (the pty's slave, ``/dev/pts/N``) exactly as it
opens ``/dev/ttyUSB0`` on a kiosk; the emulator answers on the master side as the device's
manual says. Every emulator is a :class:`PtyDevice`:

- ``with AccutorrEmulator() as unit:`` opens the pty (raw mode) and starts a thread that
  answers commands; ``unit.path`` is the port to configure;
- ``unit.send(data, chunk=1)`` writes bytes as the device would, ``chunk`` bytes at a time
  (byte by byte by default, the way a slow UART delivers them);
- ``unit.received()`` is every byte the driver has written so far;
- ``unit.unplug()`` closes the master: the driver's next read fails as when a USB adapter
  is pulled (EIO), also in the middle of a frame you sent part of.

:class:`AdamMdwEmulator` is the Adam MDW-300L scale (manual p.n. 700660159, section 8), in
command mode (``W``, ``S``, ``Z``, ``T``, ``U``, ``X``, unknown -> ``?``) with a scriptable
series of answers, or sending print/continuous frames. :class:`AccutorrEmulator` is the
Datascope ACCUTORR 3 PC interface (service manual pp. 1-52 to 1-54): it answers ``P``,
``L`` and the prompt request (ASCII 03); ``unit.measure(...)`` or ``unit.measure_next()``
stands for a patient pressing START (the unit has no start command).

Run one standalone for a subprocess agent (it prints the pty path, then serves until
SIGTERM or SIGINT):

    python tests/serial_devices.py accutorr --script '[{"systolic": 128, "diastolic": 82,
        "pulse": 71}]' --every 5      # a scripted measurement every 5 s; SIGUSR1 takes one now
    python tests/serial_devices.py adam-mdw --weight 72.5 --unit kg

The ACCUTORR driver never reports the measurement it finds when it connects (it may be an
earlier patient's): trigger a measurement once the agent shows the peripheral ``waiting``.

:class:`RecordingSink` is a ``ReadingSink`` that keeps what a driver reports, for tests;
``running`` (a driver as a task), ``pulled_mid_frame`` (the cable pulled mid-frame) and
``fuzz_frames`` (a decoder's fuzzing input) are steps the serial tests share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
import tty
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

# -- the pty --------------------------------------------------------------------------------


class PtyDevice:
    """A device on the master side of a pseudo-terminal; the driver opens :attr:`path`."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing, before any driver opens it
        self.path = os.ttyname(self._slave)
        self._received = bytearray()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self.plugged = True
        self.answering = True  # False: the device is silent (switched off, wrong mode)

    # life
    def start(self) -> PtyDevice:
        self._thread = threading.Thread(target=self._serve, name=f"pty {self.path}", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> PtyDevice:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def unplug(self) -> None:
        """Pull the cable: stop answering and close the master (the driver reads EIO)."""
        self._stop_thread()
        if self.plugged:
            self.plugged = False
            os.close(self._master)
            os.close(self._slave)

    def close(self) -> None:
        self.unplug()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _stop_thread(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")
            self._thread.join(5)
            self._thread = None

    # bytes
    def send(self, data: bytes, chunk: int | None = 1, delay_s: float = 0.0) -> None:
        """Write ``data`` as the device, ``chunk`` bytes at a time (``None``: at once)."""
        step = len(data) if chunk is None else max(1, chunk)
        for start in range(0, len(data), step or 1):
            os.write(self._master, data[start : start + step])
            if delay_s:
                time.sleep(delay_s)

    def received(self) -> bytes:
        with self._lock:
            return bytes(self._received)

    def _serve(self) -> None:
        while True:
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
                return
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return  # the slave side is gone
            if not data:
                return
            if self.answering:
                self.on_bytes(data)
            with self._lock:  # after answering: a test that sees a command sees its answer sent
                self._received += data

    def on_bytes(self, data: bytes) -> None:
        """Bytes from the driver; an emulator answers here (runs on the pty's thread)."""


# -- Adam MDW-300L ---------------------------------------------------------------------------

LF, CR, ETX = b"\n", b"\r", b"\x03"


def _with_parity(byte: int) -> int:
    """Table 1 puts parity in bit 7 without saying even or odd: the emulator sends even."""
    return byte | 0x80 if bin(byte).count("1") % 2 else byte


@dataclass
class ScaleState:
    weight: float = 0.0  # in ``unit``
    unit: str = "kg"
    decimals: int = 1
    stable: bool = True
    net: bool = False
    hold: bool = False
    eeprom_error: bool = False
    condition: str = "value"  # value | over_capacity | under_capacity | zero_point_error

    def field(self) -> bytes:
        fill = {"over_capacity": "^", "under_capacity": "_", "zero_point_error": "-"}
        if self.condition in fill:
            return (fill[self.condition] * 9 + self.unit).encode()
        polarity = "-" if self.weight < 0 else " "
        digits = f"{abs(self.weight):.{self.decimals}f}".rjust(8 if self.decimals else 7)
        return (polarity + digits + self.unit).encode()

    def status(self) -> bytes:
        h1 = 0x30 | (0 if self.stable else 0x01) | (0x02 if self.weight == 0 else 0)
        h1 |= 0x08 if self.eeprom_error else 0
        h2 = 0x70 | (0x01 if self.condition == "under_capacity" else 0)
        h2 |= 0x02 if self.condition == "over_capacity" else 0
        h3 = 0x30 | (0b10 if self.hold else 0b01) | (0x04 if self.net else 0)
        return bytes(_with_parity(b) for b in (h1, h2, h3))


class AdamMdwEmulator(PtyDevice):
    """The MDW-300L in command mode (S.F. = 3). ``script`` holds overrides of the state
    (``ScaleState`` fields) for the next answers to ``W``, one per answer, or ``{"raw":
    bytes}`` to send those bytes instead; ``state`` rules once the script is played.
    ``prefix`` is sent before every answer (line noise)."""

    def __init__(
        self, state: ScaleState | None = None, script: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self.state = state or ScaleState()
        self.script = list(script or [])
        self.prefix = b""
        self.commands: list[bytes] = []
        self._pending = b""

    def on_bytes(self, data: bytes) -> None:
        self._pending += data
        while CR in self._pending:
            command, _, self._pending = self._pending.partition(CR)
            self.commands.append(command)
            answer = self.answer(command)
            if answer:
                self.send(self.prefix + answer, chunk=None)

    def answer(self, command: bytes) -> bytes:
        state = self.state
        if command == b"W":
            if self.script:
                step = self.script.pop(0)
                if "raw" in step:
                    return bytes(step["raw"])
                state = ScaleState(**{**self.state.__dict__, **step})
            return LF + state.field() + CR + LF + state.status() + CR + ETX
        if command in (b"S", b"Z", b"T"):
            if command == b"Z" and state.stable:
                state.weight = 0.0
            if command == b"T":
                state.net = True
            return LF + state.status() + CR + ETX
        if command == b"U":
            state.unit = "lb" if state.unit == "kg" else "kg"
            return LF + state.unit.encode() + CR + LF + state.status() + CR + ETX
        if command == b"X":
            self.answering = False  # powered off
            return b""
        return LF + b"?" + CR + ETX

    def print_frame(self, state: ScaleState | None = None) -> bytes:
        """The S.F. = 1/2 output line of ``state`` (default: the current state)."""
        state = state or self.state
        return LF + state.field() + (b"NT" if state.net else b"GR") + CR + ETX


# -- Datascope ACCUTORR 3 --------------------------------------------------------------------

READY = b"ACCUTORR PC Interface is ready\r\n>"


@dataclass
class NibpResult:
    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None
    mean: int | None = None
    spo2: int | None = None
    status0: int = 0
    status1: int = 0
    status2: int = 0  # bit 0 cuff overpressure, bit 1 motion artifact


@dataclass
class AccutorrState:
    result: NibpResult = field(default_factory=NibpResult)
    measured_at: float | None = None  # monotonic seconds; None: no measurement yet
    minutes_offset: int = 0  # added to the elapsed minutes (tests cannot wait minutes)

    def minutes(self) -> int | None:
        if self.measured_at is None:
            return None
        return int((time.monotonic() - self.measured_at) // 60) + self.minutes_offset


def _number(value: int | None, digits: str = "3d") -> str:
    return "--" if value is None else format(value, digits)


class AccutorrEmulator(PtyDevice):
    """The ACCUTORR's PC interface: ``P`` patient data, ``L`` alarm limits, ASCII 03 the
    prompt request; any other byte is ignored (the manual lists no answer for it)."""

    def __init__(self, script: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.state = AccutorrState()
        self.script = list(script or [])
        self.limits = (100, 85, 120, 50, 160, 90, 110, 60, 100, 50)
        self.prefix = b""  # sent before every answer to P (line noise)
        self._state_lock = threading.Lock()

    def start(self) -> AccutorrEmulator:
        super().start()
        self.send(READY, chunk=None)  # power-up banner and prompt
        return self

    def measure(self, minutes_ago: int = 0, **values: int | None) -> None:
        """A patient pressed START and the unit measured ``values`` (NibpResult fields),
        ``minutes_ago`` minutes ago."""
        with self._state_lock:
            self.state.result = NibpResult(**values)  # type: ignore[arg-type]
            self.state.measured_at = time.monotonic()
            self.state.minutes_offset = minutes_ago

    def measure_next(self) -> bool:
        """Take the next scripted measurement; False when the script is played."""
        if not self.script:
            return False
        self.measure(**self.script.pop(0))
        return True

    def patient_line(self) -> bytes:
        with self._state_lock:
            r, minutes = self.state.result, self.state.minutes()
        fields = [
            _number(r.spo2),
            _number(r.pulse),
            _number(r.systolic),
            _number(r.mean),
            _number(r.diastolic),
            format(r.status0, "03d"),
            format(r.status1, "03d"),
            format(r.status2, "03d"),
            _number(minutes),
        ]
        return b"P:" + ",".join(fields).encode() + b"\r\n>"

    def on_bytes(self, data: bytes) -> None:
        for byte in data:
            command = bytes([byte])
            if command == b"P":
                self.send(self.prefix + self.patient_line(), chunk=None)
            elif command == b"L":
                line = "L:" + ",".join(format(v, "3d") for v in self.limits)
                self.send(line.encode() + b"\r\n>", chunk=None)
            elif command == b"\x03":
                self.send(b">", chunk=None)


# -- running a driver in a test ------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(peripheral: Any, sink: RecordingSink) -> AsyncIterator[asyncio.Task[None]]:
    """``peripheral.run(sink)`` as a task, cancelled (and its outcome collected) on exit."""
    task = asyncio.create_task(peripheral.run(sink))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def pulled_mid_frame(device: PtyDevice, task: asyncio.Task[None], start: bytes) -> None:
    """Send ``start`` (the first bytes of a frame) byte by byte, pull the cable, and await the
    driver's ``task``: it must end within 10 s, raising what the driver raises."""
    device.send(start, chunk=1)
    device.unplug()
    await asyncio.wait_for(task, 10)


# -- fuzzing a decoder ----------------------------------------------------------------------------


def fuzz_frames(
    blob: bytes, templates: Sequence[bytes], prefixes: Sequence[bytes] = (b"",)
) -> list[bytes]:
    """Frames to fuzz a decoder with: ``blob`` behind each of ``prefixes``, and, for a blob
    that is not empty, the template its first byte picks with its further bytes written over
    it as (position, value) pairs, whole and cut at a length its last byte picks."""
    frames = [prefix + blob for prefix in prefixes]
    if blob:
        template = bytearray(templates[blob[0] % len(templates)])
        for pos, value in zip(blob[1::2], blob[2::2], strict=False):
            template[pos % len(template)] = value
        frames += [bytes(template), bytes(template[: blob[-1] % (len(template) + 1)])]
    return frames


# -- a sink that records ------------------------------------------------------------------------


class RecordingSink:
    """A ``ReadingSink`` keeping what one driver reports; ``await wait_for(...)`` polls."""

    def __init__(self) -> None:
        self.readings: list[Any] = []
        self.refusals: list[str] = []
        self.states: list[tuple[str, str]] = []
        self.signals: list[tuple[str, str]] = []
        self.batteries: list[int] = []

    async def reading(self, peripheral: str, reading: Any) -> None:
        self.readings.append(reading)

    def refused(self, peripheral: str, reason: str) -> None:
        self.refusals.append(reason)

    def state(self, peripheral: str, state: Any, detail: str = "") -> None:
        self.states.append((str(state), detail))

    def battery(self, peripheral: str, percent: int) -> None:
        self.batteries.append(percent)

    def signal(self, peripheral: str, signal: Any, text: str = "") -> None:
        self.signals.append((str(signal), text))

    async def wait_for(self, condition: Any, timeout_s: float = 10.0) -> None:
        """Until ``condition()`` holds; the timeout only bounds a failing test."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.005)


# -- standalone -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve an emulated serial device on a pty.")
    sub = parser.add_subparsers(dest="device", required=True)
    bp = sub.add_parser("accutorr", help="Datascope ACCUTORR 3 blood pressure monitor")
    bp.add_argument("--script", default="[]", help="JSON list of measurements (NibpResult)")
    bp.add_argument("--every", type=float, default=0.0, help="measure every N seconds")
    bp.add_argument("--repeat", action="store_true", help="play the script again and again")
    scale = sub.add_parser("adam-mdw", help="Adam MDW-300L scale in command mode")
    scale.add_argument("--weight", type=float, default=72.5)
    scale.add_argument("--unit", choices=("kg", "lb"), default="kg")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    device: PtyDevice
    if args.device == "accutorr":
        script = json.loads(args.script)
        unit = AccutorrEmulator(script=list(script))

        def take(*_: object) -> None:
            if not unit.measure_next() and args.repeat and script:
                unit.script = list(script)
                unit.measure_next()

        signal.signal(signal.SIGUSR1, take)
        device = unit
    else:
        device = AdamMdwEmulator(ScaleState(weight=args.weight, unit=args.unit))
    with device:
        print(device.path, flush=True)
        while not stop.wait(args.every if args.device == "accutorr" and args.every else 3600):
            if args.device == "accutorr" and args.every:
                take()
    return 0


if __name__ == "__main__":
    sys.exit(main())
