"""What the console sees of the fleet: each device's retained status and latest telemetry,
what it says it holds, and the signed configuration and content retained for it (so a unit
still on an older version than was pushed shows as behind)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from healthhub.fleet.health_summary import health_summary
from healthhub.fleet.practice_client import connect, practice_client
from healthhub.fleet.registry import DeviceRegistry
from healthhub.protocol import config_layers, content, topics
from healthhub.protocol.errors import HealthHubError, ProtocolError
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.keys import read_key
from healthhub.protocol.status import parse_status, parse_telemetry

RETAINED_SETTLE_S = 0.5


class ConsoleError(HealthHubError):
    """The console could not reach the broker."""


@dataclass
class FleetView:
    """Status and telemetry per device, as they arrive."""

    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    telemetry: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, dict[str, Any]] = field(default_factory=dict)  # config/reported
    content: dict[str, dict[str, Any]] = field(default_factory=dict)  # content/reported
    #: The retained desired documents (config layers, content manifests), by topic.
    desired: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        with self.lock:
            return dict(self.status), dict(self.telemetry)

    def reported(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        with self.lock:
            return dict(self.config), dict(self.content)

    def retained(self) -> dict[str, bytes]:
        with self.lock:
            return dict(self.desired)


#: The desired documents the console reads back: every scope's config and content.
DESIRED = (
    topics.FLEET_CONFIG,
    topics.FLEET_CONTENT,
    f"{topics.ROOT}/sites/+/config",
    f"{topics.ROOT}/sites/+/content",
    f"{topics.ROOT}/devices/+/config",
    f"{topics.ROOT}/devices/+/content",
)


class FleetWatcher:
    """A console connection that keeps a :class:`FleetView` up to date."""

    def __init__(self, layout: FleetLayout) -> None:
        self.view = FleetView()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.refused: str | None = None
        self._client = practice_client(
            layout, "console", client_id=f"{topics.CONSOLE_IDENTITY}-{os.getpid()}"
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._layout = layout

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: Any,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
            return
        client.subscribe(
            [
                (topics.ALL_STATUS, 1),
                (topics.ALL_TELEMETRY, 0),
                (f"{topics.ROOT}/devices/+/config/reported", 1),
                (f"{topics.ROOT}/devices/+/content/reported", 1),
                *((topic, 1) for topic in DESIRED),
            ]
        )
        self.connected.set()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.rsplit("/", 1)[-1] in ("config", "content"):
            with self.view.lock:  # checked against the fleet's key when shown
                self.view.desired[message.topic] = bytes(message.payload)
            return
        try:
            device, rest = topics.parse_device_topic(message.topic)
            if rest == "status":
                status = parse_status(bytes(message.payload))
                with self.view.lock:
                    self.view.status[device] = status
            elif rest == "telemetry":
                telemetry = parse_telemetry(bytes(message.payload))
                with self.view.lock:
                    self.view.telemetry[device] = telemetry
            elif rest in ("config/reported", "content/reported"):
                report = json.loads(message.payload)
                if isinstance(report, dict):
                    with self.view.lock:
                        kept = self.view.config if rest == "config/reported" else self.view.content
                        kept[device] = report
        except (ProtocolError, ValueError):
            return  # the bridge counts bad messages; the console just doesn't show them

    def start(self, timeout_s: float = 10.0) -> None:
        try:
            connect(self._client, self._layout)
        except OSError as exc:
            raise ConsoleError(f"cannot reach the broker: {exc}") from None
        self._client.loop_start()
        if not self.connected.wait(timeout_s):
            self.stop()
            why = self.refused or "no answer"
            raise ConsoleError(f"cannot reach the fleet's broker ({why}); is it running?")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def fleet_status(
    layout: FleetLayout,
    *,
    wait_s: float,
    reports: dict[str, dict[str, Any]] | None = None,
    alerts: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One row per enrolled device (see :func:`rows`).

    Waits up to ``wait_s`` for telemetry (it is not retained); ``reports`` (the
    bridge store's last known telemetry) fills in devices that did not report.
    """
    registry = DeviceRegistry(layout)
    watcher = FleetWatcher(layout)
    watcher.start()
    # Retained statuses follow the SUBACK; give them a moment even with --wait 0.
    watcher.subscribed.wait(5.0)
    time.sleep(RETAINED_SETTLE_S)
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            _, telemetry = watcher.view.snapshot()
            if set(registry.devices()) <= set(telemetry):
                break
            time.sleep(0.1)
    finally:
        watcher.stop()
    return rows(
        registry.devices(), watcher.view, reports, alerts, verify_key=read_key(layout.signing_pub)
    )


def rows(
    devices: dict[str, str],
    view: FleetView,
    reports: dict[str, dict[str, Any]] | None = None,
    alerts: dict[str, int] | None = None,
    *,
    verify_key: bytes | None = None,
) -> list[dict[str, Any]]:
    """Per device: online/offline, last telemetry, outbox, the config and content versions
    it holds per layer (with ``verify_key``, each against the version retained for it:
    ``desired``, ``behind``), its last command, its Pi health, and (with the bridge's store)
    alerts filed."""
    status, telemetry = view.snapshot()
    config, content_held = view.reported()
    retained = view.retained()
    found: list[dict[str, Any]] = []
    for device, site in sorted(devices.items()):
        latest = telemetry.get(device)
        source = "live"
        if latest is None and reports and (reports.get(device) or {}).get("telemetry"):
            latest, source = reports[device]["telemetry"], "bridge store"
        outbox = (latest or {}).get("outbox", {})
        found.append(
            {
                "device": device,
                "site": site,
                "state": (status.get(device) or {}).get("state", "never seen"),
                "status_at": (status.get(device) or {}).get("at"),
                "telemetry_at": (latest or {}).get("at"),
                "telemetry_source": source if latest else None,
                "outbox_depth": outbox.get("depth"),
                "outbox_oldest_age_s": outbox.get("oldest_age_s"),
                "last_seq": outbox.get("last_seq"),
                "confirmed_seq": outbox.get("confirmed_seq"),
                "link": (latest or {}).get("link", {}).get("state"),
                "uptime_s": (latest or {}).get("uptime_s"),
                "version": (latest or {}).get("version"),  # the release the agent runs
                "config": _held(config.get(device)),
                "content": _held(content_held.get(device)),
                "last_command": ((latest or {}).get("commands") or {})
                .get("journal", {})
                .get("last"),
                "alerts": None if alerts is None else alerts.get(device, 0),
                "health": health_summary(latest),
            }
        )
        if verify_key is not None:
            found[-1]["behind"] = _compare(found[-1], retained, verify_key)
    return found


def _desired(payload: bytes | None, what: str, scope: config_layers.Scope, key: bytes) -> int:
    """The version of a retained document, if it is a good one for ``scope`` (0 if none)."""
    if not payload:
        return 0
    try:
        if what == "config":
            return config_layers.decode(payload, key, expected=scope).version
        return content.decode(payload, key, expected=scope).version
    except ProtocolError:
        return 0  # a document the device would refuse too: nothing it should be holding


def _compare(row: dict[str, Any], retained: dict[str, bytes], key: bytes) -> list[str]:
    """Mark each layer with the version retained for it and whether the unit is behind it
    (holds an older one, or none); the list of ``config/site``-style layers it is behind."""
    behind = []
    for what in ("config", "content"):
        for level, scope in config_layers.scopes_of(row["device"], row["site"]).items():
            topic = scope.topic() if what == "config" else scope.content_topic()
            desired = _desired(retained.get(topic), what, scope, key)
            if not desired and level not in row[what]:
                continue
            entry = row[what].setdefault(level, {"held": None, "state": None, "reason": None})
            held = entry.get("held") if isinstance(entry.get("held"), int) else 0
            entry["desired"] = desired or None
            # a unit that refused or rolled back that version is not behind: it said no (!)
            refused = entry.get("state") in ("rejected", "rolled_back")
            entry["behind"] = desired > held and not refused
            if entry["behind"]:
                behind.append(f"{what}/{level}")
    return behind


def _held(report: dict[str, Any] | None) -> dict[str, Any]:
    """level -> {held, state, reason} from a ``config/reported`` or ``content/reported``."""
    layers = (report or {}).get("layers")
    if not isinstance(layers, dict):
        return {}
    return {
        level: {k: entry.get(k) for k in ("held", "state", "reason")}
        for level, entry in layers.items()
        if isinstance(entry, dict)
    }
