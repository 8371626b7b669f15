"""An asyncio byte stream over a pyserial port, with its errors classified for supervision.

How the bytes reach the event loop: pyserial opens a POSIX port non-blocking (``O_NONBLOCK``);
with ``timeout=0`` its ``read`` returns at once with what the kernel holds. We register the
port's file descriptor with ``loop.add_reader`` and read when the kernel says there is data.
We chose this over ``asyncio.to_thread(port.read)`` because a blocking read in a worker thread
cannot be cancelled (the thread stays until data or its timeout arrives, which delays the
agent's shutdown and a supervisor's restart), costs a thread per port and a thread hop per
read on a two-core Pi, while ``add_reader`` cancels at once and keeps every byte on the
agent's one loop; pyserial-asyncio (``serial_asyncio.SerialTransport``) works the same way.
The price: the port must have a file descriptor (a device path such as ``/dev/ttyUSB0`` or
``/dev/serial/by-id/...``, or a pty), not a ``socket://`` or ``rfc2217://`` URL, and the
agent runs on Linux only, which it does.

Errors, as the supervisor needs them (``agent/peripherals.py``):

- the port is missing (a USB adapter unplugged, ``ENOENT``/``ENODEV``/``ENXIO``), busy
  (``EBUSY``) or failing while open (``EIO``, end of file, a pty whose master closed):
  :class:`TransientDriverError`, retried with backoff;
- permission denied (``EACCES``/``EPERM``): :class:`PermanentDriverError` naming the fix, the
  agent's user is not in the ``dialout`` group;
- options pyserial refuses (a baud rate the port cannot do): :class:`DriverConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from types import TracebackType
from typing import Any, Literal

from pydantic import Field, field_validator

from healthhub.drivers.errors import (
    DriverConfigError,
    DriverError,
    PermanentDriverError,
    TransientDriverError,
)
from healthhub.drivers.options import Options

#: The most a single read takes from the kernel; the framer's bound covers the rest.
READ_CHUNK = 4096
#: The most :meth:`SerialPort.drain` reads (a device streaming without pause cannot keep
#: it reading forever).
DRAIN_LIMIT = 64 * 1024
#: How long a write may wait for the kernel to take a command (a few bytes) before the
#: port counts as stuck.
WRITE_TIMEOUT_S = 2.0

_MISSING = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_DENIED = {errno.EACCES, errno.EPERM}
_PARITY = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}

DIALOUT_FIX = (
    "add the agent's user to the dialout group (sudo usermod -aG dialout <agent user>, "
    "then restart the agent) or install the udev rule from systemd/"
)


class SerialPortOptions(Options):
    """Where the device is and how its line is set. Each backend subclasses this with the
    defaults its device's manual gives."""

    port: str = Field(min_length=1)
    baudrate: int = Field(9600, gt=0, le=4_000_000)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["none", "even", "odd", "mark", "space"] = "none"
    stopbits: float = 1

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("stopbits must be 1, 1.5 or 2")
        return value


def open_error(port: str, exc: OSError) -> DriverError:
    """The driver error for a port that could not be opened."""
    code = exc.errno
    if code in _DENIED:
        return PermanentDriverError(f"permission denied opening {port}: {DIALOUT_FIX}")
    if code in _MISSING:
        return TransientDriverError(
            f"serial port {port} is missing (USB adapter unplugged or device off?)"
        )
    if code == errno.EBUSY:
        return TransientDriverError(f"serial port {port} is busy (another program has it?)")
    reason = os.strerror(code) if isinstance(code, int) else str(exc) or type(exc).__name__
    return TransientDriverError(f"serial port {port} could not be opened: {reason}")


class SerialPort:
    """An open port: ``await read()`` some bytes, ``await write(command)``, ``close()``."""

    def __init__(self, handle: Any, name: str) -> None:
        self._handle = handle
        self.name = name
        try:
            self._fd: int = handle.fileno()
        except (AttributeError, OSError, ValueError) as exc:
            handle.close()
            raise DriverConfigError(
                f"{name}: this port has no file descriptor; give a device path such as "
                "/dev/ttyUSB0 or /dev/serial/by-id/..."
            ) from exc
        self._closed = False

    @classmethod
    def open(cls, options: SerialPortOptions) -> SerialPort:
        """Open and configure the port (quick and non-blocking); raises classified errors."""
        try:
            import serial  # lazily: the package imports on machines without pyserial
        except ImportError as exc:  # pragma: no cover - a broken installation
            raise PermanentDriverError(
                "pyserial is not installed: run `make setup` (pip installs the project)"
            ) from exc
        try:
            handle = serial.serial_for_url(options.port, do_not_open=True)
            handle.baudrate = options.baudrate
            handle.bytesize = options.bytesize
            handle.parity = _PARITY[options.parity]
            handle.stopbits = options.stopbits
            handle.timeout = 0  # read returns at once: the loop waits, not pyserial
            handle.write_timeout = 0
        except ValueError as exc:
            raise DriverConfigError(f"serial port {options.port}: {exc}") from None
        try:
            handle.open()
        except ValueError as exc:
            raise DriverConfigError(f"serial port {options.port}: {exc}") from None
        except OSError as exc:  # serial.SerialException is an OSError carrying the errno
            raise open_error(options.port, exc) from None
        return cls(handle, options.port)

    async def read(self) -> bytes:
        """Some bytes (1 to READ_CHUNK), waiting until the device sends any.

        :class:`TransientDriverError` when the device is gone (end of file, EIO).
        """
        loop = asyncio.get_running_loop()
        while True:
            data = self._read_now()
            if data:
                return data
            ready: asyncio.Future[None] = loop.create_future()

            def wake(future: asyncio.Future[None] = ready) -> None:
                if not future.done():
                    future.set_result(None)

            loop.add_reader(self._fd, wake)
            try:
                await ready
            finally:
                loop.remove_reader(self._fd)

    def _read_now(self) -> bytes:
        if self._closed:
            raise TransientDriverError(f"serial port {self.name} is closed")
        try:
            data: bytes = self._handle.read(READ_CHUNK)
        except OSError as exc:  # SerialException included: EIO, "returned no data" (EOF)
            raise TransientDriverError(
                f"serial port {self.name} lost (device unplugged?): {_reason(exc)}"
            ) from None
        return data

    def drain(self) -> int:
        """Read and drop what the kernel holds now (stale bytes before a command); how
        many bytes were dropped, at most :data:`DRAIN_LIMIT`."""
        dropped = 0
        while dropped < DRAIN_LIMIT:
            data = self._read_now()
            if not data:
                break
            dropped += len(data)
        return dropped

    async def write(self, data: bytes) -> None:
        """Send ``data`` (a command); waits while the kernel's buffer is full, bounded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WRITE_TIMEOUT_S
        view = memoryview(data)
        while view:
            if self._closed:
                raise TransientDriverError(f"serial port {self.name} is closed")
            try:
                sent = os.write(self._fd, view)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise TransientDriverError(
                    f"serial port {self.name} lost while writing: {_reason(exc)}"
                ) from None
            view = view[sent:]
            if view:
                await self._writable(loop, deadline)

    async def _writable(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(self._fd, wake)
        try:
            async with asyncio.timeout_at(deadline):
                await ready
        except TimeoutError:
            raise TransientDriverError(
                f"serial port {self.name} does not take data (flow control stuck?)"
            ) from None
        finally:
            loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):  # a port whose device is gone: nothing to release
            self._handle.close()

    async def __aenter__(self) -> SerialPort:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _reason(exc: OSError) -> str:
    if isinstance(exc.errno, int):
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__
