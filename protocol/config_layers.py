"""Desired-configuration layers: what the fleet console signs and a device checks.

A layer is a signed document (:mod:`healthhub.protocol.signed`)::

    {"kind": "config", "scope": {"site": "practice-a"}, "version": 7,
     "issued_at": "2026-11-23T10:00:00Z", "settings": {"ui": {...}, "telemetry": {...}},
     "signature": {"alg": "Ed25519", "value": "..."}}

``scope`` is ``{"fleet": true}``, ``{"site": S}`` or ``{"device": D}``; it must match the
retained topic the layer came on (a device layer replayed on another device's topic is
refused). ``version`` grows by one or more with every push of that scope. ``settings`` hold
only what may be changed remotely (DESIGN.md: identity, broker address and trust anchors live
only in the local file): a layer that names anything else is refused whole, never applied in
part. Whether the merged result is a valid configuration is the agent's check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from healthhub.protocol import canonical, signed, topics
from healthhub.protocol.clock import parse_utc
from healthhub.protocol.errors import MalformedMessage, ProtocolError

KIND: Final = "config"
#: The top-level settings a layer may carry. Everything else in device.yaml (device,
#: broker, trust, state_dir, outbox, local_api, commands, content, printer, health_sources)
#: is local-only.
REMOTE_SETTINGS: Final = frozenset({"ui", "telemetry", "peripherals", "alerts"})
LOCAL_ONLY: Final = frozenset(
    {
        "device",
        "broker",
        "trust",
        "state_dir",
        "outbox",
        "local_api",
        "commands",
        "content",
        "printer",
        "health_sources",
    }
)
#: A layer's encoded size limit: a retained message every device holds in memory.
MAX_LAYER_BYTES: Final = 256 * 1024
LEVELS: Final = ("fleet", "site", "device")  # lowest precedence first


class LayerRejected(ProtocolError):
    """A layer that must not be applied; ``str()`` is the reason reported to the fleet."""


@dataclass(frozen=True)
class Scope:
    level: str  # "fleet", "site" or "device"
    target: str | None = None  # the site or device id; None for the fleet

    def to_json(self) -> dict[str, Any]:
        return {"fleet": True} if self.level == "fleet" else {self.level: self.target}

    def topic(self) -> str:
        """The retained topic of this scope's configuration layer."""
        if self.level == "fleet":
            return topics.FLEET_CONFIG
        if self.level == "site":
            assert self.target is not None
            return topics.site_config(self.target)
        assert self.target is not None
        return topics.device_config(self.target)

    def content_topic(self) -> str:
        """The retained topic of this scope's content manifest."""
        if self.level == "fleet":
            return topics.FLEET_CONTENT
        if self.level == "site":
            assert self.target is not None
            return topics.site_content(self.target)
        assert self.target is not None
        return topics.device_content(self.target)

    def __str__(self) -> str:
        return "fleet" if self.target is None else f"{self.level} {self.target}"


@dataclass(frozen=True)
class ConfigLayer:
    scope: Scope
    version: int
    issued_at: str
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "scope": self.scope.to_json(),
            "version": self.version,
            "issued_at": self.issued_at,
            "settings": self.settings,
        }


def parse_scope(value: object) -> Scope:
    if not isinstance(value, dict) or len(value) != 1:
        raise LayerRejected("scope must be one of {fleet: true}, {site: S}, {device: D}")
    [(level, target)] = value.items()
    if level == "fleet" and target is True:
        return Scope("fleet")
    if level in ("site", "device") and isinstance(target, str):
        try:
            return Scope(level, topics.validate_id(target, what=f"{level} id"))
        except ProtocolError as exc:
            raise LayerRejected(str(exc)) from None
    raise LayerRejected("scope must be one of {fleet: true}, {site: S}, {device: D}")


def check_settings(settings: object) -> dict[str, Any]:
    """``settings`` if every key may be set remotely; else :class:`LayerRejected`."""
    if not isinstance(settings, dict):
        raise LayerRejected("settings must be a mapping")
    local = sorted(set(settings) & LOCAL_ONLY)
    if local:
        raise LayerRejected(
            f"settings name local-only {', '.join(local)}: identity, broker and trust "
            "anchors are changed only in the device's own file"
        )
    unknown = sorted(set(settings) - REMOTE_SETTINGS)
    if unknown:
        raise LayerRejected(
            f"unknown setting(s) {', '.join(unknown)}; a layer may set "
            f"{', '.join(sorted(REMOTE_SETTINGS))}"
        )
    return settings


def make(scope: Scope, version: int, issued_at: str, settings: dict[str, Any]) -> ConfigLayer:
    """A layer to sign, checked as a device will check it."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise LayerRejected("version must be a whole number from 1")
    return ConfigLayer(scope, version, issued_at, check_settings(settings))


def encode(layer: ConfigLayer, signing_key_seed: bytes) -> bytes:
    """The retained payload: the signed layer as canonical JSON."""
    payload = canonical.dumps(signed.sign(layer.to_json(), signing_key_seed))
    if len(payload) > MAX_LAYER_BYTES:
        raise LayerRejected(f"layer is {len(payload)} bytes; the limit is {MAX_LAYER_BYTES}")
    return payload


def decode(payload: bytes, verify_key: bytes, *, expected: Scope) -> ConfigLayer:
    """Check a layer as received on ``expected``'s topic: size, JSON, signature, kind,
    scope, version, time stamp and settings, in that order. Any failure is
    :class:`LayerRejected` (a forged signature included) with a reason fit to report."""
    unsigned = signed.open_signed(
        payload, verify_key, kind=KIND, what="layer", max_bytes=MAX_LAYER_BYTES, error=LayerRejected
    )
    scope = parse_scope(unsigned.get("scope"))
    if scope != expected:
        raise LayerRejected(f"layer is for {scope}, but came on the topic of {expected}")
    issued_at = unsigned.get("issued_at")
    try:
        parse_utc(issued_at, field="issued_at")
    except MalformedMessage as exc:
        raise LayerRejected(str(exc)) from None
    assert isinstance(issued_at, str)
    version = unsigned.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise LayerRejected("version must be a whole number from 1")
    return make(scope, version, issued_at, check_settings(unsigned.get("settings")))


def scopes_of(device: str, site: str) -> dict[str, Scope]:
    """The three scopes whose layers reach ``device`` at ``site``, by level."""
    return {"fleet": Scope("fleet"), "site": Scope("site", site), "device": Scope("device", device)}


def layered(local: Mapping[str, Any], layers: Mapping[str, ConfigLayer]) -> dict[str, Any]:
    """The effective settings: ``layers`` (by level) over the local file, lowest first."""
    merged = dict(local)
    for level in LEVELS:
        if level in layers:
            merged = merge(merged, layers[level].settings)
    return merged


def merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``: mappings key by key, everything else replaced."""
    merged = dict(base)
    for key, value in layer.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            merged[key] = merge(below, value)
        else:
            merged[key] = value
    return merged


def sources(local: Mapping[str, Any], layers: Mapping[str, ConfigLayer]) -> dict[str, str]:
    """Where each effective value comes from: dotted key -> ``local`` or the layer's scope."""
    found: dict[str, str] = {}

    def walk(tree: Mapping[str, Any], origin: str, prefix: str) -> None:
        for key, value in tree.items():
            path = f"{prefix}{key}"
            for known in [k for k in found if k == path or k.startswith(f"{path}.")]:
                if not isinstance(value, Mapping):
                    del found[known]  # replaced whole by this layer
            if isinstance(value, Mapping) and value:
                walk(value, origin, f"{path}.")
            else:
                found[path] = origin

    walk(local, "local", "")
    for level in LEVELS:
        if level in layers:
            walk(layers[level].settings, str(layers[level].scope), "")
    return found
