"""Supervising peripherals: start each, watch it, restart it with backoff, report its state.

A peripheral that fails never stops the others or the agent. Transient errors
(device switched off, out of range, a frame lost) restart it under
:func:`~healthhub.agent.retry_policies.peripheral_restart`; a permanent error
(bad configuration) leaves it in ``error`` with the reason until the
configuration changes; an unexpected exception is a defect, logged with its
traceback and treated as transient.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from healthhub.agent.outbox import OutboxError
from healthhub.agent.retry_policies import peripheral_restart
from healthhub.drivers import registry
from healthhub.drivers.base import (
    KINDS_BY_DRIVER,
    DriverReading,
    Peripheral,
    PeripheralSpec,
    PeripheralState,
    Signal,
)
from healthhub.drivers.errors import DriverError, PermanentDriverError, TransientDriverError

log = logging.getLogger(__name__)

TakeReading = Callable[[str, DriverReading], Awaitable[None]]
#: Told of every change of state and every refused value: (peripheral, event, data).
Notify = Callable[[str, str, dict[str, Any]], None]


@dataclass
class PeripheralStatus:
    driver: str
    backend: str
    state: PeripheralState = PeripheralState.STARTING
    detail: str = ""
    since: float = 0.0
    restarts: int = 0
    readings: int = 0
    signals: int = 0
    battery: int | None = None  # percent, where the device reports it
    failed: bool = False  # stopped for good (a permanent error): someone must act

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "backend": self.backend,
            "state": self.state.value,
            "detail": self.detail,
            "restarts": self.restarts,
            "readings": self.readings,
            "signals": self.signals,
            "battery": self.battery,
        }


class _Reconfigure(Exception):
    """Raised inside the task group to stop every peripheral for a new configuration."""


class PeripheralSupervisor:
    def __init__(
        self,
        specs: list[PeripheralSpec],
        take: TakeReading,
        *,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 60.0,
        notify: Notify | None = None,
    ) -> None:
        self.specs = specs
        self._take = take
        self._notify = notify
        self.instances: dict[str, Peripheral] = {}
        self.refusals = 0
        self._restart_initial_s = restart_initial_s
        self._restart_max_s = restart_max_s
        self.status = {s.name: PeripheralStatus(s.driver, s.backend) for s in specs}
        self._link = "connecting"
        self._changed = asyncio.Event()
        self._next: list[PeripheralSpec] | None = None  # declarations waiting to be adopted

    # ReadingSink, as the drivers see us
    async def reading(self, peripheral: str, reading: DriverReading) -> None:
        await self._take(peripheral, reading)
        self.status[peripheral].readings += 1

    def state(self, peripheral: str, state: PeripheralState, detail: str = "") -> None:
        status = self.status[peripheral]
        if status.state != state or status.detail != detail:
            status.state, status.detail, status.since = state, detail, time.time()
            if self._notify is not None:
                self._notify(peripheral, "peripheral", {"name": peripheral, **status.to_json()})

    def battery(self, peripheral: str, percent: int) -> None:
        status = self.status[peripheral]
        percent = max(0, min(100, int(percent)))
        if status.battery != percent:
            status.battery = percent
            if self._notify is not None:
                self._notify(peripheral, "peripheral", {"name": peripheral, **status.to_json()})

    def signal(self, peripheral: str, signal: Signal, text: str = "") -> None:
        # ``text`` (a scanned code) may identify a patient: it goes to the agent, never to a log.
        self.status[peripheral].signals += 1
        log.debug("peripheral %s: %s", peripheral, signal.value)
        if self._notify is not None:
            self._notify(
                peripheral, "signal", {"name": peripheral, "signal": signal.value, "text": text}
            )

    def show_link(self, state: str) -> None:
        """Tell every peripheral the broker link's state (a status LED shows it)."""
        self._link = state
        for name, peripheral in self.instances.items():
            self._show_link(name, peripheral)

    def _show_link(self, name: str, peripheral: Peripheral) -> None:
        try:
            peripheral.show_link(self._link)
        except Exception:  # a defect in one driver must not stop the agent's link handling
            log.exception("peripheral %s: show_link failed", name)

    def identify(self, seconds: float) -> list[str]:
        """Ask every peripheral to show the unit (a status LED flashes); those that did."""
        shown = []
        for name, peripheral in self.instances.items():
            try:
                if peripheral.identify(seconds):
                    shown.append(name)
            except Exception:  # a defect in one driver must not fail the command
                log.exception("peripheral %s: identify failed", name)
        return shown

    def refused(self, peripheral: str, reason: str) -> None:
        # The reason names the component and limits, never a patient: safe to log.
        self.refusals += 1
        log.warning("peripheral %s: value refused: %s", peripheral, reason)
        if self._notify is not None:
            self._notify(peripheral, "refused", {"name": peripheral, "reason": reason})

    def kinds_of(self, name: str) -> tuple[str, ...]:
        spec = next(s for s in self.specs if s.name == name)
        return KINDS_BY_DRIVER.get(spec.driver, ())

    def request(self, kinds: set[str]) -> list[str]:
        """Ask every peripheral that measures one of ``kinds`` to measure; their names."""
        names = [s.name for s in self.specs if kinds & set(self.kinds_of(s.name))]
        for name in names:
            peripheral = self.instances.get(name)
            if peripheral is not None:
                peripheral.request_measurement()
        return names

    async def run(self) -> None:
        """Supervise every peripheral until cancelled; :meth:`reconfigure` restarts them
        with new declarations without stopping the agent."""
        while True:
            self._changed.clear()  # before adopting: a change from now on ends the next round
            if self._next is not None:
                self._adopt(self._next)
                self._next = None
            try:
                async with asyncio.TaskGroup() as group:
                    for spec in self.specs:
                        group.create_task(self._supervise(spec), name=f"peripheral:{spec.name}")
                    group.create_task(self._until_changed(), name="peripherals:reconfigure")
            except* _Reconfigure:
                log.info("peripherals restarted with a new configuration")

    async def _until_changed(self) -> None:
        await self._changed.wait()
        raise _Reconfigure

    def reconfigure(self, specs: list[PeripheralSpec]) -> None:
        """New peripheral declarations (a config layer): every running peripheral is stopped,
        then the new set starts (in :meth:`run`, once the old ones have ended)."""
        if specs == (self.specs if self._next is None else self._next):
            return
        self._next = list(specs)
        self._changed.set()

    def _adopt(self, specs: list[PeripheralSpec]) -> None:
        """The new set, once no old peripheral runs. Counters carry over for a peripheral
        whose declaration is unchanged."""
        old = {spec.name: (spec, self.status[spec.name]) for spec in self.specs}
        self.specs = list(specs)
        self.instances = {}
        self.status = {}
        for spec in specs:
            kept = old.get(spec.name)
            if kept is not None and kept[0] == spec:
                self.status[spec.name] = kept[1]
            else:
                self.status[spec.name] = PeripheralStatus(spec.driver, spec.backend)

    async def _supervise(self, spec: PeripheralSpec) -> None:
        status = self.status[spec.name]
        try:
            peripheral = registry.create(spec)
        except DriverError as exc:
            status.failed = True
            self.state(spec.name, PeripheralState.ERROR, str(exc))
            log.error("peripheral %s not started: %s", spec.name, exc)
            return
        self.instances[spec.name] = peripheral
        self._show_link(spec.name, peripheral)
        policy = peripheral_restart(spec.name, self._restart_initial_s, self._restart_max_s)
        try:
            async for attempt in policy:
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        status.restarts += 1
                    self.state(spec.name, PeripheralState.STARTING)
                    await self._run_once(peripheral.run, spec.name)
        except PermanentDriverError as exc:
            status.failed = True
            self.state(spec.name, PeripheralState.ERROR, str(exc))
            log.error("peripheral %s stopped: %s", spec.name, exc)

    async def _run_once(self, run: Callable[[Any], Awaitable[None]], name: str) -> None:
        try:
            await run(self)
        except DriverError as exc:
            self.state(name, PeripheralState.ERROR, str(exc))
            raise
        except OutboxError as exc:  # full or failing storage: the reading was not taken
            self.state(name, PeripheralState.ERROR, str(exc))
            raise TransientDriverError(str(exc)) from exc
        except Exception as exc:  # a defect in a driver must not stop the others
            log.exception("peripheral %s crashed", name)
            self.state(name, PeripheralState.ERROR, f"internal error: {type(exc).__name__}")
            raise TransientDriverError(f"{name} crashed: {exc}") from exc

    def settled(self, names: set[str]) -> tuple[bool, dict[str, str]]:
        """Whether the current set is adopted and every one of ``names`` has left
        ``starting``; and those of them that failed for good, with the reason."""
        adopted = self._next is None and names <= set(self.status)
        statuses = {name: self.status[name] for name in names if name in self.status}
        failed = {name: s.detail for name, s in statuses.items() if s.failed}
        started = all(s.state != PeripheralState.STARTING or s.failed for s in statuses.values())
        return adopted and started, failed

    def to_json(self) -> dict[str, Any]:
        return {name: status.to_json() for name, status in self.status.items()}
