"""A fake bleak backend: scripted health devices behind the real ``BleakScanner``/``BleakClient``.

bleak chooses its platform backend unless told otherwise (``backend=``); these are such
backends (``BaseBleakScanner``/``BaseBleakClient`` subclasses), so the transport's calls go
through bleak's own front end: its characteristic lookup raises the real
``BleakCharacteristicNotFoundError``, its ``start_notify`` refuses a disconnected client,
its ``pair=`` reaches ``connect``. Failures are the exception classes bleak's BlueZ backend
raises, built as it builds them (``BleakDBusError(name, body)`` from a D-Bus error reply).

A :class:`FakeDevice` behaves as a health device does: it advertises its service, sends
the readings in its memory as soon as indications are enabled, answers RACP from its
stored records, then hangs up and switches off. Every device-side step is scheduled on the
event loop (``call_soon``) and every client call yields once, as real I/O would.

    air = FakeAir(FakeDevice("A4:C1:38:00:00:01", services={0x1810: (0x2A35,)},
                             advertised=(0x1810,), memory=[(0x2A35, frames.bp(128, 82, 97))]))
    peripheral = BlePeripheral(spec, api=air.api(), sleep=...)
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakDBusError,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from healthhub.drivers.ble.api import BleakApi
from healthhub.drivers.ble.profiles import RACP, short_uuid, uuid16

RACP_RESPONSE = 0x06
SUCCESS, OP_CODE_NOT_SUPPORTED, NO_RECORDS_FOUND = 0x01, 0x02, 0x06


# -- the errors real adapters raise, as bleak builds them -----------------------------------


def dbus_error(name: str, body: str) -> BleakDBusError:
    """A BlueZ D-Bus error reply as ``bleak.backends.bluezdbus.utils.assert_reply`` raises it."""
    return BleakDBusError(name, [body])


IN_PROGRESS = ("org.bluez.Error.InProgress", "In Progress")
AUTHENTICATION_FAILED = ("org.bluez.Error.AuthenticationFailed", "Authentication Failed")
ABORT_BY_LOCAL = ("org.bluez.Error.Failed", "le-connection-abort-by-local")
NOT_READY = ("org.bluez.Error.NotReady", "Resource Not Ready")


# -- the bytes a device sends (GSS formats, as the decoders read them) ----------------------


class frames:
    @staticmethod
    def sfloat(mantissa: int, exponent: int = 0) -> bytes:
        return (((exponent & 0xF) << 12) | (mantissa & 0x0FFF)).to_bytes(2, "little")

    @staticmethod
    def date_time(when: datetime) -> bytes:
        return struct.pack(
            "<HBBBBB", when.year, when.month, when.day, when.hour, when.minute, when.second
        )

    @staticmethod
    def bp(
        systolic: int,
        diastolic: int,
        mean: int,
        pulse: int | None = None,
        *,
        at: datetime | None = None,
        status: int | None = None,
    ) -> bytes:
        flags = (0x02 if at else 0) | (0x04 if pulse is not None else 0)
        flags |= 0x10 if status is not None else 0
        data = bytes([flags]) + b"".join(frames.sfloat(v) for v in (systolic, diastolic, mean))
        if at is not None:
            data += frames.date_time(at)
        if pulse is not None:
            data += frames.sfloat(pulse)
        if status is not None:
            data += status.to_bytes(2, "little")
        return data

    @staticmethod
    def weight(kg: float, at: datetime | None = None) -> bytes:
        data = bytes([0x02 if at else 0]) + round(kg / 0.005).to_bytes(2, "little")
        return data + (frames.date_time(at) if at is not None else b"")

    @staticmethod
    def temperature(celsius: float, at: datetime | None = None) -> bytes:
        raw = ((-2 & 0xFF) << 24) | (round(celsius * 100) & 0xFFFFFF)
        data = bytes([0x02 if at else 0]) + raw.to_bytes(4, "little")
        return data + (frames.date_time(at) if at is not None else b"")

    @staticmethod
    def plx_spot(
        spo2: int, pulse: int, at: datetime | None = None, status: int | None = None
    ) -> bytes:
        flags = (0x01 if at else 0) | (0x02 if status is not None else 0)
        data = bytes([flags]) + frames.sfloat(spo2) + frames.sfloat(pulse)
        if at is not None:
            data += frames.date_time(at)
        if status is not None:
            data += status.to_bytes(2, "little")
        return data

    @staticmethod
    def plx_continuous(spo2: int, pulse: int, status: int | None = None) -> bytes:
        flags = 0x04 if status is not None else 0
        data = bytes([flags]) + frames.sfloat(spo2) + frames.sfloat(pulse)
        return data + (status.to_bytes(2, "little") if status is not None else b"")


# -- a device -----------------------------------------------------------------------------


@dataclass
class FakeDevice:
    address: str
    services: dict[int, tuple[int, ...]]  # service -> its characteristics (16-bit UUIDs)
    advertised: tuple[int, ...] = ()  # service UUIDs in its advertisement
    name: str | None = None
    rssi: int = -60
    in_range: bool = True
    battery: bytes | None = None  # the Battery Level value, where 0x2A19 exists
    memory: list[tuple[int, bytes]] = field(default_factory=list)  # (characteristic, frame)
    hang_up_after_sending: bool = True
    switch_off_after_hang_up: bool = True
    drop_after: int | None = None  # hang up after this many frames, mid-transfer
    drop_once: bool = False  # ... in the first connection only
    # what each connection attempt raises, in turn (None: it connects)
    connect_errors: list[BaseException | None] = field(default_factory=list)
    pair_error: BaseException | None = None
    requires_pairing: bool = False  # indications need a bond (ATT Insufficient Authentication)
    # sends its memory and hangs up before BlueZ has answered StartNotify (which then fails)
    hang_up_while_subscribing: bool = False
    paired: bool = False
    stored: list[bytes] = field(default_factory=list)  # RACP records (PLX spot-check frames)
    report_code: int = SUCCESS
    delete_code: int = SUCCESS
    # what happened to it
    connects: int = 0
    pairings: int = 0
    racp_requests: list[bytes] = field(default_factory=list)
    deleted: int = 0


class FakeAir:
    """The devices in range of the hub's adapter, and the bleak API that reaches them."""

    def __init__(self, *devices: FakeDevice, scanner_error: BaseException | None = None) -> None:
        self.devices = list(devices)
        self.scanner_error = scanner_error
        self.scans = 0
        self.adapters: list[str | None] = []

    def device(self, address: str) -> FakeDevice | None:
        return next((d for d in self.devices if d.address.upper() == address.upper()), None)

    def api(self) -> BleakApi:
        scanner = type("FakeScanner", (FakeScannerBackend,), {"air": self})
        client = type("FakeClient", (FakeClientBackend,), {"air": self})
        return BleakApi(scanner_backend=scanner, client_backend=client)


# -- the scanner backend ------------------------------------------------------------------


class FakeScannerBackend(BaseBleakScanner):
    air: ClassVar[FakeAir]

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str,
        *,
        bluez: dict[str, Any],
        cb: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self.adapter = bluez.get("adapter")

    async def start(self) -> None:
        self.air.scans += 1
        self.air.adapters.append(self.adapter)
        if self.air.scanner_error is not None:
            raise self.air.scanner_error
        self.seen_devices = {}
        asyncio.get_running_loop().call_soon(self._advertise)

    def _advertise(self) -> None:
        for device in self.air.devices:
            if not device.in_range:
                continue
            data = AdvertisementData(
                local_name=device.name,
                manufacturer_data={},
                service_data={},
                service_uuids=[uuid16(s) for s in device.advertised],
                tx_power=None,
                rssi=device.rssi,
                platform_data=(),
            )
            if not self.is_allowed_uuid(data.service_uuids):
                continue
            path = "/org/bluez/hci0/dev_" + device.address.replace(":", "_")
            ble = self.create_or_update_device(
                path, device.address, device.name, {"path": path}, data
            )
            self.call_detection_callbacks(ble, data)

    async def stop(self) -> None:
        return None


# -- the client backend -------------------------------------------------------------------


class FakeClientBackend(BaseBleakClient):
    air: ClassVar[FakeAir]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self.adapter = kwargs.get("bluez", {}).get("adapter")
        self._device = self.air.device(self.address)
        self._connected = False
        self._callbacks: dict[int, NotifyCallback] = {}
        self._actions: deque[Callable[[], None]] = deque()
        self._stepping = False
        self._sent = 0

    # connection

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def name(self) -> str:
        return (self._device.name if self._device else None) or self.address

    @property
    def is_connected(self) -> bool:
        return self._connected

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        device = self._device
        if device is None or not device.in_range:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            )
        device.connects += 1
        if device.connect_errors:
            error = device.connect_errors.pop(0)
            if error is not None:
                raise error
        if pair and not device.paired:
            device.pairings += 1
            if device.pair_error is not None:
                raise device.pair_error
            device.paired = True
        self.services = self._services(device)
        self._connected = True
        self._sent = 0

    def _services(self, device: FakeDevice) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        handle = 1
        for service_uuid, characteristics in device.services.items():
            service = BleakGATTService(None, handle, uuid16(service_uuid))
            collection.add_service(service)
            handle += 1
            for char_uuid in characteristics:
                characteristic = BleakGATTCharacteristic(
                    None,
                    handle,
                    uuid16(char_uuid),
                    ["read", "write", "indicate"],
                    lambda: 20,
                    service,
                )
                collection.add_characteristic(characteristic)
                handle += 2
        return collection

    async def disconnect(self) -> None:
        await asyncio.sleep(0)
        self._hang_up(by_device=False)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise BleakError("use BleakClient(pair=True)")

    async def unpair(self) -> None:
        raise BleakError("not supported by the fake")

    def _hang_up(self, *, by_device: bool = True) -> None:
        if not self._connected:
            return
        self._connected = False
        self._actions.clear()
        self._callbacks.clear()
        if by_device and self._device is not None and self._device.switch_off_after_hang_up:
            self._device.in_range = False
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    # device-side steps, one per turn of the event loop

    def _later(self, action: Callable[[], None]) -> None:
        self._actions.append(action)
        if not self._stepping:
            self._stepping = True
            asyncio.get_running_loop().call_soon(self._step)

    def _step(self) -> None:
        if self._actions and self._connected:
            self._actions.popleft()()
        if self._actions and self._connected:
            asyncio.get_running_loop().call_soon(self._step)
        else:
            self._stepping = False

    def _indicate(self, characteristic: int, frame: bytes) -> None:
        callback = self._callbacks.get(characteristic)
        if callback is not None:
            callback(bytearray(frame))

    def _hang_up_unless_racp(self) -> None:
        """Memory sent: hang up, unless the client is using RACP (then after the transfer)."""
        if RACP not in self._callbacks:
            self._hang_up()

    def _drop(self, device: FakeDevice) -> None:
        if device.drop_once:
            device.drop_after = None
        self._hang_up()

    def _send_from_memory(self, characteristic: int) -> None:
        device = self._device
        assert device is not None
        if device.drop_after is not None and self._sent >= device.drop_after:
            self._drop(device)
            return
        for index, (char, frame) in enumerate(device.memory):
            if char == characteristic:
                del device.memory[index]
                self._sent += 1
                self._indicate(char, frame)
                return

    # GATT

    def _require(self) -> FakeDevice:
        if not self._connected or self._device is None:
            raise BleakError("Not connected")
        return self._device

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        await asyncio.sleep(0)
        device = self._require()
        if short_uuid(characteristic.uuid) == 0x2A19 and device.battery is not None:
            return bytearray(device.battery)
        raise BleakGATTProtocolError(0x02)  # Read Not Permitted

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        raise BleakError("descriptors are not modelled")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("descriptors are not modelled")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        await asyncio.sleep(0)
        device = self._require()
        if device.requires_pairing and not device.paired:
            raise BleakGATTProtocolError(0x05)  # Insufficient Authentication
        char = short_uuid(characteristic.uuid)
        assert char is not None
        self._callbacks[char] = callback
        if device.hang_up_while_subscribing:
            while any(c == char for c, _ in device.memory):
                self._send_from_memory(char)
            self._hang_up()
            raise dbus_error("org.bluez.Error.Failed", "Not connected")
        pending = sum(1 for c, _ in device.memory if c == char)
        for _ in range(pending):
            self._later(functools.partial(self._send_from_memory, char))
        if pending and device.hang_up_after_sending:
            self._later(self._hang_up_unless_racp)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        await asyncio.sleep(0)
        char = short_uuid(characteristic.uuid)
        self._callbacks.pop(char or 0, None)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await asyncio.sleep(0)
        device = self._require()
        if short_uuid(characteristic.uuid) != RACP:
            raise BleakGATTProtocolError(0x03)  # Write Not Permitted
        if RACP not in self._callbacks:
            raise BleakGATTProtocolError(0xFD)  # CCCD Improperly Configured
        request = bytes(data)
        device.racp_requests.append(request)
        if request == bytes((0x01, 0x01)):
            self._report_stored(device)
        elif request == bytes((0x02, 0x01)):
            self._later(lambda: self._delete_stored(device))
        else:
            self._respond(request[0], OP_CODE_NOT_SUPPORTED)

    def _respond(self, request: int, code: int) -> None:
        self._later(lambda: self._indicate(RACP, bytes((RACP_RESPONSE, 0x00, request, code))))

    def _report_stored(self, device: FakeDevice) -> None:
        if not device.stored:
            self._respond(0x01, NO_RECORDS_FOUND)
            if device.hang_up_after_sending:
                self._later(self._hang_up)
            return
        for index, record in enumerate(list(device.stored)):
            if device.drop_after is not None and index >= device.drop_after:
                self._later(lambda: self._drop(device))
                return
            self._later(functools.partial(self._indicate, 0x2A5E, record))
        self._respond(0x01, device.report_code)
        if device.report_code != SUCCESS and device.hang_up_after_sending:
            self._later(self._hang_up)

    def _delete_stored(self, device: FakeDevice) -> None:
        if device.delete_code == SUCCESS:
            device.deleted += len(device.stored)
            device.stored.clear()
        self._indicate(RACP, bytes((RACP_RESPONSE, 0x00, 0x02, device.delete_code)))
        if device.hang_up_after_sending:
            self._later(self._hang_up)
