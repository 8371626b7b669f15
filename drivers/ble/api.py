"""The part of bleak the transport uses, behind a small protocol (bleak's own ``backend=`` habit).

:class:`BleApi` is what the transport and ``scan`` call: find one device, list the devices
in range, make a client. :class:`BleakApi`, the default, is bleak itself
(``BleakScanner``/``BleakClient``, imported only when first used, so the package imports on
any machine); it passes bleak's ``backend=`` through, so a test runs the real bleak front
end over a fake backend (tests/fake_bleak.py). A client is anything with the
:class:`GattClient` methods, which ``bleak.BleakClient`` has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bleak import BleakScanner
    from bleak.backends.client import BaseBleakClient
    from bleak.backends.scanner import BaseBleakScanner


@dataclass(frozen=True)
class Advert:
    """A device as its advertisement shows it; ``device`` is what a client connects to."""

    address: str
    name: str | None
    rssi: int
    service_uuids: tuple[str, ...]
    device: Any = field(default=None, compare=False, repr=False)


class ServiceLookup(Protocol):
    def get_characteristic(self, specifier: str) -> object | None: ...


NotifyCallback = Callable[[Any, bytearray], None]


class GattClient(Protocol):
    """The methods of ``bleak.BleakClient`` the transport uses."""

    @property
    def is_connected(self) -> bool: ...

    @property
    def services(self) -> ServiceLookup: ...

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def read_gatt_char(self, char_specifier: str) -> bytearray: ...

    async def write_gatt_char(self, char_specifier: str, data: bytes, response: bool) -> None: ...

    async def start_notify(self, char_specifier: str, callback: NotifyCallback) -> None: ...


class BleApi(Protocol):
    """Discovery and a client factory: what the transport needs of a Bluetooth stack."""

    def find(
        self,
        match: Callable[[Advert], bool],
        *,
        service_uuids: list[str] | None,
        adapter: str | None,
        seconds: float,
    ) -> Awaitable[Advert | None]:
        """The first advertisement ``match`` accepts within ``seconds``, or None."""
        ...

    def discover(self, *, adapter: str | None, seconds: float) -> Awaitable[list[Advert]]:
        """Every device heard within ``seconds`` (its latest advertisement)."""
        ...

    def client(
        self,
        advert: Advert,
        *,
        adapter: str | None,
        timeout: float,
        pair: bool,
        on_disconnect: Callable[[], None],
    ) -> GattClient:
        """A client for the advertised device; ``connect()`` pairs first when ``pair``."""
        ...


def _advert(device: Any, data: Any) -> Advert:
    return Advert(
        address=device.address,
        name=data.local_name or device.name,
        rssi=data.rssi,
        service_uuids=tuple(u.lower() for u in data.service_uuids),
        device=device,
    )


@dataclass(frozen=True)
class BleakApi:
    """bleak itself; ``scanner_backend``/``client_backend`` go to bleak's ``backend=``."""

    scanner_backend: type[BaseBleakScanner] | None = None
    client_backend: type[BaseBleakClient] | None = None

    def _scan_args(self, adapter: str | None) -> BleakScanner.ExtraArgs:
        args: BleakScanner.ExtraArgs = {}
        if adapter is not None:
            args["bluez"] = {"adapter": adapter}
        if self.scanner_backend is not None:
            args["backend"] = self.scanner_backend
        return args

    async def find(
        self,
        match: Callable[[Advert], bool],
        *,
        service_uuids: list[str] | None,
        adapter: str | None,
        seconds: float,
    ) -> Advert | None:
        from bleak import BleakScanner

        matched: list[Advert] = []

        def accept(device: Any, data: Any) -> bool:
            advert = _advert(device, data)
            if match(advert):
                matched.append(advert)
                return True
            return False

        args = self._scan_args(adapter)
        if service_uuids:
            args["service_uuids"] = service_uuids
        device = await BleakScanner.find_device_by_filter(accept, timeout=seconds, **args)
        return matched[-1] if device is not None and matched else None

    async def discover(self, *, adapter: str | None, seconds: float) -> list[Advert]:
        from bleak import BleakScanner

        found = await BleakScanner.discover(seconds, return_adv=True, **self._scan_args(adapter))
        return [_advert(device, data) for device, data in found.values()]

    def client(
        self,
        advert: Advert,
        *,
        adapter: str | None,
        timeout: float,
        pair: bool,
        on_disconnect: Callable[[], None],
    ) -> GattClient:
        from bleak import BleakClient

        return BleakClient(
            advert.device if advert.device is not None else advert.address,
            disconnected_callback=lambda _client: on_disconnect(),
            timeout=timeout,
            pair=pair,
            bluez={"adapter": adapter} if adapter is not None else {},
            backend=self.client_backend,
        )
