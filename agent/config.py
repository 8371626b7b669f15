"""device.yaml: the device's local configuration, validated before anything starts.

Identity (device, site), broker address and trust anchors live only here and
are never changed remotely. Relative paths are resolved against the folder of
the file, so an enrolment bundle works where it is unpacked. Any problem is a
:class:`ConfigError` that names the file and the field; the CLI exits 2 with it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from healthhub.drivers import registry
from healthhub.drivers.base import PeripheralSpec
from healthhub.drivers.errors import DriverConfigError
from healthhub.drivers.serial.receipt_printer import ReceiptPrinterOptions
from healthhub.protocol import topics
from healthhub.protocol.errors import HealthHubError, ProtocolError

SOCKET_FILE = "agent.sock"


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


class HealthThresholds(_Strict):
    """When the unit's own health raises an alert to IT (``agent/health_checks.py``; README,
    "Pi health"). A check alerts when it gets worse and clears only once it has looked fine
    for ``clear_after_s`` (and, for temperature and free space, is back past a margin), so a
    value hovering at a threshold raises one alert, not one per telemetry round.

    Temperature: Raspberry Pi documentation, "Frequency management and thermal control":
    between 80 and 85 Cel the Arm cores are progressively throttled, at 85 Cel the Arm and
    GPU both. The 5 Cel margin is the one the firmware uses for the Pi 5's fan. Under-voltage:
    "Power supply": low voltage "can cause problems with corruption of SD cards"."""

    cpu_warning_c: float = Field(default=80, ge=40, le=110)
    cpu_critical_c: float = Field(default=85, ge=40, le=110)
    cpu_hysteresis_c: float = Field(default=5, ge=0.5, le=30)
    # since_boot: the firmware's sticky bit (a dip between two rounds is not missed);
    # now: only while it lasts; off: never alert (a bench unit on a lab supply).
    under_voltage: Literal["since_boot", "now", "off"] = "since_boot"
    # eMMC life time estimate (A or B) at or above this share of the card's life used.
    sd_life_used_percent: int = Field(default=90, ge=10, le=100)
    # Free space of the state folder's file system (and the root's): below either.
    disk_free_min_percent: float = Field(default=10, ge=0, le=90)
    disk_free_min_mb: float = Field(default=500, ge=0, le=1_048_576)
    clear_after_s: float = Field(default=600, ge=0, le=86_400)
    # The client certificate's expiry (2 years from enrolment or renewal): time enough to run
    # `healthhub-provision rotate` while the unit is online, and a louder step near the end.
    certificate_warning_days: int = Field(default=60, ge=1, le=730)
    certificate_critical_days: int = Field(default=14, ge=0, le=730)

    @model_validator(mode="after")
    def _critical_above_warning(self) -> HealthThresholds:
        if self.cpu_critical_c < self.cpu_warning_c:
            raise ValueError("cpu_critical_c must not be below cpu_warning_c")
        if self.certificate_critical_days > self.certificate_warning_days:
            raise ValueError("certificate_critical_days must not be above certificate_warning_days")
        return self


class TelemetrySettings(_Strict):
    interval_s: float = Field(default=30.0, gt=0, le=86_400)
    health: HealthThresholds = HealthThresholds()


class HealthSourceSettings(_Strict):
    """Where the Pi's health is read (``agent/pi_health.py``). Local-only: a pushed layer that
    could name a program to run would be remote code execution. Tests point these at a fake
    tree and a fake vcgencmd; null ``vcgencmd`` skips it."""

    sys_root: Path = Path("/sys")
    proc_root: Path = Path("/proc")
    vcgencmd: Path | None = Path("/usr/bin/vcgencmd")
    vcgencmd_timeout_s: float = Field(default=2.0, gt=0, le=30)


_LANGUAGE_TAG = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$"
# The measuring tiles, then what pushed content offers (each shown only when the unit holds
# that content): questionnaires, change of details, a consultation request, health
# information, community services and digital support.
Tile = Literal[
    "blood_pressure",
    "weight_height",
    "pulse_oxygen",
    "temperature",
    "questionnaires",
    "my_details",
    "consultation",
    "information",
    "services",
    "support",
]


class UiSettings(_Strict):
    """What the patient UI shows; it reads these from the agent (``hello``), never from disk.

    A language code is any well-formed tag: a code with no catalogue is shown in
    English and reported on the staff screen, rather than stopping the unit.
    """

    languages: list[Annotated[str, Field(pattern=_LANGUAGE_TAG)]] = Field(
        default=["en", "pl", "ro", "pa", "ur", "pt", "es", "bn"], min_length=1
    )
    default_language: str = Field(default="en", pattern=_LANGUAGE_TAG)
    tiles: list[Tile] = Field(default=list(get_args(Tile)), min_length=1)
    # After this long without a touch the "are you still there?" warning shows, then
    # counts down `warning_s` (WCAG 2.2.1: at least 20 s to ask for more time) and wipes.
    idle_timeout_s: float = Field(default=90, ge=15, le=3600)
    warning_s: float = Field(default=30, ge=20, le=600)
    # With a presence sensor, the attract screen rests (dims) after this long with nobody
    # near, and wakes when someone comes; a unit without one never rests.
    rest_after_s: float = Field(default=300, ge=30, le=86_400)
    # Opening hours per weekday ("08:00-18:30"; several ranges allowed); a weekday
    # missing is closed. None (the default) means always open.
    operating_hours: dict[str, list[Annotated[str, Field(pattern=_HOURS)]]] | None = None
    closures: list[date] = []
    # scrypt hash of the staff PIN (`healthhub-agent pin-hash`); None: no staff screen.
    staff_pin_hash: str | None = None

    @field_validator("operating_hours")
    @classmethod
    def _weekdays(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is not None:
            unknown = sorted(set(value) - set(_WEEKDAYS))
            if unknown:
                raise ValueError(
                    f"unknown weekday(s) {', '.join(unknown)}: use {', '.join(_WEEKDAYS)}"
                )
            for day, ranges in value.items():
                for hours in ranges:
                    start, end = hours.split("-")
                    if end <= start:
                        raise ValueError(f"{day} {hours}: closing time must be after opening")
        return value

    @field_validator("staff_pin_hash")
    @classmethod
    def _pin_hash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("scrypt$"):
            raise ValueError("must be made by `healthhub-agent pin-hash` (scrypt$...)")
        return value


_GROUP = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
# form_action: a form's action that alerts staff (PHQ-9 item 9, a red flag); device_health:
# the unit's own hardware (protocol/device_health.py), for IT.
AlertKind = Literal["urgent_result", "help_requested", "form_action", "device_health"]


class AlertRoute(_Strict):
    """Who is told of one kind of alert, and who next if nobody acknowledges it in time.
    Names are staff groups of the practice side (``reception``, ``duty-clinician``); the
    practice side (issue 8) delivers and escalates, the device only says where it goes."""

    notify: list[Annotated[str, Field(pattern=_GROUP)]] = Field(min_length=1, max_length=8)
    escalate_after_s: float = Field(default=300, ge=60, le=86_400)
    escalate_to: list[Annotated[str, Field(pattern=_GROUP)]] = Field(default=[], max_length=8)


class AlertSettings(_Strict):
    """Alert routing per kind. An urgent result goes to the duty clinician (NICE NG136:
    a clinic reading of 180/120 mmHg or more needs same-day specialist assessment) and a
    help request to reception, unless a practice says otherwise."""

    routes: dict[AlertKind, AlertRoute] = {}

    def route_for(self, kind: str) -> dict[str, Any]:
        """What an alert of ``kind`` carries: its route, else the default for its kind."""
        route = self.routes.get(kind) or DEFAULT_ALERT_ROUTES.get(kind)  # type: ignore[call-overload]
        if route is None:
            route = AlertRoute(notify=["reception"])
        return dict(route.model_dump(mode="json"))


DEFAULT_ALERT_ROUTES: dict[str, AlertRoute] = {
    "urgent_result": AlertRoute(notify=["duty-clinician"], escalate_to=["practice-manager"]),
    "help_requested": AlertRoute(notify=["reception"], escalate_to=["practice-manager"]),
    "form_action": AlertRoute(notify=["duty-clinician"], escalate_to=["practice-manager"]),
    # A unit running hot or wearing out is IT's; the practice manager hears after an hour.
    "device_health": AlertRoute(
        notify=["it-support"], escalate_after_s=3600, escalate_to=["practice-manager"]
    ),
}


class CommandSettings(_Strict):
    """What the ``restart-ui`` and ``reboot`` commands run (argv, no shell). Local-only: a
    pushed layer that could name a program to run would be remote code execution."""

    restart_ui: list[str] = Field(
        default=["systemctl", "restart", "healthhub-kiosk.service"], min_length=1
    )
    reboot: list[str] = Field(default=["systemctl", "reboot"], min_length=1)
    timeout_s: float = Field(default=30, gt=0, le=600)


class ContentSettings(_Strict):
    """Information content pushed by the fleet (``state_dir/content``). Local-only: the disk
    is this unit's own."""

    # Distinct file bytes one content set may need; a bigger push is refused. A new set
    # downloads beside the one served, so plan for twice this on the card.
    budget_mb: float = Field(default=256, gt=0, le=16_384)
    # Blobs fetched at once (each a chunk of at most 192 KiB held in memory).
    fetch_window: int = Field(default=16, ge=1, le=256)
    # With blobs wanted and none arriving this long (while connected), the push is given up.
    fetch_timeout_s: float = Field(default=600, ge=10, le=86_400)


class LocalApiSettings(_Strict):
    # The Unix socket the UI connects to; default `agent.sock` in the state folder.
    socket: Path | None = None


class PeripheralEntry(BaseModel):
    """One peripheral: name, driver family, backend; every other key is a driver option,
    checked by the driver itself when the file is loaded (``drivers/options.py``)."""

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
    ui: UiSettings = UiSettings()
    alerts: AlertSettings = AlertSettings()
    commands: CommandSettings = CommandSettings()
    content: ContentSettings = ContentSettings()
    local_api: LocalApiSettings = LocalApiSettings()
    health_sources: HealthSourceSettings = HealthSourceSettings()
    # A receipt printer for information pages (ESC/POS on a serial port); none by default.
    printer: ReceiptPrinterOptions | None = None

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
    return validate_config(raw, path, state_dir=state_dir)


def validate_config(
    raw: dict[str, Any], path: Path, *, state_dir: Path | None = None
) -> DeviceConfig:
    """Check a configuration (the file's, or the file's merged with remote layers) as
    ``load_config`` does; relative paths resolve against ``path``'s folder."""
    try:
        config = DeviceConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise ConfigError(path, field, first["msg"]) from None
    for index, entry in enumerate(config.peripherals):
        try:  # builds the driver without touching hardware: its options are checked here
            registry.create(entry.spec())
        except DriverConfigError as exc:
            raise ConfigError(path, f"peripherals.{index}", str(exc)) from None
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
    chosen_state = Path(
        state_dir if state_dir is not None else _resolve(base, config.state_dir)
    ).resolve()
    socket = config.local_api.socket
    socket = chosen_state / SOCKET_FILE if socket is None else _resolve(base, socket)
    sources = config.health_sources
    vcgencmd = None if sources.vcgencmd is None else _resolve(base, sources.vcgencmd)
    return config.model_copy(
        update={
            "broker": broker,
            "trust": trust,
            "state_dir": chosen_state,
            "local_api": LocalApiSettings(socket=socket),
            "health_sources": sources.model_copy(
                update={
                    "sys_root": _resolve(base, sources.sys_root),
                    "proc_root": _resolve(base, sources.proc_root),
                    "vcgencmd": vcgencmd,
                }
            ),
        }
    )
