"""Drivers and their backends, chosen by configuration (``backend: simulator``).

Each device family registers a factory per backend. Hardware libraries are
imported lazily inside the backend that needs them, so the package imports on
any machine (STYLE.md, mqtt-io).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from healthhub.drivers.base import Peripheral, PeripheralSpec
from healthhub.drivers.errors import DriverConfigError

Factory = Callable[[PeripheralSpec], Peripheral]

_FACTORIES: dict[tuple[str, str], Factory] = {}


def register(driver: str, backend: str) -> Callable[[Factory], Factory]:
    def decorate(factory: Factory) -> Factory:
        key = (driver, backend)
        if key in _FACTORIES:
            raise RuntimeError(f"driver {driver!r} backend {backend!r} registered twice")
        _FACTORIES[key] = factory
        return factory

    return decorate


#: Driver modules whose import registers their backends (hardware libraries load lazily).
_BUILTIN = (
    "simulator",
    "serial.backends",
    "ble.transport",
    "gpio.presence",
    "gpio.help_button",
    "gpio.status_led",
    "gpio.height",
)


def _load_builtin() -> None:
    for module in _BUILTIN:
        importlib.import_module(f"healthhub.drivers.{module}")


def available() -> list[tuple[str, str]]:
    _load_builtin()
    return sorted(_FACTORIES)


def create(spec: PeripheralSpec) -> Peripheral:
    """The peripheral that ``spec`` declares; :class:`DriverConfigError` if there is none."""
    _load_builtin()
    factory = _FACTORIES.get((spec.driver, spec.backend))
    if factory is None:
        backends = sorted(b for d, b in _FACTORIES if d == spec.driver)
        if not backends:
            drivers = sorted({d for d, _ in _FACTORIES})
            raise DriverConfigError(
                f"peripheral {spec.name!r}: unknown driver {spec.driver!r}; "
                f"drivers are {', '.join(drivers)}"
            )
        raise DriverConfigError(
            f"peripheral {spec.name!r}: driver {spec.driver!r} has no backend "
            f"{spec.backend!r}; backends are {', '.join(backends)}"
        )
    return factory(spec)
