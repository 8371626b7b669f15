"""How long a serial device's bytes take to become an event in the agent; prints JSON.

    .venv/bin/python bench/serial_latency.py [--lines 500]

A line is written on the master side of a real pseudo-terminal, as a barcode scanner
would send it, and timed until it reaches the sink:

- ``driver_us``: through the whole serial driver (pyserial port opened on the pty slave,
  the event loop's reader, the bounded line framer, the code checks, ``sink.signal``);
- ``baseline_us``: the same bytes read by a bare ``loop.add_reader`` on the slave fd that
  splits on newline, nothing else, in the same run: the difference is what the driver adds.

One line at a time (the next is written when the last arrived), then ``burst_lines_per_s``:
all lines written at once, for both paths. CLOCK_MONOTONIC; no assertion on the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
import tty
from collections.abc import Awaitable, Callable
from typing import Any

from healthhub.drivers.base import PeripheralSpec, PeripheralState, Signal
from healthhub.drivers.serial.line_scanner import LineScanner

Arrived = Callable[[], None]


def _line(index: int) -> bytes:
    return f"LEAFLET-{index:06d}\r\n".encode()


class _Sink:
    def __init__(self, arrived: Arrived) -> None:
        self.arrived = arrived
        self.ready = asyncio.Event()

    async def reading(self, peripheral: str, reading: object) -> None:
        raise AssertionError("a scanner takes no readings")

    def refused(self, peripheral: str, reason: str) -> None:
        raise AssertionError(f"refused: {reason}")

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        if state == PeripheralState.WAITING:
            self.ready.set()

    def battery(self, peripheral: str, percent: int) -> None:
        pass

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        self.arrived()


async def _driver_path(slave_path: str, arrived: Arrived) -> Callable[[], Awaitable[None]]:
    sink = _Sink(arrived)
    scanner = LineScanner(
        PeripheralSpec("scanner", "barcode_scanner", "serial.line", {"port": slave_path})
    )
    task = asyncio.create_task(scanner.run(sink))
    await asyncio.wait_for(sink.ready.wait(), 10)

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return stop


async def _baseline_path(slave: int, arrived: Arrived) -> Callable[[], Awaitable[None]]:
    loop = asyncio.get_running_loop()
    os.set_blocking(slave, False)
    pending = bytearray()

    def readable() -> None:
        pending.extend(os.read(slave, 4096))
        while (end := pending.find(b"\n")) >= 0:
            del pending[: end + 1]
            arrived()

    loop.add_reader(slave, readable)

    async def stop() -> None:
        loop.remove_reader(slave)

    return stop


async def _measure(path: str, lines: int) -> dict[str, Any]:
    master, slave = os.openpty()
    tty.setraw(slave)
    got = asyncio.Event()
    count = 0

    def arrived() -> None:
        nonlocal count
        count += 1
        got.set()

    if path == "driver":
        stop = await _driver_path(os.ttyname(slave), arrived)
    else:
        stop = await _baseline_path(slave, arrived)
    try:
        times = []
        for index in range(lines):
            got.clear()
            start = time.monotonic()
            os.write(master, _line(index))
            await asyncio.wait_for(got.wait(), 10)
            times.append((time.monotonic() - start) * 1e6)
        count = 0
        os.set_blocking(master, False)
        burst = b"".join(_line(i) for i in range(lines))
        start = time.monotonic()
        written = 0
        while written < len(burst):  # the pty buffer is small: write as it drains
            with contextlib.suppress(BlockingIOError):
                written += os.write(master, burst[written : written + 4096])
            await asyncio.sleep(0)
        while count < lines:
            got.clear()
            await asyncio.wait_for(got.wait(), 10)
        elapsed = time.monotonic() - start
    finally:
        await stop()
        os.close(master)
        os.close(slave)
    times.sort()
    return {
        "median_us": round(statistics.median(times), 1),
        "p90_us": round(times[int(len(times) * 0.9)], 1),
        "burst_lines_per_s": round(lines / elapsed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    args = parser.parse_args()
    result = {
        "bench": "serial_latency",
        "lines": args.lines,
        "baseline_us": asyncio.run(_measure("baseline", args.lines)),
        "driver_us": asyncio.run(_measure("driver", args.lines)),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
