"""A simulated barcode scanner: ``driver: barcode_scanner``, ``backend: simulator``.

So that the scanner family, like every other, runs without hardware (the demo, UI tests).
It plays ``script``, a list of codes, one at a time: when the agent calls
``request_measurement()``, or every ``interval_s`` seconds when that is set. After the
last code it starts again if ``repeat`` is true, and otherwise stops (state ``stopped``).
Codes are checked as a real scanner's lines are (printable text, at most 512 characters).
"""

from __future__ import annotations

import asyncio

from pydantic import Field, field_validator

from healthhub.drivers.base import (
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    ReadingSink,
    Signal,
)
from healthhub.drivers.errors import FrameError
from healthhub.drivers.options import Options, parse_options
from healthhub.drivers.registry import register
from healthhub.drivers.serial.line_scanner import code_text

#: A bound on a script's length (it is held in memory).
MAX_SCRIPT = 1000


class ScannerSimulatorOptions(Options):
    script: list[str] = Field(min_length=1, max_length=MAX_SCRIPT)
    interval_s: float | None = Field(None, gt=0.0, le=3600.0)
    repeat: bool = False

    @field_validator("script")
    @classmethod
    def _printable(cls, codes: list[str]) -> list[str]:
        for code in codes:
            try:
                code_text(code.encode("utf-8"))
            except FrameError as exc:
                raise ValueError(str(exc)) from None
        return codes


class ScannerSimulator(Peripheral):
    def __init__(self, spec: PeripheralSpec) -> None:
        super().__init__(spec)
        self.settings = parse_options(spec, ScannerSimulatorOptions)
        self._requested = asyncio.Event()

    def request_measurement(self) -> None:
        self._requested.set()

    async def run(self, sink: ReadingSink) -> None:
        sink.state(self.name, PeripheralState.WAITING)
        while True:
            for code in self.settings.script:
                await self._trigger()
                sink.signal(self.name, Signal.SCANNED, code)
            if not self.settings.repeat:
                break
        sink.state(self.name, PeripheralState.STOPPED, "simulated script complete")

    async def _trigger(self) -> None:
        interval = self.settings.interval_s
        try:
            async with asyncio.timeout(interval):
                await self._requested.wait()
        except TimeoutError:
            pass  # the interval elapsed: scan the next code
        self._requested.clear()


@register("barcode_scanner", "simulator")
def create(spec: PeripheralSpec) -> ScannerSimulator:
    return ScannerSimulator(spec)
