"""What every GPIO peripheral does the same way: pins opened in ``run()``, closed on the way out.

The constructor only parses options (the agent constructs every peripheral when it loads
device.yaml, on any machine). ``run()`` opens the pin factory, lets the family open its
gpiozero devices, reports ``waiting`` and serves until cancelled; devices close before the
factory, whether ``run()`` ends by cancellation or by an error.
"""

from __future__ import annotations

import abc
import asyncio
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import Any

from healthhub.drivers.base import Peripheral, PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.gpio.pin_factory import FactoryName, configured_factory


class GpioPeripheral(Peripheral):
    """A peripheral on GPIO pins.

    ``pin_factory`` is a gpiozero factory that the caller owns and closes (a test's
    ``MockFactory``); without it ``run()`` uses the one the ``pin_factory`` option names.
    """

    def __init__(
        self, spec: PeripheralSpec, factory_name: FactoryName | None, pin_factory: Any = None
    ) -> None:
        super().__init__(spec)
        self._factory_name = factory_name
        self._given_factory = pin_factory

    def pin_factory(self) -> AbstractContextManager[Any]:
        """The pin factory for one run (simulators override it with a MockFactory they own)."""
        if self._given_factory is not None:
            return nullcontext(self._given_factory)
        return configured_factory(self.spec, self._factory_name)

    async def run(self, sink: ReadingSink) -> None:
        loop = asyncio.get_running_loop()
        with self.pin_factory() as factory, ExitStack() as devices:
            detail = self.open(factory, loop, sink, devices)
            sink.state(self.name, PeripheralState.WAITING, detail)
            await self.serve(factory, sink)

    @abc.abstractmethod
    def open(
        self,
        factory: Any,
        loop: asyncio.AbstractEventLoop,
        sink: ReadingSink,
        devices: ExitStack,
    ) -> str:
        """Open the gpiozero devices on ``factory`` and push each one's ``close`` on
        ``devices``; return what the ``waiting`` state should say (usually nothing)."""

    async def serve(self, factory: Any, sink: ReadingSink) -> None:
        """Serve until cancelled; by default the devices' own events do the work."""
        await asyncio.Event().wait()
