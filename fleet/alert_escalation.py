"""Escalating alerts that nobody acknowledged in time.

Each alert carries its route, stamped by the unit from the practice's pushed settings
(``alerts.routes`` in the device configuration): the staff groups told (``notify``), how
long it may stay unacknowledged (``escalate_after_s``) and who is told next
(``escalate_to``). An alert open for ``k × escalate_after_s`` since the practice received it
is escalated to level ``k`` (at most :data:`MAX_LEVEL`), once: the level is claimed in the
store first (:meth:`~healthhub.fleet.store.PracticeStore.mark_escalated`), so two bridges
or a bridge and a restart never tell anyone twice, and then the notifier is called.

The bridge runs :func:`escalate_due` every :data:`CHECK_EVERY_S`. Telling people is the
practice's own system (a pager, a Teams or e-mail gateway): ``--notify-command`` runs a
program with one JSON document on stdin naming the alert, the site, the unit, the reason,
the level and the groups; never a patient, an answer or a value. Every escalation is also
logged at ERROR, so it is seen in the journal even without a command.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from healthhub.fleet.store import PracticeStore
from healthhub.protocol.clock import now_utc, parse_utc
from healthhub.protocol.errors import HealthHubError, MalformedMessage

log = logging.getLogger(__name__)

#: The highest level: after that the alert stays red on every screen until acknowledged.
MAX_LEVEL = 3
#: When an alert carries no route (an older unit): the devices' own default (agent/config.py).
DEFAULT_AFTER_S = 300.0
CHECK_EVERY_S = 15.0
NOTIFY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Escalation:
    alert_id: str
    site: str
    device: str
    reason: str
    level: int
    groups: tuple[str, ...]
    open_minutes: float

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "groups": list(self.groups)}


Notifier = Callable[[Escalation], None]


def _groups(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(g for g in value if isinstance(g, str) and g)


def _route(alert: dict[str, Any]) -> tuple[float, tuple[str, ...]]:
    """How long the alert may wait and who is told next; the defaults for whatever an
    older or faulty unit sent that is not a route (never an error: escalation must go on)."""
    route = alert.get("route")
    route = route if isinstance(route, dict) else {}
    after = route.get("escalate_after_s", DEFAULT_AFTER_S)
    if isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 < after < 1e9:
        after = DEFAULT_AFTER_S
    groups = _groups(route.get("escalate_to")) or _groups(route.get("notify")) or ("reception",)
    return float(after), groups


def level_due(alert: dict[str, Any], now: datetime) -> int:
    """The escalation level an open alert has reached at ``now`` (0: not yet)."""
    if alert.get("acknowledged_at"):
        return 0
    try:
        received = parse_utc(alert["received_at"], field="received_at")
    except MalformedMessage:
        return 0
    after, _ = _route(alert)
    return min(MAX_LEVEL, int((now - received).total_seconds() // after))


def escalate_due(
    store: PracticeStore, notify: Notifier | None = None, now: str | None = None
) -> list[Escalation]:
    """Escalate every open alert whose time has come; returns the escalations made here."""
    moment_text = now or now_utc()
    moment = parse_utc(moment_text, field="now")
    made = []
    for alert in store.alerts(open_only=True, below_level=MAX_LEVEL):
        level = level_due(alert, moment)
        if level <= alert["escalations"]:
            continue
        if not store.mark_escalated(alert["id"], level, moment_text):
            continue  # acknowledged meanwhile, or another writer took this level
        received = parse_utc(alert["received_at"], field="received_at")
        escalation = Escalation(
            alert["id"],
            alert["site"],
            alert["device"],
            alert["reason"],
            level,
            _route(alert)[1],
            round((moment - received).total_seconds() / 60, 1),
        )
        log.error(
            "ESCALATED alert %s (%s at %s/%s) to level %d: unacknowledged for %.0f min; telling %s",
            escalation.alert_id,
            escalation.reason,
            escalation.site,
            escalation.device,
            level,
            escalation.open_minutes,
            ", ".join(escalation.groups),
        )
        if notify is not None:
            notify(escalation)
        made.append(escalation)
    return made


class CommandNotifier:
    """Runs the practice's own program for each escalation, the escalation as JSON on stdin.

    A program that fails or hangs is logged and does not stop the bridge; the escalation is
    already recorded and shown on every list of alerts.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        if not argv:
            raise ValueError("the notify command is empty")
        self.argv = list(argv)
        self.failures = 0

    def __call__(self, escalation: Escalation) -> None:
        try:
            done = subprocess.run(  # the practice's configured program
                self.argv,
                input=json.dumps(escalation.to_json()).encode(),
                capture_output=True,
                timeout=NOTIFY_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failures += 1
            log.error("notify command for alert %s failed: %s", escalation.alert_id, exc)
            return
        if done.returncode != 0:
            self.failures += 1
            log.error("notify command for alert %s exited %d", escalation.alert_id, done.returncode)


class EscalationLoop:
    """Escalates due alerts every :data:`CHECK_EVERY_S` in a thread of its own, with its
    own connection to the store (the bridge runs it beside its filing thread)."""

    def __init__(
        self,
        store_target: str | Path,
        notify: Notifier | None = None,
        every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.store_target = store_target
        self.notify = notify
        self.every_s = every_s
        self.escalated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escalation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every_s + NOTIFY_TIMEOUT_S)

    def _run(self) -> None:
        store: PracticeStore | None = None
        while not self._stop.wait(self.every_s):
            try:
                if store is None:
                    store = PracticeStore(self.store_target)
                self.escalated += len(escalate_due(store, self.notify))
            except HealthHubError as exc:  # a busy or lost database: try again next time
                log.error("alert escalation check failed: %s", exc)
            except Exception:  # a defect must not end escalation for the whole practice
                log.exception("alert escalation check failed")
        if store is not None:
            store.close()
