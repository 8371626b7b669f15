"""The device's command journal: each signed command is acted on at most once.

:meth:`CommandJournal.admit` is the decision after :func:`healthhub.protocol.commands.decode`
and the expiry check: a command whose id the journal holds is a replay and is rejected;
otherwise it is recorded ``accepted`` and the file is written (write-to-temp, fsync, rename,
fsync the directory) *before* ``admit`` returns, so that a command is never run without a
durable record that it was, and a power cut leaves the old journal or the new one.
:meth:`CommandJournal.finish` records ``succeeded`` or ``failed``.

An id is kept until its command has expired (``expires_at`` plus the clock-skew allowance),
after which a replay is refused as expired anyway; entries are pruned on every write. A
command still ``accepted`` (the agent restarted, or the Pi rebooted, in the middle) is kept
until it is finished: the agent resolves those at start (:meth:`resolve_unfinished`). The
journal never grows: with ``max_entries`` commands in flight, ``admit`` refuses.

A damaged or unreadable journal is renamed aside (``commands.json.damaged``) and the device
starts with an empty one, rather than refusing every command until someone visits the
kiosk. The trade-off: an id run before the damage could then be replayed within its
lifetime. The mitigation: the new journal keeps ``not_before``, the instant the damage was
found, and refuses any command issued before it (plus the clock-skew allowance, which a
command that was already run may have used); the console just sends a new command. After
the longest lifetime has passed, every such command has expired and ``not_before`` is
dropped.

The journal relies on the device's clock: a clock that jumps back by more than a command's
lifetime after that command's entry was pruned would let a replay through. NTP keeps the
kiosks' clocks; a journal per device keeps this local.

Not thread-safe: the agent calls it from its one event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from healthhub.protocol import canonical
from healthhub.protocol.clock import format_utc, parse_utc
from healthhub.protocol.commands import (
    CLOCK_SKEW_S,
    MAX_LIFETIME_S,
    Command,
    is_expired,
)
from healthhub.protocol.errors import MalformedMessage
from healthhub.protocol.files import write_atomic
from healthhub.protocol.ids import is_uuid7

log = logging.getLogger(__name__)

JOURNAL_FILE: Final = "commands.json"
DAMAGED_SUFFIX: Final = ".damaged"
FORMAT_VERSION: Final = 1
#: The states :meth:`CommandJournal.finish` records: an accepted command ends in one of them.
FINISHED: Final = ("succeeded", "failed")
#: Commands that end with the agent starting again: if one is found unfinished at start, the
#: agent's being back is its success.
ENDS_IN_RESTART: Final = frozenset({"restart-agent", "reboot"})
#: A ``detail`` larger than this (as JSON) is not kept on the card, only its size; the full
#: detail goes in the result message.
MAX_KEPT_DETAIL_BYTES: Final = 1024

_SKEW = timedelta(seconds=CLOCK_SKEW_S)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class JournalEntry:
    """One command the device accepted: never its args, only what status reports need."""

    id: str
    name: str
    state: str  # "accepted", "succeeded" or "failed"
    accepted_at: str
    expires_at: str
    at: str  # when it reached ``state``
    reason: str = ""
    detail: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "accepted_at": self.accepted_at,
            "expires_at": self.expires_at,
            "at": self.at,
            "reason": self.reason,
            "detail": None if self.detail is None else dict(self.detail),
        }

    def summary(self) -> dict[str, Any]:
        """What telemetry and ``healthhub-agent status`` show of the last command."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "at": self.at,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, value: object) -> JournalEntry:
        """An entry read back from the file; ``ValueError`` if it is not one."""
        if not isinstance(value, dict):
            raise ValueError("an entry is not a mapping")
        texts = ("id", "name", "state", "accepted_at", "expires_at", "at", "reason")
        if not all(isinstance(value.get(key), str) for key in texts):
            raise ValueError(f"an entry lacks one of {', '.join(texts)}")
        if not is_uuid7(value["id"]) or value["state"] not in ("accepted", *FINISHED):
            raise ValueError(f"entry {value['id']!r:.50} has a bad id or state")
        for key in ("accepted_at", "expires_at", "at"):
            parse_utc(value[key], field=key)  # MalformedMessage: the caller catches it
        detail = value.get("detail")
        if detail is not None and not isinstance(detail, dict):
            raise ValueError("an entry's detail is not a mapping")
        return cls(
            value["id"],
            value["name"],
            value["state"],
            value["accepted_at"],
            value["expires_at"],
            value["at"],
            value["reason"],
            detail,
        )


class JournalDamaged(ValueError):
    """The journal file is not a journal this code wrote."""


class CommandJournal:
    """The commands a device has accepted, kept in ``path`` (``state_dir / "commands.json"``)."""

    def __init__(
        self,
        path: Path,
        *,
        max_entries: int = 1000,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.path = Path(path)
        self.max_entries = max_entries
        self._clock = clock  # finish() and the damaged-file instant; admit() is told `now`
        self._entries: dict[str, JournalEntry] = {}
        self._last: JournalEntry | None = None
        self.not_before: datetime | None = None
        self._load()

    # -- reading the file at start -------------------------------------------------------

    @property
    def damaged_path(self) -> Path:
        return self.path.with_name(self.path.name + DAMAGED_SUFFIX)

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if self.damaged_path.exists():
                # A power cut between putting a damaged journal aside and writing the new
                # one: the protection of not_before must not be lost with it.
                self._start_after_damage("the journal was put aside but no new one written")
            return
        except OSError as exc:
            self._start_after_damage(f"cannot be read: {exc}")
            return
        try:
            self._parse(data)
        except (JournalDamaged, MalformedMessage, ValueError) as exc:
            self._entries.clear()
            self._last = None
            self.not_before = None
            self._start_after_damage(str(exc))

    def _parse(self, data: bytes) -> None:
        document = canonical.loads_object(data, what="command journal")
        if document.get("version") != FORMAT_VERSION:
            raise JournalDamaged(f"journal version is {document.get('version')!r:.20}")
        entries = document.get("entries")
        if not isinstance(entries, list):
            raise JournalDamaged("journal has no list of entries")
        for value in entries:
            entry = JournalEntry.from_json(value)
            self._entries[entry.id] = entry
        last = document.get("last")
        self._last = None if last is None else JournalEntry.from_json(last)
        not_before = document.get("not_before")
        self.not_before = None if not_before is None else parse_utc(not_before, field="not_before")

    def _start_after_damage(self, why: str) -> None:
        found = self._clock()
        log.error(
            "command journal %s is damaged (%s): it is put aside as %s and a new one started; "
            "commands issued before %s are refused, as they may have been run already",
            self.path,
            why,
            self.damaged_path.name,
            format_utc(found),
        )
        try:
            if self.path.exists():
                os.replace(self.path, self.damaged_path)
        except OSError as exc:
            log.error("cannot put the damaged journal aside: %s", exc)
        self.not_before = found
        self._write_or_log()

    # -- deciding on a command -----------------------------------------------------------

    def admit(self, command: Command, now: datetime) -> str | None:
        """None: go ahead, the command is now recorded ``accepted`` on disk. Otherwise the
        reason to report it ``rejected``. (The caller reports an expired command as
        ``expired`` before asking; one that reaches here is refused all the same.)"""
        self._prune(now)
        reason = self._refusal(command, now)
        if reason is not None:
            return reason
        at = format_utc(now)
        entry = JournalEntry(command.id, command.name, "accepted", at, command.expires_at, at)
        self._entries[command.id] = entry
        previous, self._last = self._last, entry
        try:
            self._write()
        except OSError as exc:
            del self._entries[command.id]
            self._last = previous
            log.error("command journal %s cannot be written: %s", self.path, exc)
            return f"the command journal cannot be written ({exc}): command not run"
        return None

    def _refusal(self, command: Command, now: datetime) -> str | None:
        held = self._entries.get(command.id)
        if held is not None:
            return (
                f"replayed: command {command.id} was already accepted at {held.accepted_at} "
                f"({held.state})"
            )
        if is_expired(command, now):
            return f"expired: command {command.id} expired at {command.expires_at}"
        if self.not_before is not None and command.issued < self.not_before + _SKEW:
            return (
                f"command {command.id} was issued at {command.issued_at}, before the command "
                f"journal was found damaged at {format_utc(self.not_before)}; it may have run "
                f"already: send a new command (issued after {format_utc(self.not_before + _SKEW)})"
            )
        if len(self._entries) >= self.max_entries:
            return f"too many commands in flight; bound {self.max_entries}"
        return None

    def finish(
        self,
        command_id: str,
        state: str,
        reason: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the end of an accepted command: ``succeeded`` or ``failed``.

        ``KeyError`` for an id that was never admitted, ``ValueError`` for another state or
        a command already finished. A journal that cannot be written is logged, not raised:
        the command has run, and at worst it is resolved again at the next start.
        """
        if state not in FINISHED:
            raise ValueError(f"an accepted command ends in {' or '.join(FINISHED)}, not {state!r}")
        entry = self._entries.get(command_id)
        if entry is None:
            raise KeyError(f"command {command_id} was never accepted")
        if entry.state != "accepted":
            raise ValueError(f"command {command_id} already {entry.state}")
        now = self._clock()
        finished = replace(
            entry, state=state, at=format_utc(now), reason=reason, detail=_kept(detail)
        )
        self._entries[command_id] = finished
        self._last = finished
        self._prune(now)
        self._write_or_log()

    def resolve_unfinished(self) -> list[JournalEntry]:
        """At start: finish every command left ``accepted`` by a restart, and return them
        (finished) for the agent to report. A restart or a reboot succeeded: we are back;
        anything else was cut short."""
        resolved = []
        for entry in self.unfinished():
            if entry.name in ENDS_IN_RESTART:
                self.finish(entry.id, "succeeded", "the agent is running again")
            else:
                self.finish(entry.id, "failed", "interrupted by a restart")
            resolved.append(self._entries[entry.id])
        return resolved

    # -- what status reports -------------------------------------------------------------

    def unfinished(self) -> list[JournalEntry]:
        """Commands accepted but never finished, oldest first."""
        return [entry for entry in self._entries.values() if entry.state == "accepted"]

    def get(self, command_id: str) -> JournalEntry | None:
        return self._entries.get(command_id)

    def last(self) -> JournalEntry | None:
        """The command that changed state last (kept even after its entry is pruned)."""
        return self._last

    def __len__(self) -> int:
        return len(self._entries)

    def to_json(self) -> dict[str, Any]:
        last = self._last
        return {
            "entries": len(self._entries),
            "bound": self.max_entries,
            "last": None if last is None else last.summary(),
        }

    # -- keeping the file ----------------------------------------------------------------

    def _prune(self, now: datetime) -> None:
        """Drop finished commands whose expiry (plus skew) has passed, and ``not_before``
        once every command issued before it has expired."""
        for entry in list(self._entries.values()):
            expired = parse_utc(entry.expires_at, field="expires_at") + _SKEW < now
            if expired and entry.state != "accepted":
                del self._entries[entry.id]
        lifetime = timedelta(seconds=MAX_LIFETIME_S)
        if self.not_before is not None and self.not_before + lifetime + 2 * _SKEW < now:
            self.not_before = None

    def _document(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "not_before": None if self.not_before is None else format_utc(self.not_before),
            "last": None if self._last is None else self._last.to_json(),
            "entries": [entry.to_json() for entry in self._entries.values()],
        }

    def _write(self) -> None:
        write_atomic(self.path, canonical.dumps(self._document()), mode=0o600)

    def _write_or_log(self) -> None:
        try:
            self._write()
        except OSError as exc:
            log.error("command journal %s cannot be written: %s", self.path, exc)


def _kept(detail: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``detail`` if it is small; else only its size (collected logs stay off the card)."""
    if detail is None:
        return None
    size = len(canonical.dumps(dict(detail)))
    return dict(detail) if size <= MAX_KEPT_DETAIL_BYTES else {"not_kept_bytes": size}
