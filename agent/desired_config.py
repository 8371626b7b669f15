"""Remote configuration layers on a device: check, merge, keep (issue 6, first step).

Effective configuration = the local file < fleet layer < site layer < device layer. Mappings
merge key by key; anything else (a list of peripherals, a list of languages, a number) is
replaced whole by the higher layer, so a layer always says exactly what it wants.

:meth:`LayerStore.offer` is the whole decision for one received layer: signature, scope,
version (newer than the one held; the same version again, as a broker re-sends retained
layers on every reconnect, changes nothing), settings that may be set remotely, then the
merged result validated exactly as the local file is. Only then is the layer kept, written
atomically with the others (write-to-temp, fsync, rename), so a power cut leaves the old set
or the new one. Anything wrong keeps what the device has and says why, for
``devices/{device}/config/reported``. Applying the result live, the health check and
roll-back come in the next step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthhub.agent.config import ConfigError, DeviceConfig, validate_config
from healthhub.protocol import canonical
from healthhub.protocol.clock import now_utc
from healthhub.protocol.config_layers import (
    LEVELS,
    ConfigLayer,
    LayerRejected,
    decode,
    layered,
    scopes_of,
)
from healthhub.protocol.files import write_atomic

log = logging.getLogger(__name__)

LAYERS_FILE = "config-layers.json"


@dataclass(frozen=True)
class LayerReport:
    """What a device says of one layer: the version it holds and what became of the last
    one offered (``applied``, ``rejected``, later ``rolled_back``)."""

    level: str
    state: str
    version: int | None  # the version offered
    held: int | None  # the version the device applies now (None: no layer at this level)
    reason: str = ""
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "version": self.version,
            "held": self.held,
            "reason": self.reason,
            "at": self.at,
        }


class LayerStore:
    """The layers a device holds, persisted in its state folder, and their effective config."""

    def __init__(
        self,
        config_path: Path,
        local: Mapping[str, Any],
        state_dir: Path,
        verify_key: bytes,
        *,
        device: str,
        site: str,
    ) -> None:
        self.config_path = config_path
        self.local = dict(local)
        self.path = state_dir / LAYERS_FILE
        self.state_dir = state_dir
        self._verify_key = verify_key
        self.scopes = scopes_of(device, site)
        self.payloads: dict[str, bytes] = {}
        self.layers: dict[str, ConfigLayer] = {}
        self.reports: dict[str, LayerReport] = {}
        self._load()

    # -- what the device holds ---------------------------------------------------------

    def _load(self) -> None:
        """The layers kept at the last apply. Each is checked again (a file edited or
        damaged on the card is not trusted); one that fails is dropped and reported."""
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.error("%s cannot be read (%s): running on the local file only", self.path, exc)
            return
        if not isinstance(kept, dict):
            log.error("%s is not a mapping: running on the local file only", self.path)
            return
        for level in LEVELS:
            text = kept.get(level)
            if not isinstance(text, str):
                continue
            payload = text.encode("utf-8")
            try:
                self.layers[level] = decode(payload, self._verify_key, expected=self.scopes[level])
                self.payloads[level] = payload
            except LayerRejected as exc:
                log.error("kept %s layer dropped: %s", level, exc)
                self.reports[level] = self._report(level, "rejected", None, f"kept copy: {exc}")
        try:
            self.effective()
        except ConfigError as exc:  # the local file changed under the layers
            log.error("kept layers no longer validate (%s): running on the local file only", exc)
            self.layers.clear()
            self.payloads.clear()

    def effective_raw(self, layers: Mapping[str, ConfigLayer] | None = None) -> dict[str, Any]:
        return layered(self.local, self.layers if layers is None else layers)

    def effective(self, layers: Mapping[str, ConfigLayer] | None = None) -> DeviceConfig:
        """The effective configuration; :class:`ConfigError` if it does not validate."""
        return validate_config(
            self.effective_raw(layers), self.config_path, state_dir=self.state_dir
        )

    def level_of(self, topic: str) -> str | None:
        """Which level's layer arrives on ``topic`` (None: not a config topic of ours)."""
        return next((lv for lv, scope in self.scopes.items() if scope.topic() == topic), None)

    def held(self, level: str) -> int | None:
        layer = self.layers.get(level)
        return None if layer is None else layer.version

    def _report(self, level: str, state: str, version: int | None, reason: str) -> LayerReport:
        return LayerReport(level, state, version, self.held(level), reason, now_utc())

    # -- a layer arrives ---------------------------------------------------------------

    def offer(self, level: str, payload: bytes) -> tuple[DeviceConfig | None, LayerReport | None]:
        """Decide on a layer received at ``level``'s topic.

        Returns the new effective configuration (None when nothing changed) and the report
        to publish (None for a re-sent layer the device already holds).
        """
        if not payload:  # a cleared retained topic: the layer is withdrawn
            return self._withdraw(level)
        try:
            layer = decode(payload, self._verify_key, expected=self.scopes[level])
        except LayerRejected as exc:
            return None, self._reject(level, None, str(exc))
        held = self.held(level)
        if held is not None and layer.version == held and payload == self.payloads[level]:
            return None, None  # the broker re-sent what we hold
        if held is not None and layer.version <= held:
            return None, self._reject(
                level, layer.version, f"version {layer.version} is not newer than {held}"
            )
        candidate = {**self.layers, level: layer}
        try:
            config = self.effective(candidate)
        except ConfigError as exc:
            reason = str(exc).removeprefix(f"{self.config_path}: ")
            return None, self._reject(level, layer.version, f"invalid result: {reason}")
        self._keep({**self.payloads, level: payload})
        self.layers = candidate
        self.payloads[level] = payload
        report = self._report(level, "applied", layer.version, "")
        self.reports[level] = report
        log.info("config %s layer version %d applied", level, layer.version)
        return config, report

    def _withdraw(self, level: str) -> tuple[DeviceConfig | None, LayerReport | None]:
        if level not in self.layers:
            return None, None
        candidate = {k: v for k, v in self.layers.items() if k != level}
        try:
            config = self.effective(candidate)
        except ConfigError as exc:
            return None, self._reject(level, None, f"withdrawing it would leave: {exc}")
        self._keep({k: v for k, v in self.payloads.items() if k != level})
        self.layers = candidate
        self.payloads.pop(level, None)
        report = self._report(level, "applied", None, "layer withdrawn")
        self.reports[level] = report
        return config, report

    def _reject(self, level: str, version: int | None, reason: str) -> LayerReport:
        log.warning("config %s layer rejected: %s", level, reason)
        report = self._report(level, "rejected", version, reason)
        self.reports[level] = report
        return report

    def _keep(self, payloads: Mapping[str, bytes]) -> None:
        kept = {level: payload.decode("utf-8") for level, payload in payloads.items()}
        write_atomic(self.path, canonical.dumps(kept), mode=0o600)

    def reported(self) -> dict[str, Any]:
        """The retained ``config/reported`` document: every level, held version, last outcome."""
        return {level: self._outcome(level).to_json() for level in LEVELS}

    def _outcome(self, level: str) -> LayerReport:
        if level in self.reports:
            return self.reports[level]
        held = self.held(level)  # kept from before a restart, or nothing at this level
        return LayerReport(level, "none" if held is None else "applied", held, held)
