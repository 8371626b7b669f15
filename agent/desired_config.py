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
``devices/{device}/config/reported``.

A layer that passes is first a *trial*: the file holds the new set and the set it replaces,
the agent applies it live and checks its health (:meth:`LayerStore.commit` when the new
peripherals came up, :meth:`LayerStore.roll_back` when one failed for good). A power cut
during the trial leaves the trial in the file, and the agent checks it again at start. A
rolled-back version is remembered, so the broker re-sending it on the next reconnect does
not start the same failing trial again; a newer version is tried.
"""

from __future__ import annotations

import hashlib
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
    one offered (``applying`` while its health is checked, then ``applied`` or
    ``rolled_back``; ``rejected`` when it was never tried)."""

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


@dataclass(frozen=True)
class Trial:
    """A layer applied but not yet found healthy, and the payloads it replaced."""

    level: str
    version: int
    previous: dict[str, bytes]  # the payloads it replaced, as kept in the file
    previous_layers: dict[str, ConfigLayer]  # the same, verified once


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
        self.trial: Trial | None = None
        # level -> (version, sha256 of the payload, reason) of a layer rolled back
        self.refused: dict[str, tuple[int, str, str]] = {}
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
        held = kept.get("held", kept)  # the first format held the levels at the top
        self.layers, self.payloads = self._verified(held if isinstance(held, dict) else {})
        self._load_refused(kept.get("refused"))
        trial = kept.get("trial")
        if isinstance(trial, dict) and trial.get("level") in self.layers:
            previous = trial.get("previous")
            layers, before = self._verified(
                previous if isinstance(previous, dict) else {}, quiet=True
            )
            level = str(trial["level"])
            self.trial = Trial(level, self.layers[level].version, before, layers)
            log.warning("config %s layer was being tried when the agent stopped", level)
        try:
            self.effective()
        except ConfigError as exc:  # the local file changed under the layers
            log.error("kept layers no longer validate (%s): running on the local file only", exc)
            self.layers.clear()
            self.payloads.clear()
            self.trial = None

    def _verified(
        self, kept: Mapping[str, Any], *, quiet: bool = False
    ) -> tuple[dict[str, ConfigLayer], dict[str, bytes]]:
        layers: dict[str, ConfigLayer] = {}
        payloads: dict[str, bytes] = {}
        for level in LEVELS:
            text = kept.get(level)
            if not isinstance(text, str):
                continue
            payload = text.encode("utf-8")
            try:
                layers[level] = decode(payload, self._verify_key, expected=self.scopes[level])
                payloads[level] = payload
            except LayerRejected as exc:
                if not quiet:
                    log.error("kept %s layer dropped: %s", level, exc)
                    self.reports[level] = self._report(level, "rejected", None, f"kept copy: {exc}")
        return layers, payloads

    def _load_refused(self, refused: object) -> None:
        if not isinstance(refused, dict):
            return
        for level, entry in refused.items():
            if level in LEVELS and isinstance(entry, dict):
                version, digest, reason = (
                    entry.get("version"),
                    entry.get("sha256"),
                    entry.get("reason"),
                )
                if isinstance(version, int) and isinstance(digest, str):
                    self.refused[level] = (version, digest, str(reason or ""))
                    self.reports[level] = self._report(level, "rolled_back", version, str(reason))

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
        """The version in force at ``level`` (during a trial, the one it may roll back to)."""
        if self.trial is not None and self.trial.level == level:
            previous = self.trial.previous_layers.get(level)
            return None if previous is None else previous.version
        layer = self.layers.get(level)
        return None if layer is None else layer.version

    def _report(self, level: str, state: str, version: int | None, reason: str) -> LayerReport:
        return LayerReport(level, state, version, self.held(level), reason, now_utc())

    # -- a layer arrives ---------------------------------------------------------------

    def offer(self, level: str, payload: bytes) -> tuple[DeviceConfig | None, LayerReport | None]:
        """Decide on a layer received at ``level``'s topic.

        Returns the new effective configuration (None when nothing changed) and the report
        to publish (None for a re-sent layer the device already holds or rolled back). A
        new configuration starts a trial: the caller applies it, checks its health, then
        calls :meth:`commit` or :meth:`roll_back` before offering anything else.
        """
        if self.trial is not None:
            raise RuntimeError("a configuration is on trial: commit or roll it back first")
        if not payload:  # a cleared retained topic: the layer is withdrawn
            return self._withdraw(level)
        try:
            layer = decode(payload, self._verify_key, expected=self.scopes[level])
        except LayerRejected as exc:
            return None, self._reject(level, None, str(exc))
        if self._already_decided(level, layer, payload):
            return None, None
        held = self.held(level)
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
        self._start_trial(level, layer.version, candidate, {**self.payloads, level: payload})
        report = self._report(level, "applying", layer.version, "checking its health")
        self.reports[level] = report
        return config, report

    def _already_decided(self, level: str, layer: ConfigLayer, payload: bytes) -> bool:
        """The broker re-sent what we hold, or what we rolled back (not tried twice)."""
        if layer.version == self.held(level) and payload == self.payloads.get(level):
            return True
        refused = self.refused.get(level)
        return refused is not None and refused[:2] == (layer.version, _digest(payload))

    def _withdraw(self, level: str) -> tuple[DeviceConfig | None, LayerReport | None]:
        if level not in self.layers:
            return None, None
        candidate = {k: v for k, v in self.layers.items() if k != level}
        try:
            config = self.effective(candidate)
        except ConfigError as exc:
            return None, self._reject(level, None, f"withdrawing it would leave: {exc}")
        payloads = {k: v for k, v in self.payloads.items() if k != level}
        self._start_trial(level, 0, candidate, payloads)
        report = self._report(level, "applying", None, "layer withdrawn; checking its health")
        self.reports[level] = report
        return config, report

    def _start_trial(
        self,
        level: str,
        version: int,
        layers: dict[str, ConfigLayer],
        payloads: dict[str, bytes],
    ) -> None:
        trial = Trial(level, version, dict(self.payloads), dict(self.layers))
        self._keep(payloads, trial)
        self.trial = trial
        self.layers = layers
        self.payloads = payloads
        self.refused.pop(level, None)

    def commit(self) -> LayerReport:
        """The trial's configuration is healthy: it is now the one held."""
        trial = self._trial()
        self._keep(self.payloads, None)
        self.trial = None
        withdrawn = trial.level not in self.layers
        report = self._report(
            trial.level,
            "applied",
            None if withdrawn else trial.version,
            "layer withdrawn" if withdrawn else "",
        )
        self.reports[trial.level] = report
        log.info("config %s layer version %s applied", trial.level, report.version)
        return report

    def roll_back(self, reason: str) -> tuple[DeviceConfig, LayerReport]:
        """The trial failed its health check: back to the layers it replaced."""
        trial = self._trial()
        digest = _digest(self.payloads.get(trial.level, b""))
        layers, payloads = dict(trial.previous_layers), dict(trial.previous)
        self.refused[trial.level] = (trial.version, digest, reason)
        self._keep(payloads, None)
        self.trial = None
        self.layers, self.payloads = layers, payloads
        log.warning(
            "config %s layer version %d rolled back: %s", trial.level, trial.version, reason
        )
        report = self._report(trial.level, "rolled_back", trial.version, reason)
        self.reports[trial.level] = report
        return self.effective(), report

    def _trial(self) -> Trial:
        if self.trial is None:
            raise RuntimeError("no configuration is on trial")
        return self.trial

    def _reject(self, level: str, version: int | None, reason: str) -> LayerReport:
        log.warning("config %s layer rejected: %s", level, reason)
        report = self._report(level, "rejected", version, reason)
        self.reports[level] = report
        return report

    def _keep(self, payloads: Mapping[str, bytes], trial: Trial | None) -> None:
        kept: dict[str, Any] = {
            "held": {level: payload.decode("utf-8") for level, payload in payloads.items()},
            "trial": None
            if trial is None
            else {
                "level": trial.level,
                "version": trial.version,
                "previous": {k: v.decode("utf-8") for k, v in trial.previous.items()},
            },
            "refused": {
                level: {"version": version, "sha256": digest, "reason": reason}
                for level, (version, digest, reason) in self.refused.items()
            },
        }
        write_atomic(self.path, canonical.dumps(kept), mode=0o600)

    def reported(self) -> dict[str, Any]:
        """The retained ``config/reported`` document: every level, held version, last outcome."""
        return {level: self._outcome(level).to_json() for level in LEVELS}

    def _outcome(self, level: str) -> LayerReport:
        if level in self.reports:
            return self.reports[level]
        held = self.held(level)  # kept from before a restart, or nothing at this level
        return LayerReport(level, "none" if held is None else "applied", held, held)


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()
