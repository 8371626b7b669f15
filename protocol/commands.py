"""Signed remote commands: what IT staff send one device, and what the device answers.

A command is a signed document (:mod:`healthhub.protocol.signed`) on
``devices/{device}/cmd/req``::

    {"kind": "command", "id": "<UUIDv7>", "device": "kiosk-1", "name": "identify",
     "args": {"seconds": 30}, "issued_at": "2026-11-23T10:00:00.000Z",
     "expires_at": "2026-11-23T10:05:00.000Z", "signature": {"alg": "Ed25519", "value": "..."}}

The names and their arguments are the table :data:`NAMES`: small and explicit; an unknown
name, an unknown argument or a value out of range refuses the command whole. Arguments are
whole numbers, except ``cert.install``'s certificate (one PEM certificate, checked again in
full by the device before it is used). A command
lives at most :data:`MAX_LIFETIME_S` from ``issued_at`` to ``expires_at``.

The device answers on the MQTT v5 response topic (``devices/{device}/cmd/res`` by default)
with :func:`result` documents: ``accepted``, then ``succeeded`` or ``failed``; or at once
``rejected`` (anything :func:`decode` or the device's command journal refuses) or ``expired``.
Each id is acted on at most once: the device's journal (``healthhub.agent.command_journal``)
rejects a replayed id. The id must be the canonical (lower-case) string of a UUIDv7, so that
one command cannot come back under another spelling of its id and pass as new.

:func:`decode` does not refuse an expired command: the device reports ``expired`` distinctly
(:func:`is_expired`). Device and console clocks may disagree by up to :data:`CLOCK_SKEW_S`
(both are set by NTP); that allowance is granted both ways: a command counts as expired only
that long after its ``expires_at``, and one ``issued_at`` up to that long after the device's
clock is still taken (any later and one of the two clocks is wrong: check NTP).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from healthhub.protocol import canonical, signed, topics
from healthhub.protocol.clock import format_utc, parse_utc
from healthhub.protocol.errors import MalformedMessage, ProtocolError
from healthhub.protocol.ids import is_uuid7, uuid7

KIND: Final = "command"
RESULT_KIND: Final = "command-result"
#: The longest a command may live, from ``issued_at`` to ``expires_at``.
MAX_LIFETIME_S: Final = 24 * 3600
#: A command's encoded size limit (a command is a few hundred bytes).
MAX_COMMAND_BYTES: Final = 16 * 1024
#: A result's encoded size limit: ``collect-logs`` answers with up to 200 KiB of log lines.
MAX_RESULT_BYTES: Final = 256 * 1024
#: How far the device's and the console's clocks may disagree (see the module docstring).
CLOCK_SKEW_S: Final = 30
DEFAULT_LIFETIME_S: Final = 300

STATES: Final = ("accepted", "succeeded", "failed", "rejected", "expired")
FINAL_STATES: Final = frozenset({"succeeded", "failed", "rejected", "expired"})

FIELDS: Final = frozenset({"kind", "id", "device", "name", "args", "issued_at", "expires_at"})
RESULT_FIELDS: Final = frozenset(
    {"kind", "id", "device", "name", "state", "reason", "detail", "at"}
)


PEM_BEGIN: Final = "-----BEGIN CERTIFICATE-----"
PEM_END: Final = "-----END CERTIFICATE-----"
#: What an argument's value may be: a whole number, or a PEM certificate's text.
ArgValue = int | str


@dataclass(frozen=True)
class IntArg:
    """A whole-number argument: its range (inclusive) and the value when it is left out."""

    minimum: int
    maximum: int
    default: int

    def check(self, name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandRejected(f"argument {name} must be a whole number")
        if not self.minimum <= value <= self.maximum:
            raise CommandRejected(
                f"argument {name} is {value}; it must be {self.minimum}-{self.maximum}"
            )
        return value


@dataclass(frozen=True)
class PemCertificateArg:
    """A required argument: one X.509 certificate in PEM (RFC 7468), at most ``max_chars``.

    Only its shape is checked here; the device parses it and checks what it certifies.
    """

    max_chars: int = 8192
    default: None = None  # required: a command without it is refused

    def check(self, name: str, value: object) -> str:
        if not isinstance(value, str) or not value.isascii():
            raise CommandRejected(f"argument {name} must be a PEM certificate (ASCII text)")
        if len(value) > self.max_chars:
            raise CommandRejected(
                f"argument {name} is {len(value)} characters; the limit is {self.max_chars}"
            )
        text = value.strip()
        if (
            not text.startswith(PEM_BEGIN)
            or not text.endswith(PEM_END)
            or "-----BEGIN" in text[len(PEM_BEGIN) :]
        ):
            raise CommandRejected(f"argument {name} must be exactly one PEM certificate")
        return value


@dataclass(frozen=True)
class CommandSpec:
    summary: str
    args: Mapping[str, IntArg | PemCertificateArg] = field(default_factory=dict)


#: Every command a device acts on. The agent's handlers follow this table.
NAMES: Final[Mapping[str, CommandSpec]] = {
    "identify": CommandSpec(
        "flash the status LED and show the device id on screen",
        {"seconds": IntArg(5, 300, 30)},
    ),
    "restart-agent": CommandSpec("restart the device agent (systemd starts it again)"),
    "restart-ui": CommandSpec("restart the patient UI"),
    "reboot": CommandSpec("reboot the device"),
    "collect-logs": CommandSpec(
        "the most recent agent log lines, redacted and bounded (never patient data)",
        {"lines": IntArg(1, 2000, 500)},
    ),
    "screenshot": CommandSpec(
        "a screenshot of the attract or staff screen (refused while a patient's screen shows)"
    ),
    "flush-outbox-now": CommandSpec("send what the outbox holds now, without waiting to retry"),
    # Certificate renewal (`healthhub-provision rotate`): the new key is made on the device
    # and never leaves it; only the request (CSR) and the certificate travel.
    "cert.request": CommandSpec(
        "make a new key on the device (kept pending) and answer with a certificate request"
    ),
    "cert.install": CommandSpec(
        "install the certificate issued for the pending key and reconnect with it",
        {"certificate": PemCertificateArg()},
    ),
}


class CommandRejected(ProtocolError):
    """A command that must not be acted on; ``str()`` is the reason reported to the console.

    ``command_id`` is the document's id when it could be read as a UUIDv7, even if the
    document was refused before (or for) its signature, so that the refusal can still be
    reported against it; it is a label for the report, not a statement that the command is
    genuine, and nothing refused is ever recorded in the device's journal. None when the
    document could not be read that far.
    """

    def __init__(self, reason: str, *, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.command_id = command_id


@dataclass(frozen=True)
class Command:
    id: str
    device: str
    name: str
    args: Mapping[str, ArgValue]
    issued_at: str
    expires_at: str

    @property
    def issued(self) -> datetime:
        return parse_utc(self.issued_at, field="issued_at")

    @property
    def expires(self) -> datetime:
        return parse_utc(self.expires_at, field="expires_at")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "id": self.id,
            "device": self.device,
            "name": self.name,
            "args": dict(self.args),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone")
    return now.astimezone(UTC)


def check_name(name: object) -> str:
    if not isinstance(name, str) or name not in NAMES:
        shown = repr(name)[:40]
        raise CommandRejected(f"unknown command {shown}; commands are {', '.join(NAMES)}")
    return name


def check_args(name: str, args: object) -> dict[str, ArgValue]:
    """``args`` of command ``name`` with the defaults filled in; else :class:`CommandRejected`."""
    if not isinstance(args, Mapping):
        raise CommandRejected("args must be a mapping")
    spec = NAMES[name].args
    unknown = sorted(str(key)[:40] for key in args if key not in spec)
    if unknown:
        takes = f"takes {', '.join(spec)}" if spec else "takes no arguments"
        raise CommandRejected(f"unknown argument(s) {', '.join(unknown)}: {name} {takes}")
    checked: dict[str, ArgValue] = {}
    for arg, rule in spec.items():
        if arg in args:
            checked[arg] = rule.check(arg, args[arg])
        elif rule.default is None:
            raise CommandRejected(f"argument {arg} is required: {name} takes {', '.join(spec)}")
        else:
            checked[arg] = rule.default
    return checked


def _check_times(issued_at: object, expires_at: object, now: datetime) -> tuple[str, str]:
    try:
        issued = parse_utc(issued_at, field="issued_at")
        expires = parse_utc(expires_at, field="expires_at")
    except MalformedMessage as exc:
        raise CommandRejected(str(exc)) from None
    assert isinstance(issued_at, str)
    assert isinstance(expires_at, str)
    lifetime = (expires - issued).total_seconds()
    if lifetime <= 0:
        raise CommandRejected(f"expires_at {expires_at} is not after issued_at {issued_at}")
    if lifetime > MAX_LIFETIME_S:
        raise CommandRejected(
            f"command lives {lifetime:.0f} s; the longest a command may live is {MAX_LIFETIME_S} s"
        )
    if issued > now + timedelta(seconds=CLOCK_SKEW_S):
        raise CommandRejected(
            f"command was issued at {issued_at}, after the device's time {format_utc(now)}: "
            "check that both clocks are set (NTP)"
        )
    return issued_at, expires_at


def make(
    device: str,
    name: str,
    args: Mapping[str, ArgValue] | None = None,
    *,
    lifetime_s: float = DEFAULT_LIFETIME_S,
    now: datetime | None = None,
) -> Command:
    """A new command to sign: a new id, issued ``now``, checked as a device will check it."""
    moment = _aware(now)
    try:
        topics.validate_id(device, what="device id")
    except ProtocolError as exc:
        raise CommandRejected(str(exc)) from None
    complete = check_args(check_name(name), {} if args is None else args)
    if not 0 < lifetime_s <= MAX_LIFETIME_S:
        raise CommandRejected(f"lifetime must be more than 0 and at most {MAX_LIFETIME_S} s")
    issued_at = format_utc(moment)
    expires_at = format_utc(moment + timedelta(seconds=lifetime_s))
    _check_times(issued_at, expires_at, moment)
    command_id = str(uuid7(now_ms=None if now is None else int(moment.timestamp() * 1000)))
    return Command(command_id, device, name, complete, issued_at, expires_at)


def encode(command: Command, signing_key_seed: bytes) -> bytes:
    """The request payload: the signed command as canonical JSON."""
    payload = canonical.dumps(signed.sign(command.to_json(), signing_key_seed))
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"command is {len(payload)} bytes; the limit is {MAX_COMMAND_BYTES}")
    return payload


def _readable_id(document: Mapping[str, Any]) -> str | None:
    value = document.get("id")
    return value if isinstance(value, str) and is_uuid7(value) else None


def decode(
    payload: bytes, verify_key: bytes, *, device: str, now: datetime | None = None
) -> Command:
    """Check a command received by ``device``: size, JSON, signature, kind, fields, id,
    device, name, args, time stamps and lifetime, in that order. Any failure is
    :class:`CommandRejected` (a forged signature included) with a reason fit to report.

    Expiry is not checked here: see :func:`is_expired`.
    """
    moment = _aware(now)
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"command is {len(payload)} bytes; the limit is {MAX_COMMAND_BYTES}")
    try:
        document = canonical.loads_object(payload, what="command")
    except MalformedMessage as exc:
        raise CommandRejected(str(exc)) from None
    command_id = _readable_id(document)
    try:
        return _check(document, verify_key, device, moment)
    except ProtocolError as exc:  # CommandRejected, SignatureError
        raise CommandRejected(str(exc), command_id=command_id) from None


def _check(document: dict[str, Any], verify_key: bytes, device: str, now: datetime) -> Command:
    unsigned = signed.verify(document, verify_key)
    if unsigned.get("kind") != KIND:
        raise CommandRejected(f"document kind is {unsigned.get('kind')!r:.40}, not {KIND!r}")
    missing = sorted(FIELDS - set(unsigned))
    if missing:
        raise CommandRejected(f"command has no {', '.join(missing)}")
    extra = sorted(str(key)[:40] for key in set(unsigned) - FIELDS)
    if extra:
        raise CommandRejected(f"command has unknown field(s) {', '.join(extra)}")
    command_id = unsigned["id"]
    if not isinstance(command_id, str) or not is_uuid7(command_id):
        raise CommandRejected(
            f"id {command_id!r:.50} is not a UUIDv7 in canonical (lower-case) form"
        )
    target = unsigned["device"]
    if not isinstance(target, str):
        raise CommandRejected("device must be a device id")
    topics.validate_id(target, what="device id")
    if target != device:
        raise CommandRejected(f"command is for {target}, not {device}")
    name = check_name(unsigned["name"])
    args = check_args(name, unsigned["args"])
    issued_at, expires_at = _check_times(unsigned["issued_at"], unsigned["expires_at"], now)
    return Command(command_id, target, name, args, issued_at, expires_at)


def is_expired(command: Command, now: datetime) -> bool:
    """True once ``now`` is more than :data:`CLOCK_SKEW_S` past the command's ``expires_at``."""
    return _aware(now) > command.expires + timedelta(seconds=CLOCK_SKEW_S)


def result(
    command_id: str | None,
    device: str,
    name: str | None,
    state: str,
    *,
    reason: str = "",
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> bytes:
    """A result document as canonical JSON.

    ``command_id`` and ``name`` are None only for a ``rejected`` command whose id or name
    could not be read (:attr:`CommandRejected.command_id`); the correlation data still ties
    the answer to the request.
    """
    if state not in STATES:
        raise ValueError(f"state {state!r} is not one of {', '.join(STATES)}")
    if command_id is None and state != "rejected":
        raise ValueError("only a rejected command may be reported without its id")
    document = {
        "kind": RESULT_KIND,
        "id": command_id,
        "device": topics.validate_id(device, what="device id"),
        "name": name,
        "state": state,
        "reason": reason,
        "detail": None if detail is None else dict(detail),
        "at": format_utc(_aware(at)),
    }
    payload = canonical.dumps(document)
    if len(payload) > MAX_RESULT_BYTES:
        raise ValueError(f"result is {len(payload)} bytes; the limit is {MAX_RESULT_BYTES}")
    return payload


def parse_result(payload: bytes) -> dict[str, Any]:
    """A device's result document, checked; :class:`MalformedMessage` on anything else."""
    if len(payload) > MAX_RESULT_BYTES:
        raise MalformedMessage(f"result is {len(payload)} bytes; the limit is {MAX_RESULT_BYTES}")
    document = canonical.loads_object(payload, what="command result")
    if document.get("kind") != RESULT_KIND:
        raise MalformedMessage(f"document kind is {document.get('kind')!r:.40}, not a result")
    if set(document) != RESULT_FIELDS:
        raise MalformedMessage(f"a command result has exactly {', '.join(sorted(RESULT_FIELDS))}")
    state = document["state"]
    if state not in STATES:
        raise MalformedMessage(f"state {state!r:.40} is not one of {', '.join(STATES)}")
    command_id = document["id"]
    if not (command_id is None and state == "rejected") and not (
        isinstance(command_id, str) and is_uuid7(command_id)
    ):
        raise MalformedMessage(f"id {command_id!r:.50} is not a UUIDv7")
    try:
        topics.validate_id(document["device"], what="device id")
    except ProtocolError as exc:
        raise MalformedMessage(str(exc)) from None
    if document["name"] is not None and not isinstance(document["name"], str):
        raise MalformedMessage("name must be a string")
    if not isinstance(document["reason"], str):
        raise MalformedMessage("reason must be a string")
    if document["detail"] is not None and not isinstance(document["detail"], dict):
        raise MalformedMessage("detail must be a mapping or null")
    parse_utc(document["at"], field="at")
    return document
