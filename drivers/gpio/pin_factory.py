"""Where the GPIO peripherals get their pins: gpiozero pin factories, opened in ``run()``.

gpiozero devices never touch hardware themselves: they ask a *pin factory* (gpiozero 2.0.1
documentation, "API - Pins"; ``gpiozero/devices.py`` ``Device._default_pin_factory``). The
``pin_factory`` option of a ``backend: gpio`` peripheral chooses one:

- absent: gpiozero's default, the process-wide ``Device.pin_factory`` (lgpio on a Pi, or the
  one ``GPIOZERO_PIN_FACTORY`` names). gpiozero owns it and closes it at exit.
- ``lgpio``, ``rpigpio``, ``native``, ``mock``: that factory, made once per process and
  shared by every peripheral that names it, closed when the last of them stops.
  Sharing matters: ``RPiGPIOFactory.close()`` calls ``GPIO.cleanup()``, which resets every
  pin in the process, so a second factory of one kind would break the first. Give every
  GPIO peripheral of a device the same ``pin_factory``.

Factories are built in ``run()``, never at configuration load, so device.yaml validates on
any machine. gpiozero reports events on its own threads (pin callbacks, the sampling queue
of a smoothed input, blink threads); :func:`hop` carries them onto the event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import (
    DriverConfigError,
    PermanentDriverError,
    TransientDriverError,
)

FactoryName = Literal["lgpio", "rpigpio", "native", "mock"]

#: A GPIO pin as gpiozero names it: a BCM number (17) or a name ("GPIO17", "BOARD11",
#: "J8:11"). Whether it is a GPIO pin of this board is checked in ``run()``
#: (:func:`check_pins`), where the board is known.
PinName = Annotated[StrictInt, Field(ge=0, le=53)] | Annotated[StrictStr, Field(min_length=1)]

#: name -> (module, class, what to install when the import fails)
_FACTORIES: dict[str, tuple[str, str, str]] = {
    "lgpio": (
        "gpiozero.pins.lgpio",
        "LGPIOFactory",
        "install lgpio: `apt-get install python3-lgpio` on Raspberry Pi OS "
        "(or `pip install lgpio` in the venv)",
    ),
    "rpigpio": (
        "gpiozero.pins.rpigpio",
        "RPiGPIOFactory",
        "install RPi.GPIO: `apt-get install python3-rpi.gpio` (or `pip install RPi.GPIO`)",
    ),
    "native": ("gpiozero.pins.native", "NativeFactory", "it ships with gpiozero"),
    "mock": ("gpiozero.pins.mock", "MockFactory", "it ships with gpiozero"),
}
_NO_DEFAULT = (
    "no GPIO pin factory could be loaded: on a Raspberry Pi run "
    "`apt-get install python3-lgpio`; on another machine use `backend: simulator` "
    "or `pin_factory: mock`"
)


class _Shared:
    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.users = 0


_shared: dict[str, _Shared] = {}
_shared_lock = threading.Lock()


def _where(spec: PeripheralSpec) -> str:
    return f"peripheral {spec.name!r} ({spec.driver}, backend {spec.backend})"


def _build(spec: PeripheralSpec, name: str) -> Any:
    module_name, class_name, install = _FACTORIES[name]
    try:
        factory_class = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise PermanentDriverError(
            f"{_where(spec)}: pin_factory {name} cannot load ({exc}): {install}"
        ) from None
    try:
        return factory_class()
    except Exception as exc:
        # No GPIO chip, no permission on /dev/gpiochip*, not a Pi: someone has to act, but
        # a device node that appears late at boot is worth another try under backoff.
        raise TransientDriverError(
            f"{_where(spec)}: pin_factory {name} failed to open the GPIO hardware: {exc}"
        ) from None


@contextmanager
def configured_factory(spec: PeripheralSpec, name: FactoryName | None) -> Iterator[Any]:
    """The pin factory that the ``pin_factory`` option names, for the life of one run."""
    if name is None:
        from gpiozero import Device
        from gpiozero.exc import BadPinFactory

        try:
            Device.ensure_pin_factory()
        except (BadPinFactory, ImportError):
            raise PermanentDriverError(f"{_where(spec)}: {_NO_DEFAULT}") from None
        except Exception as exc:  # GPIOZERO_PIN_FACTORY's choice failed to open the hardware
            raise TransientDriverError(
                f"{_where(spec)}: the default pin factory failed to open the GPIO hardware: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        yield Device.pin_factory  # gpiozero's own: it closes it at exit
        return
    with _shared_lock:
        entry = _shared.get(name)
        if entry is None:
            entry = _shared[name] = _Shared(_build(spec, name))
        entry.users += 1
    try:
        yield entry.factory
    finally:
        with _shared_lock:
            entry.users -= 1
            if entry.users == 0:
                del _shared[name]
                entry.factory.close()


@contextmanager
def opening(spec: PeripheralSpec, **options: object) -> Iterator[None]:
    """Translate gpiozero's errors while devices open on the pins in ``options``.

    A pin that is not a GPIO pin, already in use, or has a fixed pull resistor the options
    contradict is a configuration error naming the options; anything else gpiozero, the pin
    library or the kernel raises is transient (the supervisor retries with backoff).
    """
    from gpiozero.exc import (
        GPIODeviceError,
        GPIOZeroError,
        PinFixedPull,
        PinInvalidPin,
        PinInvalidPull,
    )

    named = ", ".join(f"{key}={value!r}" for key, value in options.items())
    try:
        yield
    except (PinInvalidPin, PinFixedPull, PinInvalidPull, GPIODeviceError) as exc:
        raise DriverConfigError(f"{_where(spec)}: {named}: {exc}") from None
    except (GPIOZeroError, OSError) as exc:
        raise TransientDriverError(f"{_where(spec)}: {named}: {exc}") from None
    except Exception as exc:  # a pin library's own error (lgpio.error: "GPIO busy", ...)
        raise TransientDriverError(
            f"{_where(spec)}: {named}: {type(exc).__name__}: {exc}"
        ) from None


def check_pins(spec: PeripheralSpec, factory: Any, **pins: int | str) -> None:
    """Every pin in ``pins`` (option name -> value) is one GPIO pin of this board."""
    board = factory.board_info
    for option, pin in pins.items():
        found = [info for _header, info in board.find_pin(pin)]
        if len(found) != 1 or not found[0].name.startswith("GPIO"):
            raise DriverConfigError(
                f"{_where(spec)}: {option}: {pin!r} is not a GPIO pin of this board "
                f"(give a BCM number such as 17, or a name such as 'GPIO17' or 'BOARD11')"
            )
    values = list(pins.values())
    names = [next(board.find_pin(pin))[1].name for pin in values]
    if len(set(names)) != len(names):
        raise DriverConfigError(f"{_where(spec)}: {', '.join(pins)} must be different pins")


def hop(loop: asyncio.AbstractEventLoop, callback: Callable[..., None]) -> Callable[..., None]:
    """A handler for gpiozero's threads that runs ``callback(*args)`` on ``loop`` instead."""

    def handler(*args: object) -> None:
        # The loop may have closed while gpiozero's thread ran on: then nobody listens.
        with suppress(RuntimeError):
            loop.call_soon_threadsafe(callback, *args)

    return handler
