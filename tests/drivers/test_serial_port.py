"""The serial port: errors classified for supervision (missing: transient; permission:
permanent, naming the fix; lost mid-stream: transient), options checked at construction,
constructors that never touch hardware, and every serial backend in the registry."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
from pathlib import Path
from typing import Any

import pytest
from serial_devices import PtyDevice, RecordingSink

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import (
    DriverConfigError,
    PermanentDriverError,
    TransientDriverError,
)
from healthhub.drivers.serial.port import SerialPort, SerialPortOptions, open_error

CLONE_NEWUSER = 0x10000000
BACKENDS = [
    ("scale", "serial.adam_mdw"),
    ("blood_pressure", "serial.accutorr"),
    ("barcode_scanner", "serial.line"),
]


def spec(driver: str, backend: str, **options: Any) -> PeripheralSpec:
    return PeripheralSpec("unit", driver, backend, options)


# -- opening -----------------------------------------------------------------------------------


def test_a_missing_port_is_transient(tmp_path: Path) -> None:
    with pytest.raises(TransientDriverError, match="missing"):
        SerialPort.open(SerialPortOptions(port=str(tmp_path / "ttyUSB9")))


def open_as_unprivileged(path: str) -> str:
    """Open ``path`` without root's override of file permissions; the error's class and
    message. Root (as in CI) opens a child in a new user namespace, where it holds no
    capability over the host's files."""
    if os.geteuid() != 0:
        try:
            SerialPort.open(SerialPortOptions(port=path))
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "opened"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWUSER) != 0:
                message = f"unshare failed: {os.strerror(ctypes.get_errno())}"
            else:
                try:
                    SerialPort.open(SerialPortOptions(port=path))
                    message = "opened"
                except Exception as exc:
                    message = f"{type(exc).__name__}: {exc}"
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


def test_permission_denied_is_permanent_and_names_the_fix(tmp_path: Path) -> None:
    port = tmp_path / "ttyS0"
    port.touch()
    port.chmod(0o000)
    outcome = open_as_unprivileged(str(port))
    assert outcome.startswith("PermanentDriverError: permission denied"), outcome
    assert "dialout group" in outcome


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (errno.EACCES, PermanentDriverError, "dialout"),
        (errno.EPERM, PermanentDriverError, "dialout"),
        (errno.ENOENT, TransientDriverError, "missing"),
        (errno.ENODEV, TransientDriverError, "missing"),
        (errno.ENXIO, TransientDriverError, "missing"),
        (errno.EBUSY, TransientDriverError, "busy"),
        (errno.EIO, TransientDriverError, "could not be opened"),
        (None, TransientDriverError, "could not be opened"),
    ],
)
def test_open_errors_are_classified(code: int | None, error: type[Exception], words: str) -> None:
    classified = open_error("/dev/ttyUSB0", OSError(code, "x") if code else OSError("x"))
    assert type(classified) is error
    assert words in str(classified)


def test_a_port_without_a_file_descriptor_is_a_configuration_error() -> None:
    with pytest.raises(DriverConfigError, match="device path"):
        SerialPort.open(SerialPortOptions(port="loop://"))


# -- a port that goes away -------------------------------------------------------------------


def test_reads_and_writes_on_an_unplugged_port_are_transient() -> None:
    async def scenario(device: PtyDevice) -> None:
        port = SerialPort.open(SerialPortOptions(port=device.path))
        async with port:
            await port.write(b"hello")
            device.send(b"abc", chunk=None)
            assert await asyncio.wait_for(port.read(), 10) == b"abc"
            device.unplug()
            with pytest.raises(TransientDriverError, match="lost"):
                await asyncio.wait_for(port.read(), 10)
            with pytest.raises(TransientDriverError, match="lost while writing"):
                await port.write(b"W\r")
        with pytest.raises(TransientDriverError, match="closed"):
            await port.write(b"W\r")

    with PtyDevice() as device:
        asyncio.run(scenario(device))
        assert device.received() == b"hello"


def test_drain_drops_what_the_kernel_holds() -> None:
    async def scenario(device: PtyDevice) -> int:
        async with SerialPort.open(SerialPortOptions(port=device.path)) as port:
            device.send(b"stale answer", chunk=None)
            await asyncio.sleep(0)  # nothing to wait for: the pty holds the bytes at once
            return port.drain()

    with PtyDevice() as device:
        assert asyncio.run(scenario(device)) == len(b"stale answer")


# -- options and construction --------------------------------------------------------------------


@pytest.mark.parametrize(("driver", "backend"), BACKENDS)
def test_constructors_touch_no_hardware(driver: str, backend: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "ttyUSB7")
    peripheral = registry.create(spec(driver, backend, port=missing))  # validates only
    with pytest.raises(TransientDriverError, match="missing"):
        asyncio.run(peripheral.run(RecordingSink()))


@pytest.mark.parametrize(("driver", "backend"), BACKENDS)
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "port"),
        ({"port": "/dev/ttyUSB0", "stopbits": 3}, "stopbits"),
        ({"port": "/dev/ttyUSB0", "parity": "sideways"}, "parity"),
        ({"port": "/dev/ttyUSB0", "bytesize": 9}, "bytesize"),
        ({"port": "/dev/ttyUSB0", "baudrate": 0}, "baudrate"),
        ({"port": "/dev/ttyUSB0", "colour": "blue"}, "colour: unknown option"),
    ],
)
def test_bad_options_are_named(
    driver: str, backend: str, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(DriverConfigError, match=named):
        registry.create(spec(driver, backend, **options))


def test_documented_defaults() -> None:
    scale = registry.create(spec("scale", "serial.adam_mdw", port="/dev/ttyUSB0"))
    assert scale.settings.model_dump() == {  # type: ignore[attr-defined]
        "port": "/dev/ttyUSB0",
        "baudrate": 9600,
        "bytesize": 8,
        "parity": "none",
        "stopbits": 1,
        "mode": "command",
        "attempts": 20,
        "retry_s": 0.5,
        "response_s": 1.0,  # manual 8.5: one second is an adequate time-out
        "silent_limit": 3,
        "stable_frames": 5,
    }
    monitor = registry.create(spec("blood_pressure", "serial.accutorr", port="/dev/ttyS0"))
    assert monitor.kinds == ("blood_pressure",)
    assert scale.kinds == ("body_weight",)
