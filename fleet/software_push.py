"""``healthhub-fleet update``: a release's wheel set to units, and (``--wait``) what became of it.

The wheel folder (``pip wheel -w DIR .`` on a machine of the units' Python and architecture)
is checked whole first: only wheels, plain wheel names, exactly one ``healthhub`` wheel whose
version names the release, within the budget. Then every wheel is published as content blobs
(:func:`~healthhub.fleet.content_push.publish_blobs`: retained, by sha256, so the wheels two
releases share cost nothing new) and a signed manifest per scope, retained on its software
topic. Units fetch, verify, install beside the running release, check and report on
``software/reported``; ``--wait`` follows those reports until every unit in scope is healthy
on the new version, or rolled back, or refused it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthhub.fleet.config_push import reports_in, targets
from healthhub.fleet.console_session import ConsoleSession
from healthhub.fleet.content_push import publish_blobs
from healthhub.fleet.registry import DeviceRegistry
from healthhub.protocol import software, topics
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import Scope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.software import SoftwareRejected

_REPORTED = "/software/reported"


@dataclass
class UpdateOutcome:
    version: str
    manifests: dict[str, str]  # device -> sha256 of the manifest that reaches it
    healthy: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # device -> state: detail
    states: dict[str, str] = field(default_factory=dict)  # device -> last state seen

    @property
    def targets(self) -> list[str]:
        return sorted(self.manifests)

    @property
    def pending(self) -> list[str]:
        return [d for d in self.targets if d not in self.healthy and d not in self.failed]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "healthy": self.healthy,
            "failed": self.failed,
            "pending": {device: self.states.get(device, "no report") for device in self.pending},
        }


def push(
    layout: FleetLayout,
    scopes: list[Scope],
    wheels: Path,
    *,
    deadline_s: int = software.DEFAULT_DEADLINE_S,
    allow_downgrade: bool = False,
    wait_s: float | None = None,
    progress: Callable[[UpdateOutcome], None] | None = None,
) -> UpdateOutcome:
    """Publish ``wheels`` and a signed manifest for each of ``scopes``; with ``wait_s``,
    follow the units' reports that long."""
    version, entries = software.scan_wheels(wheels)
    enrolled = DeviceRegistry(layout).devices()
    for scope in scopes:
        if scope.level == "device" and scope.target not in enrolled:
            raise SoftwareRejected(f"device {scope.target} is not enrolled in this fleet")
    issued_at = now_utc()
    files = [file for file, _ in entries]
    manifests = [
        software.make(
            scope,
            version,
            issued_at,
            files,
            deadline_s=deadline_s,
            allow_downgrade=allow_downgrade,
        )
        for scope in scopes
    ]
    seed = read_key(layout.signing_key)
    session = ConsoleSession(layout, "update")
    try:
        session.subscribe([(topics.ALL_SOFTWARE_REPORTED, 1)], settle=False)
        publish_blobs(session, [path for _, path in entries])
        reached: dict[str, str] = {}
        for manifest in manifests:
            payload = software.encode(manifest, seed)
            session.publish(software.software_topic(manifest.scope), payload, retain=True)
            for device in targets(layout, manifest.scope):
                reached[device] = software.digest(payload)
        outcome = UpdateOutcome(version, reached)
        follow(session, outcome, wait_s, progress)
        return outcome
    finally:
        session.close()


def follow(
    session: ConsoleSession,
    outcome: UpdateOutcome,
    wait_s: float | None,
    progress: Callable[[UpdateOutcome], None] | None = None,
) -> None:
    """Tally the units' reports until each is done with its manifest or ``wait_s`` passed."""
    deadline = time.monotonic() + (wait_s or 0)
    seen = -1
    while wait_s is not None and outcome.pending and time.monotonic() < deadline:
        if session.received != seen:
            seen = session.received
            if tally(outcome, reports_in(session.snapshot(), _REPORTED)) and progress is not None:
                progress(outcome)
        time.sleep(0.2)


def tally(outcome: UpdateOutcome, reports: dict[str, dict[str, Any]]) -> bool:
    """Move each pending unit on from its report; True if anything changed."""
    changed = False
    for device in outcome.pending:
        report = reports.get(device)
        if report is None or report.get("manifest") != outcome.manifests[device]:
            continue  # an older push's report, or it follows another scope's manifest
        state = str(report.get("state"))
        if outcome.states.get(device) != state:
            outcome.states[device] = state
            changed = True
        if state == software.HEALTHY and report.get("version_running") == outcome.version:
            outcome.healthy.append(device)
        elif state in (software.ROLLED_BACK, software.REJECTED):
            outcome.failed[device] = f"{state}: {report.get('detail', '')}"
    return changed
