"""One connection to a Bluetooth health device, from connect to hang-up.

Order matters: indications are subscribed to first, because a device sends its stored
readings as soon as the Collector configures them and may hang up soon after (BLP, WSP,
HTP); then the battery is read and, where the profile has one, the RACP asked for stored
records.

Every frame, RACP response and the hang-up go through one queue in arrival order, and one
loop handles them: so when the RACP's "success" for Report Stored Records is handled, every
record reported before it has already been committed by the sink (or refused), and only
then are the records deleted (PLXP: the Collector deletes what it holds). A sink that fails
ends the session at once: nothing is deleted, and the records stay on the device for the
next connection. Frames already received when the device hangs up are still handled.
A reading the device sends again (same device time stamp and values) is filed once
(:class:`RecentlyFiled`).

The queue holds at most :data:`FRAME_QUEUE_BOUND` frames (about 20 bytes each): a device
faster than the outbox overflows it, and the session then deletes nothing and ends with a
transient error (lost frames are reported, never silently dropped).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from healthhub.drivers.base import DriverReading, PeripheralState, ReadingSink
from healthhub.drivers.ble import racp
from healthhub.drivers.ble.api import GattClient, NotifyCallback
from healthhub.drivers.ble.battery import battery_percent
from healthhub.drivers.ble.classify import DeviceAway, classify
from healthhub.drivers.ble.dating import Undatable, hub_time, taken_at
from healthhub.drivers.ble.options import BleOptions
from healthhub.drivers.ble.profiles import BATTERY_LEVEL, RACP, Channel, uuid16
from healthhub.drivers.errors import (
    FrameError,
    ImpossibleValue,
    NotAValue,
    TransientDriverError,
    TruncatedFrame,
)

log = logging.getLogger(__name__)

#: Frames waiting to be committed, at most (a PLX holds ~100 stored records; BP ~2x60).
FRAME_QUEUE_BOUND = 1024

#: Notes with which a continuous oximeter says its value has not settled yet.
_UNSETTLED = {"early_estimate", "calibration_ongoing"}


class _Kind(enum.Enum):
    MEASUREMENT = "measurement"
    RACP = "racp"
    GONE = "gone"


@dataclass(frozen=True)
class _Item:
    kind: _Kind
    data: bytes
    received_at: datetime


class RecentlyFiled:
    """The device-stamped readings filed lately, at most :data:`BOUND` (oldest forgotten).

    A device may send the same stored reading again: RACP records whose deletion failed,
    or a monitor that resends its memory on every connection. Such a reading has the same
    device time stamp and values, and is not filed twice. Kept per peripheral, across
    connections; readings older than ``stale_after_s`` are refused anyway."""

    BOUND = 256

    def __init__(self) -> None:
        self._order: deque[Hashable] = deque()
        self._keys: set[Hashable] = set()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def add(self, key: Hashable) -> None:
        if key in self._keys:
            return
        self._order.append(key)
        self._keys.add(key)
        if len(self._order) > self.BOUND:
            self._keys.discard(self._order.popleft())


class SinkFailed(Exception):
    """The sink could not commit a reading; ``error`` is its own exception, not Bluetooth's."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class SessionResult:
    frames: int = 0
    committed: int = 0
    refused: int = 0
    repeated: int = 0  # sent again by the device, filed before
    racp: str = "none"  # none, reporting, deleting, deleted, no records, failed: ...

    @property
    def good(self) -> bool:
        """The device sent something or answered RACP: worth resetting the backoff."""
        return self.frames > 0 or self.racp in ("deleted", "no records")


def refusal_reason(source: str, exc: FrameError) -> str:
    """Why a frame was not filed, without the value it held (the logs must not hold one)."""
    if isinstance(exc, ImpossibleValue):
        what = "a value outside what a person can measure"
    elif isinstance(exc, NotAValue):
        what = "no value (NaN, NRes, unsuccessful, or flagged as not a patient reading)"
    elif isinstance(exc, TruncatedFrame):
        what = "a frame shorter than its flags announce"
    else:
        what = "a frame that is not a reading"
    return f"{source}: {what}; not filed"


class Session:
    def __init__(
        self,
        *,
        name: str,
        channel: Channel,
        use_racp: bool,
        continuous: bool,
        options: BleOptions,
        sink: ReadingSink,
        now: Callable[[], datetime],
        zone: tzinfo | None,
        wanted: asyncio.Event,
        filed: RecentlyFiled,
    ) -> None:
        self._name = name
        self._channel = channel
        self._use_racp = use_racp
        self._continuous = continuous
        self._options = options
        self._sink = sink
        self._now = now
        self._zone = zone
        self._wanted = wanted
        self._filed = filed
        # Unbounded as a container; the callbacks enforce FRAME_QUEUE_BOUND so that the
        # hang-up marker always fits.
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._overflow = False
        self._gone = False
        self.result = SessionResult()

    # -- bleak callbacks (on the event loop, must not block) ---------------------------

    def hang_up(self) -> None:
        """The device disconnected (bleak's ``disconnected_callback``)."""
        self._gone = True
        self._queue.put_nowait(_Item(_Kind.GONE, b"", self._now()))

    def _receiver(self, kind: _Kind) -> NotifyCallback:
        def receive(_sender: object, data: bytearray) -> None:
            if self._queue.qsize() >= FRAME_QUEUE_BOUND:
                self._overflow = True
                return
            self._queue.put_nowait(_Item(kind, bytes(data), self._now()))

        return receive

    # -- the session -------------------------------------------------------------------

    async def run(self, client: GattClient) -> SessionResult:
        await client.connect()
        try:
            self._sink.state(self._name, PeripheralState.MEASURING, "connected")
            measurement = uuid16(self._channel.characteristic)
            await client.start_notify(measurement, self._receiver(_Kind.MEASUREMENT))
            racp_ready = await self._subscribe_racp(client)
            await self._read_battery(client)
            if racp_ready:
                await self._racp_request(client, racp.REPORT_ALL, "reporting")
            await self._pump(client)
        except SinkFailed:
            raise
        except Exception as exc:
            # Frames that arrived before the failure are readings the device will not send
            # again (the stack confirmed them): file them first.
            await self._drain()
            if self._gone:  # the device hung up mid-setup: that explains the failure
                raise DeviceAway(f"the device hung up during setup: {classify(exc)}") from exc
            raise
        finally:
            try:
                await client.disconnect()
            except Exception as exc:  # the device is usually gone already; nothing to do
                log.debug("peripheral %s: disconnect: %s", self._name, exc)
        if self._overflow:
            raise TransientDriverError(
                f"{self._name}: more than {FRAME_QUEUE_BOUND} frames arrived faster than "
                "they were committed; some were lost and no stored record was deleted"
            )
        return self.result

    async def _drain(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item.kind is _Kind.MEASUREMENT:
                await self._measurement(item)

    async def _pump(self, client: GattClient) -> None:
        while True:
            item = await self._queue.get()
            if item.kind is _Kind.GONE:
                return
            if item.kind is _Kind.MEASUREMENT:
                await self._measurement(item)
            else:
                await self._racp_response(client, item)

    async def _measurement(self, item: _Item) -> None:
        self.result.frames += 1
        decoder = self._channel.decoder
        try:
            decoded = decoder.decode(item.data)
        except FrameError as exc:
            self._refuse(refusal_reason(decoder.name, exc))
            return
        stored = self.result.racp == "reporting" or "from_storage" in decoded.notes
        # A streaming oximeter: one reading per request, once the value has settled.
        if (
            self._continuous
            and not stored
            and (not self._wanted.is_set() or _UNSETTLED & set(decoded.notes))
        ):
            return
        stamp = decoded.taken_at
        if stamp is not None:
            stamp = hub_time(stamp, self._options.device_clock, self._zone)
        when = taken_at(
            stamp, item.received_at, stored=stored, stale_after_s=self._options.stale_after_s
        )
        if isinstance(when, Undatable):
            self._refuse(f"{decoder.name}: {when.reason}")
            return
        key = None if stamp is None else (stamp, decoded.measurement)
        if key is not None and key in self._filed:
            self.result.repeated += 1
            log.debug("peripheral %s: a reading sent again, filed before", self._name)
            return
        try:
            await self._sink.reading(
                self._name, DriverReading(decoded.measurement, when, decoded.notes)
            )
        except Exception as exc:
            raise SinkFailed(exc) from exc
        self.result.committed += 1
        if key is not None:
            self._filed.add(key)
        if self._continuous and not stored:
            self._wanted.clear()

    def _refuse(self, reason: str) -> None:
        self.result.refused += 1
        self._sink.refused(self._name, reason)

    async def _read_battery(self, client: GattClient) -> None:
        level = uuid16(BATTERY_LEVEL)
        if client.services.get_characteristic(level) is None:
            return
        try:
            percent = battery_percent(await client.read_gatt_char(level))
        except FrameError as exc:
            log.warning("peripheral %s: battery level ignored: %s", self._name, exc)
            return
        except Exception as exc:  # the readings matter more than the battery
            log.info("peripheral %s: battery level not read: %s", self._name, classify(exc))
            return
        self._sink.battery(self._name, percent)

    # -- Record Access Control Point ---------------------------------------------------

    async def _subscribe_racp(self, client: GattClient) -> bool:
        if not self._use_racp or client.services.get_characteristic(uuid16(RACP)) is None:
            return False
        try:
            await client.start_notify(uuid16(RACP), self._receiver(_Kind.RACP))
        except Exception as exc:
            self._racp_failed(f"indications not enabled: {classify(exc)}")
            return False
        return True

    async def _racp_request(self, client: GattClient, request: bytes, state: str) -> None:
        try:
            await client.write_gatt_char(uuid16(RACP), request, response=True)
        except Exception as exc:
            self._racp_failed(f"request 0x{request[0]:02x} not written: {classify(exc)}")
            return
        self.result.racp = state

    async def _racp_response(self, client: GattClient, item: _Item) -> None:
        try:
            response = racp.parse(item.data)
        except FrameError as exc:
            self._racp_failed(str(exc))
            return
        if isinstance(response, racp.Count):
            return
        state = self.result.racp
        if state == "reporting" and response.request == racp.REPORT_STORED:
            if response.no_records:
                self.result.racp = "no records"
            elif not response.succeeded:
                self._racp_failed(f"the device answered {response.describe()}")
            elif self._overflow:
                self._racp_failed("frames were lost; stored records kept on the device")
            else:
                await self._racp_request(client, racp.DELETE_ALL, "deleting")
        elif state == "deleting" and response.request == racp.DELETE_STORED:
            if response.succeeded:
                self.result.racp = "deleted"
                log.info("peripheral %s: stored records transferred and deleted", self._name)
            else:
                self._racp_failed(f"the device answered {response.describe()}")
        else:
            log.warning(
                "peripheral %s: RACP %s ignored (while %s)", self._name, response.describe(), state
            )

    def _racp_failed(self, why: str) -> None:
        self.result.racp = f"failed: {why}"
        log.warning("peripheral %s: RACP: %s; stored records kept on the device", self._name, why)
