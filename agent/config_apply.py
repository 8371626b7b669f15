"""Applying remote configuration layers one at a time: offer, apply live, check, keep or undo.

DESIGN.md: verify signature → newer version → merge → validate → write atomically → apply
live → health check → report ``applied``, or keep the old configuration and report
``rejected`` / ``rolled_back`` with the reason. The first four steps and the write are
:meth:`LayerStore.offer`; this module runs the rest, one layer at a time, so a second layer
never lands in the middle of the first one's health check.

Layers arrive from the MQTT callback; only the latest payload per level waits here (three
at most: a bounded queue by construction), because a newer retained layer makes an older
one that was never looked at moot.

The health check: every peripheral the new configuration added or changed has started
(left ``starting``) within :data:`HEALTH_CHECK_S`, and none has failed for good (a
permanent driver error: a port that is not a serial device, a GPIO factory that cannot
load). A device that is simply switched off or out of range is not a failure: that is how
patients' cuffs and scales spend most of their day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from healthhub.agent.config import DeviceConfig
from healthhub.agent.desired_config import LayerStore
from healthhub.agent.peripherals import PeripheralSupervisor

log = logging.getLogger(__name__)

#: How long new peripherals get to start before the configuration is judged.
HEALTH_CHECK_S = 10.0
_POLL_S = 0.05

Apply = Callable[[DeviceConfig], None]
Report = Callable[[], None]


class ConfigApplier:
    """The single worker that takes remote layers through apply and health check."""

    def __init__(
        self,
        layers: LayerStore,
        peripherals: PeripheralSupervisor,
        *,
        current: Callable[[], DeviceConfig],
        apply: Apply,
        report: Report,
        health_check_s: float = HEALTH_CHECK_S,
    ) -> None:
        self.layers = layers
        self._peripherals = peripherals
        self._current = current
        self._apply = apply
        self._report = report
        self._health_check_s = health_check_s
        self._waiting: dict[str, bytes] = {}  # level -> latest payload not yet offered
        self._wake = asyncio.Event()
        self.max_waiting = len(layers.scopes)

    def received(self, level: str, payload: bytes) -> None:
        """A layer arrived on ``level``'s topic (called from the MQTT callback)."""
        self._waiting[level] = payload
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: a trial left by a power cut first, then each layer in turn."""
        if self.layers.trial is not None:
            await self._judge(self._current(), None)
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                level = next(iter(self._waiting))
                payload = self._waiting.pop(level)
                await self._take(level, payload)

    async def _take(self, level: str, payload: bytes) -> None:
        before = self._current()
        config, report = self.layers.offer(level, payload)
        if config is not None:
            self._apply(config)
            if report is not None:
                self._report()  # "applying": the console sees it is being checked
            await self._judge(config, before)
        elif report is not None:
            self._report()

    async def _judge(self, config: DeviceConfig, before: DeviceConfig | None) -> None:
        """Health-check the configuration on trial; commit it or roll back to the old one."""
        problem = await self.health(config, before)
        if problem is None:
            self.layers.commit()
        else:
            previous, _ = self.layers.roll_back(problem)
            self._apply(previous)
        self._report()

    async def health(self, config: DeviceConfig, before: DeviceConfig | None) -> str | None:
        """None when healthy, else why not. ``before`` None (a trial found at start):
        every peripheral is checked."""
        old = {} if before is None else {p.name: p.spec() for p in before.peripherals}
        changed = {p.name for p in config.peripherals if old.get(p.name) != p.spec()}
        if not changed:
            return None
        deadline = asyncio.get_running_loop().time() + self._health_check_s
        while True:
            settled, failed = self._peripherals.settled(changed)
            if failed:
                name, detail = sorted(failed.items())[0]
                return f"peripheral {name} failed to start: {detail}"
            if settled or asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(_POLL_S)
