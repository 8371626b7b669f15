"""What the GPIO driver tests share: sinks that keep what a peripheral reports, a clock moved
by hand, a pin held from outside, peripherals made through the registry, and a peripheral run
as a task until the test is done with it.

The guard that no test leaves gpiozero's global pin factory set is the fixture
``no_global_pin_factory`` (``conftest.py``); each GPIO test module uses it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from gpiozero.pins.mock import MockPin

from healthhub.drivers import registry
from healthhub.drivers.base import (
    DriverReading,
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    Signal,
)

#: How long ``until`` waits before it fails the test: a bound against a hang, not a timing
#: assertion.
WITHIN_S = 10.0


class StateSink:
    """A ``ReadingSink`` keeping the states a peripheral reports; a reading, a refusal, a
    battery level or a signal fails the test (the subclasses keep the ones they expect)."""

    def __init__(self) -> None:
        self.states: list[tuple[PeripheralState, str]] = []

    @property
    def now(self) -> PeripheralState | None:
        return self.states[-1][0] if self.states else None

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        raise AssertionError(f"{peripheral} takes no readings")

    def refused(self, peripheral: str, reason: str) -> None:
        raise AssertionError(f"{peripheral} refuses nothing")

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        self.states.append((state, detail))

    def battery(self, peripheral: str, percent: int) -> None:
        raise AssertionError("no battery")

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        raise AssertionError(f"{peripheral} signals nothing")


class SignalSink(StateSink):
    """Keeps the signals too (a PIR, a help button)."""

    def __init__(self) -> None:
        super().__init__()
        self.signals: list[Signal] = []

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        self.signals.append(signal)


class MeasurementSink(StateSink):
    """Keeps readings and refusals too (a height measure)."""

    def __init__(self) -> None:
        super().__init__()
        self.readings: list[DriverReading] = []
        self.refusals: list[str] = []

    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        self.readings.append(reading)

    def refused(self, peripheral: str, reason: str) -> None:
        self.refusals.append(reason)

    def outcomes(self) -> int:
        return len(self.readings) + len(self.refusals)


class Clock:
    """A monotonic clock that moves only when a test moves ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldLine(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A pin whose level something outside holds, whatever the pull: a stuck button, or a
    PIR's push-pull output."""

    def _set_pull(self, value: str) -> None:
        self._pull = value


def from_registry(name: str, driver: str, backend: str, **options: object) -> Peripheral:
    """The peripheral that device.yaml declares so, made as the agent makes it."""
    return registry.create(PeripheralSpec(name, driver, backend, options))


async def until(predicate: Callable[[], bool], what: str, *, within_s: float = WITHIN_S) -> None:
    try:
        async with asyncio.timeout(within_s):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


@asynccontextmanager
async def running(
    peripheral: Peripheral, sink: StateSink, *, within_s: float = WITHIN_S
) -> AsyncIterator[asyncio.Task[None]]:
    """``peripheral.run(sink)`` as a task, once it reports ``waiting`` (or its error, raised
    here); cancelled, and its outcome collected, on the way out."""
    task = asyncio.create_task(peripheral.run(sink))
    await until(
        lambda: task.done() or PeripheralState.WAITING in dict(sink.states),
        "waiting",
        within_s=within_s,
    )
    if task.done():
        task.result()
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def start_and_cancel(peripheral: Peripheral, sink: StateSink) -> None:
    """Run ``peripheral`` until it reports ``waiting``, then cancel it."""

    async def scenario() -> None:
        async with running(peripheral, sink):
            pass

    asyncio.run(scenario())
