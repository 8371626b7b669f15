"""``healthhub-fleet config push``: sign a configuration layer, publish it retained, and
(with ``--wait``) follow each device's ``config/reported`` until it applied or rejected it.
``config show``: a device's effective configuration as the fleet intends it (its enrolment
file under the retained layers) with where each value comes from, beside what it reports.

The version is the one retained on the layer's topic plus one (a new scope starts at 1), so
the console holds no counter of its own and two consoles cannot reuse a version silently:
a device rejects anything not newer than what it holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from healthhub.fleet.console import ConsoleError
from healthhub.fleet.console_session import ConsoleSession
from healthhub.fleet.registry import DeviceRegistry
from healthhub.protocol import config_layers, topics
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import (
    LEVELS,
    ConfigLayer,
    LayerRejected,
    Scope,
    sources,
)
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key


@dataclass
class PushOutcome:
    scope: Scope
    version: int
    targets: list[str]
    pushed_at: str = ""
    applied: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # device -> reason

    @property
    def pending(self) -> list[str]:
        return [d for d in self.targets if d not in self.applied and d not in self.rejected]

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": str(self.scope),
            "version": self.version,
            "applied": self.applied,
            "rejected": self.rejected,
            "pending": self.pending,
        }


def targets(layout: FleetLayout, scope: Scope) -> list[str]:
    """The enrolled devices a layer of ``scope`` reaches."""
    devices = DeviceRegistry(layout).devices()
    if scope.level == "fleet":
        return sorted(devices)
    if scope.level == "site":
        return sorted(d for d, site in devices.items() if site == scope.target)
    return [scope.target] if scope.target in devices else []


def reports(session: ConsoleSession, suffix: str = "/config/reported") -> dict[str, dict[str, Any]]:
    """Each device's last report (``config/reported`` or ``content/reported``), by device."""
    return reports_in(session.snapshot(), suffix)


def reports_in(retained: dict[str, bytes], suffix: str) -> dict[str, dict[str, Any]]:
    """The reports among retained messages whose topics end in ``suffix``, by device."""
    found: dict[str, dict[str, Any]] = {}
    for topic, payload in retained.items():
        if not topic.endswith(suffix):
            continue
        try:
            report = json.loads(payload)
        except ValueError:
            continue
        if isinstance(report, dict) and isinstance(report.get("device"), str):
            found[report["device"]] = report
    return found


def retained_version(payload: bytes | None, version_of: Callable[[bytes], int]) -> int:
    """The version of the document retained on a scope's topic (0: none, or not a good one:
    a new good document replaces it). The next push takes this plus one."""
    if not payload:
        return 0
    try:
        return version_of(payload)
    except ProtocolError:
        return 0


def push(
    layout: FleetLayout,
    scope: Scope,
    settings: dict[str, Any],
    *,
    wait_s: float | None = None,
    progress: Any = None,
) -> PushOutcome:
    """Sign and publish ``settings`` as ``scope``'s next layer; with ``wait_s``, wait that
    long for every device in scope to report it applied or rejected."""
    seed = read_key(layout.signing_key)
    verify_key = read_key(layout.signing_pub)
    session = ConsoleSession(layout, "push")
    try:
        session.subscribe([(scope.topic(), 1), (f"{topics.ROOT}/devices/+/config/reported", 1)])
        held = retained_version(
            session.snapshot().get(scope.topic()),
            lambda payload: config_layers.decode(payload, verify_key, expected=scope).version,
        )
        reached = targets(layout, scope)  # before the layer is made: it reads every enrolment
        layer = config_layers.make(scope, held + 1, now_utc(), settings)
        payload = config_layers.encode(layer, seed)
        session.publish(scope.topic(), payload, retain=True)
        outcome = PushOutcome(scope, layer.version, reached, layer.issued_at)
        follow(session, outcome, "/config/reported", wait_s, progress)
        return outcome
    finally:
        session.close()


def follow(
    session: ConsoleSession,
    outcome: PushOutcome,
    suffix: str,
    wait_s: float | None,
    progress: Any = None,
) -> None:
    """Tally the devices' retained reports (``suffix``) until every device in scope applied
    or rejected ``outcome``'s version, or ``wait_s`` passed (None: do not wait)."""
    deadline = time.monotonic() + (wait_s or 0)
    seen = -1
    while wait_s is not None and outcome.pending and time.monotonic() < deadline:
        if session.received != seen:  # parse the reports again only when one came
            seen = session.received
            tally(outcome, reports(session, suffix))
            if progress is not None:
                progress(outcome)
        time.sleep(0.1)


def tally(outcome: PushOutcome, reports: dict[str, dict[str, Any]]) -> None:
    level = outcome.scope.level
    for device in outcome.pending:
        layers = reports.get(device, {}).get("layers")
        entry = layers.get(level) if isinstance(layers, dict) else None
        if not isinstance(entry, dict):
            continue
        if entry.get("held") == outcome.version:
            outcome.applied.append(device)
        elif (
            entry.get("state") in ("rejected", "rolled_back")
            and entry.get("version") in (outcome.version, None)
            and str(entry.get("at", "")) >= outcome.pushed_at  # not an older push's verdict
        ):
            reason = str(entry.get("reason", ""))
            rolled_back = entry.get("state") == "rolled_back"
            outcome.rejected[device] = f"rolled back: {reason}" if rolled_back else reason


@dataclass
class Shown:
    effective: dict[str, Any]
    sources: dict[str, str]  # dotted key -> "local" or the layer's scope
    layers: dict[str, int]  # level -> version retained on the broker
    problems: dict[str, str]  # level -> why the retained layer would be rejected
    reported: dict[str, Any] | None  # what the device last said (config/reported)


def show(layout: FleetLayout, device: str) -> Shown:
    """What ``device`` should run: its enrolment file under the layers retained now."""
    site = DeviceRegistry(layout).devices().get(device)
    if site is None:
        raise ConsoleError(f"device {device} is not enrolled in this fleet")
    local = yaml.safe_load((layout.device_dir(device) / "device.yaml").read_text("utf-8"))
    scopes = config_layers.scopes_of(device, site)
    verify_key = read_key(layout.signing_pub)
    session = ConsoleSession(layout, "show")
    try:
        session.subscribe(
            [(scope.topic(), 1) for scope in scopes.values()]
            + [(topics.config_reported(device), 1)]
        )
        retained = session.snapshot()
        reported = reports(session).get(device)
    finally:
        session.close()
    layers: dict[str, ConfigLayer] = {}
    problems: dict[str, str] = {}
    for level in LEVELS:
        payload = retained.get(scopes[level].topic())
        if not payload:
            continue
        try:
            layers[level] = config_layers.decode(payload, verify_key, expected=scopes[level])
        except LayerRejected as exc:
            problems[level] = str(exc)
    return Shown(
        config_layers.layered(local, layers),
        sources(local, layers),
        {level: layer.version for level, layer in layers.items()},
        problems,
        reported,
    )
