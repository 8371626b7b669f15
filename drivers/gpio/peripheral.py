"""What every GPIO peripheral does the same way: pins opened in ``run()``, closed on the way out.

The constructor only parses options (the agent constructs every peripheral when it loads
device.yaml, on any machine). ``run()`` opens the pin factory, lets the family open its
gpiozero devices, reports ``waiting`` and serves until cancelled; devices close before the
factory, whether ``run()`` ends by cancellation or by an error. A family's simulator runs the
same code on a ``MockFactory`` of its own (:class:`Simulated`).
"""

from __future__ import annotations

import abc
import asyncio
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from healthhub.drivers.base import Peripheral, PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.gpio.pin_factory import FactoryName, configured_factory
from healthhub.drivers.options import parse_options


class GpioOptions(Protocol):
    """What :class:`GpioPeripheral` reads of a family's options model. Each model declares
    ``pin_factory`` itself, as its last option: in a shared pydantic base it would come first,
    and configuration errors name the options in their model's order."""

    @property
    def pin_factory(self) -> FactoryName | None: ...


@dataclass(frozen=True)
class RunContext:
    """One run of a peripheral: its pin factory, the loop that gpiozero's threads hop onto
    (:func:`~healthhub.drivers.gpio.pin_factory.hop`), the sink, and the stack that closes the
    devices when the run ends."""

    factory: Any
    loop: asyncio.AbstractEventLoop
    sink: ReadingSink
    devices: ExitStack


class GpioPeripheral(Peripheral):
    """A peripheral on GPIO pins.

    ``pin_factory`` is a gpiozero factory that the caller owns and closes (a test's
    ``MockFactory``); without it ``run()`` uses the one the ``pin_factory`` option names.
    """

    #: The backend's :class:`~healthhub.drivers.options.Options` model (a simulator's adds its
    #: own); ``type[Any]``, as each family declares the ``options`` that its model parses to.
    options_model: ClassVar[type[Any]]
    options: GpioOptions

    def __init__(self, spec: PeripheralSpec, *, pin_factory: Any = None) -> None:
        super().__init__(spec)
        self.options = parse_options(spec, self.options_model)
        self._given_factory = pin_factory

    def pin_factory(self) -> AbstractContextManager[Any]:
        """The pin factory for one run (simulators override it with a MockFactory they own)."""
        if self._given_factory is not None:
            return nullcontext(self._given_factory)
        return configured_factory(self.spec, self.options.pin_factory)

    async def run(self, sink: ReadingSink) -> None:
        loop = asyncio.get_running_loop()
        with self.pin_factory() as factory, ExitStack() as devices:
            context = RunContext(factory, loop, sink, devices)
            detail = self.open(context)
            sink.state(self.name, PeripheralState.WAITING, detail)
            await self.serve(context)

    @abc.abstractmethod
    def open(self, run: RunContext) -> str:
        """Open the gpiozero devices on ``run.factory`` and push each one's ``close`` on
        ``run.devices``; return what the ``waiting`` state should say (usually nothing)."""

    async def serve(self, run: RunContext) -> None:
        """Serve until cancelled; by default the devices' own events do the work."""
        await asyncio.Event().wait()


class Simulated(GpioPeripheral):
    """A family's simulator (listed first among its bases): the family's own code, run on a
    ``MockFactory`` that the simulator owns and closes."""

    def pin_factory(self) -> AbstractContextManager[Any]:
        from healthhub.drivers.gpio.mock_pins import owned_mock_factory

        return owned_mock_factory()
