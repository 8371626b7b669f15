"""device.yaml: the device's local configuration, validated before anything starts.

Identity (device, site), broker address and trust anchors live only here and
are never changed remotely. Relative paths are resolved against the folder of
the file, so an enrolment bundle works where it is unpacked. Any problem is a
:class:`ConfigError` that names the file and the field; the CLI exits 2 with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from healthhub.drivers.base import PeripheralSpec
from healthhub.protocol import topics
from healthhub.protocol.errors import HealthHubError, ProtocolError


class ConfigError(HealthHubError):
    """device.yaml is missing or invalid; ``str()`` names the path and the field."""

    def __init__(self, path: Path, field: str | None, message: str) -> None:
        self.path = path
        self.field = field
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checked_id(value: str, what: str) -> str:
    try:
        return topics.validate_id(value, what=what)
    except ProtocolError as exc:
        raise ValueError(str(exc)) from None


class DeviceIdentity(_Strict):
    id: str
    site: str
    role: Literal["kiosk", "wall"] = "wall"

    @field_validator("id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        return _checked_id(value, "device id")

    @field_validator("site")
    @classmethod
    def _site_id(cls, value: str) -> str:
        return _checked_id(value, "site id")


class BrokerSettings(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=8883, ge=1, le=65535)
    ca_file: Path
    cert_file: Path
    key_file: Path
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    # Reconnect backoff: exponential with jitter from `reconnect_initial_s` up to `reconnect_max_s`.
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)


class TrustAnchors(_Strict):
    signing_public_key_file: Path
    ingest_public_key_file: Path


class OutboxSettings(_Strict):
    # The bound of the durable queue. Clinical readings are never dropped to
    # make room: when it is full, taking a reading fails and the UI sends the
    # patient to reception.
    max_messages: int = Field(default=100_000, ge=10, le=10_000_000)
    # Messages the practice has not confirmed this long after they were sent
    # are sent again, in order; the wait doubles while nothing is confirmed.
    resend_after_s: float = Field(default=30.0, gt=0, le=86_400)
    # How far ahead of the last confirmation the agent may send.
    window: int = Field(default=5_000, ge=1, le=100_000)


class TelemetrySettings(_Strict):
    interval_s: float = Field(default=30.0, gt=0, le=86_400)


class PeripheralEntry(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    driver: str = Field(min_length=1)
    backend: str = Field(min_length=1)

    def spec(self) -> PeripheralSpec:
        options: dict[str, Any] = dict(self.model_extra or {})
        return PeripheralSpec(self.name, self.driver, self.backend, options)


class DeviceConfig(_Strict):
    device: DeviceIdentity
    broker: BrokerSettings
    trust: TrustAnchors
    state_dir: Path = Path("state")
    outbox: OutboxSettings = OutboxSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    peripherals: list[PeripheralEntry] = []

    @field_validator("peripherals")
    @classmethod
    def _unique_names(cls, value: list[PeripheralEntry]) -> list[PeripheralEntry]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"peripheral names must be unique: {', '.join(duplicates)}")
        return value


def _resolve(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def load_config(path: Path, *, state_dir: Path | None = None) -> DeviceConfig:
    """Read and validate device.yaml; paths in the result are absolute."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"cannot be read ({exc})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        raise ConfigError(path, where, f"is not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "must be a YAML mapping (device:, broker:, trust: ...)")
    try:
        config = DeviceConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise ConfigError(path, field, first["msg"]) from None
    base = path.parent.resolve()
    broker = config.broker.model_copy(
        update={
            "ca_file": _resolve(base, config.broker.ca_file),
            "cert_file": _resolve(base, config.broker.cert_file),
            "key_file": _resolve(base, config.broker.key_file),
        }
    )
    trust = TrustAnchors(
        signing_public_key_file=_resolve(base, config.trust.signing_public_key_file),
        ingest_public_key_file=_resolve(base, config.trust.ingest_public_key_file),
    )
    chosen_state = state_dir if state_dir is not None else _resolve(base, config.state_dir)
    return config.model_copy(
        update={"broker": broker, "trust": trust, "state_dir": Path(chosen_state).resolve()}
    )
