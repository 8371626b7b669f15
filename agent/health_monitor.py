"""The agent's round of Pi health: read, check, alert IT when a check gets worse.

Runs once per telemetry round (``telemetry.interval_s``), whether or not the broker is
there: an alert goes through the outbox like any other and reaches the practice when the
link is back. Readings are taken in a worker thread (sysfs on a failing card, or a
``vcgencmd`` that hangs until its timeout, must not stall the loop that serves patients).
Nothing here may stop the agent: a defect is logged and shown in telemetry, and the unit
goes on serving patients.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from healthhub.agent.config import HealthThresholds
from healthhub.agent.health_checks import (
    STATE_FILE,
    Change,
    HealthWatch,
    certificate_expiry,
    findings,
    load_states,
    save_states,
)
from healthhub.agent.outbox import NewMessage, OutboxError
from healthhub.agent.pi_health import HealthSources, boot_id, read_health
from healthhub.protocol.clock import now_utc
from healthhub.protocol.device_health import REASON, check_health_alert
from healthhub.protocol.envelope import Envelope

log = logging.getLogger(__name__)

Commit = Callable[[NewMessage], Awaitable[Envelope]]


class HealthMonitor:
    def __init__(
        self,
        *,
        sources: Callable[[], HealthSources],
        state_dir: Path,
        limits: Callable[[], HealthThresholds],
        commit: Commit,
        route: Callable[[str], dict[str, Any]],
        certificate: Callable[[], str | None] = lambda: None,
    ) -> None:
        # Sources, limits and route are read each round, so a pushed layer takes effect at once.
        self._sources = sources
        self._state_dir = state_dir
        self._limits = limits
        self._commit = commit
        self._route = route
        self._certificate = certificate  # the client certificate's not_after, as UTC text
        self._boot = boot_id(sources())
        self.watch = HealthWatch(load_states(state_dir / STATE_FILE, self._boot, _boottime_s()))
        self.alerts_raised = 0
        self.latest: dict[str, Any] = {"checks": self.watch.to_json()}

    async def tick(self) -> dict[str, Any]:
        """One round; returns (and keeps in :attr:`latest`) what telemetry shows."""
        try:
            health = await asyncio.to_thread(read_health, self._state_dir, self._sources())
            limits = self._limits()
            at = now_utc()
            found = findings(health, limits)
            expiry = certificate_expiry(self._certificate(), limits, now=datetime.now(UTC))
            if expiry is not None:
                found.append(expiry)
            changes = self.watch.update(
                found,
                now=time.monotonic(),
                at=at,
                clear_after_s=limits.clear_after_s,
            )
            for change in changes:
                await self._report(change)
            if changes:
                self._save()
            self.latest = {
                "at": at,
                **health.to_json(),
                "checks": self.watch.to_json(),
                "alerts_raised": self.alerts_raised,
            }
        except Exception as exc:  # a defect here must not stop a unit that serves patients
            log.exception("Pi health round failed")
            self.latest = {
                "error": f"{type(exc).__name__}: {exc}"[:200],
                "checks": self.watch.to_json(),
            }
        return self.latest

    async def _report(self, change: Change) -> None:
        finding = change.finding
        if not change.worse:
            if change.after == "ok":
                log.info("device health %s cleared: %s", change.check, finding.summary)
            else:
                log.info("device health %s eased to %s", change.check, change.after)
            return
        body = check_health_alert(
            {
                "reason": REASON,
                "check": finding.check,
                "level": change.after,
                "value": finding.value,
                "threshold": finding.threshold,
                "unit": finding.unit,
                "summary": finding.summary,
                "route": self._route(REASON),
            }
        )
        try:
            envelope = await self._commit(
                NewMessage("alerts", REASON, body, taken_at=datetime.now(UTC))
            )
        except OutboxError as exc:
            self.watch.undo(change)
            log.error("device health %s alert not stored (next round tries again): %s",
                      change.check, exc)  # fmt: skip
            return
        self.watch.alerted(change, envelope.id)
        self.alerts_raised += 1
        log.warning(
            "alert %s raised (device_health %s %s: %s)",
            envelope.id,
            change.check,
            change.after,
            finding.summary,
        )

    def _save(self) -> None:
        try:
            save_states(self._state_dir / STATE_FILE, self._boot, _boottime_s(), self.watch)
        except OSError as exc:
            log.warning("health check states not kept: %s", exc)


def _boottime_s() -> float:
    """Seconds since this boot (CLOCK_BOOTTIME counts suspend too, and restarts at boot)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)
