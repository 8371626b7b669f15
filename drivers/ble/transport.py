"""``backend: ble``: a Bluetooth LE health device, found, connected and reconnected over bleak.

The lifecycle, for as long as the agent runs:

1. WAITING: scan (``scan_timeout_s``) for the configured ``address``, or without one for the
   first device advertising the profile's service; nothing found, scan again.
2. MEASURING: connect (pairing first with ``pair: true``) and run one
   :class:`~healthhub.drivers.ble.session.Session`: readings go to the sink as they come.
3. The device hangs up, as health devices do once they have sent: back to 1. A session in
   which the device sent something resets the backoff; a failed connect or an empty
   session waits :class:`~healthhub.drivers.ble.backoff.ReconnectBackoff` first.

Failures go through :func:`~healthhub.drivers.ble.classify.classify`: a device that is away
is handled here, quietly; anything else is raised for the supervisor (transient: it
restarts the peripheral; permanent: it shows the error until someone acts). After
:data:`MAX_FAILED_ATTEMPTS` failed attempts in a row the transport raises a transient error
too, so a device that never connects becomes visible. A sink that fails to commit stops the
peripheral with the sink's own error.

Constructing a :class:`BlePeripheral` parses its options and touches no hardware.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, tzinfo

from healthhub.drivers.base import Peripheral, PeripheralSpec, PeripheralState, ReadingSink
from healthhub.drivers.ble.api import Advert, BleakApi, BleApi
from healthhub.drivers.ble.backoff import ReconnectBackoff
from healthhub.drivers.ble.classify import DeviceAway, classify
from healthhub.drivers.ble.options import BleOptions
from healthhub.drivers.ble.profiles import BY_FAMILY
from healthhub.drivers.ble.session import RecentlyFiled, Session, SessionResult, SinkFailed
from healthhub.drivers.errors import DriverConfigError, DriverError, TransientDriverError
from healthhub.drivers.options import parse_options
from healthhub.drivers.registry import register

log = logging.getLogger(__name__)

#: Pause between scans that found nothing (the scan itself lasts ``scan_timeout_s``).
RESCAN_PAUSE_S = 1.0
#: Consecutive failed attempts (connect errors, sessions with nothing sent) before the
#: supervisor is told.
MAX_FAILED_ATTEMPTS = 8

Sleep = Callable[[float], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BlePeripheral(Peripheral):
    def __init__(
        self,
        spec: PeripheralSpec,
        *,
        api: BleApi | None = None,
        sleep: Sleep = asyncio.sleep,
        backoff: ReconnectBackoff | None = None,
        now: Callable[[], datetime] = _utc_now,
        zone: tzinfo | None = None,
    ) -> None:
        super().__init__(spec)
        self.options = parse_options(spec, BleOptions)
        profile = BY_FAMILY.get(spec.driver)
        if profile is None:
            raise DriverConfigError(f"peripheral {spec.name!r}: no Bluetooth profile for driver")
        mode = self.options.mode or profile.default_mode
        if mode not in profile.channels:
            raise DriverConfigError(
                f"peripheral {spec.name!r} ({spec.driver}, backend ble): mode: applies to "
                "pulse_oximeter only (spot or continuous)"
            )
        self.profile = profile
        self.mode = mode
        self._api: BleApi = api if api is not None else BleakApi()
        self._sleep = sleep
        self._backoff = backoff if backoff is not None else ReconnectBackoff()
        self._now = now
        self._zone = zone
        self._wanted = asyncio.Event()
        self._filed = RecentlyFiled()

    @property
    def continuous(self) -> bool:
        return self.mode == "continuous"

    def request_measurement(self) -> None:
        """A continuous oximeter files its next settled value; other devices measure when
        the patient presses their own button, so this does nothing for them."""
        if self.continuous:
            self._wanted.set()

    def _matches(self, advert: Advert) -> bool:
        if self.options.address is not None:
            return advert.address.upper() == self.options.address
        return self.profile.service_uuid in advert.service_uuids

    async def run(self, sink: ReadingSink) -> None:
        self._backoff.reset()
        if self.options.address is None:
            log.warning(
                "peripheral %s: no address configured: it takes readings from any %s device "
                "in range (`healthhub-agent scan` lists them)",
                self.name,
                self.profile.title,
            )
        while True:
            sink.state(self.name, PeripheralState.WAITING, "looking for the device")
            try:
                advert = await self._api.find(
                    self._matches,
                    service_uuids=None if self.options.address else [self.profile.service_uuid],
                    adapter=self.options.adapter,
                    seconds=self.options.scan_timeout_s,
                )
            except Exception as exc:
                await self._setback(sink, classify(exc), exc)
                continue
            if advert is None:
                await self._sleep(RESCAN_PAUSE_S)
                continue
            result = await self._connect(sink, advert)
            if result is not None and result.good:
                self._backoff.reset()
            elif result is not None:
                await self._setback(sink, DeviceAway("the device hung up without sending"), None)

    async def _connect(self, sink: ReadingSink, advert: Advert) -> SessionResult | None:
        """One session; None if it failed in a way the backoff has already waited for."""
        session = Session(
            name=self.name,
            channel=self.profile.channels[self.mode],
            use_racp=self.profile.racp_mode == self.mode,
            continuous=self.continuous,
            options=self.options,
            sink=sink,
            now=self._now,
            zone=self._zone,
            wanted=self._wanted,
            filed=self._filed,
        )
        try:
            client = self._api.client(
                advert,
                adapter=self.options.adapter,
                timeout=self.options.connect_timeout_s,
                pair=self.options.pair,
                on_disconnect=session.hang_up,
            )
            result = await session.run(client)
        except SinkFailed as failed:
            raise failed.error from None
        except Exception as exc:
            await self._setback(sink, classify(exc), exc)
            return None
        log.info(
            "peripheral %s: session ended: %d frames, %d filed, %d refused, RACP %s",
            self.name,
            result.frames,
            result.committed,
            result.refused,
            result.racp,
        )
        return result

    async def _setback(
        self, sink: ReadingSink, error: DriverError, cause: BaseException | None
    ) -> None:
        """Wait before the next attempt, or raise ``error`` if the supervisor must see it."""
        if not isinstance(error, DeviceAway):
            raise error from cause
        delay = self._backoff.next()
        if self._backoff.failures >= MAX_FAILED_ATTEMPTS:
            self._backoff.reset()
            raise TransientDriverError(
                f"{self.name}: {MAX_FAILED_ATTEMPTS} attempts in a row failed; last: {error}"
            ) from cause
        log.info("peripheral %s: %s; retrying in %.1f s", self.name, error, delay)
        sink.state(self.name, PeripheralState.WAITING, f"retrying in {delay:.1f} s: {error}")
        await self._sleep(delay)


def _create(spec: PeripheralSpec) -> Peripheral:
    return BlePeripheral(spec)


for _family in BY_FAMILY:
    register(_family, "ble")(_create)
