"""Signed commands on a device: check, answer, act at most once, answer again.

A request on ``devices/{device}/cmd/req`` is decoded (signature, device, name, args,
lifetime: :mod:`healthhub.protocol.commands`), then refused as ``expired`` if its time is
past, or ``rejected`` if the journal has seen its id (a replay) or cannot record it. Only
a command recorded ``accepted`` on disk is answered ``accepted`` and acted on, so a power
cut can never make it run twice. Its end is ``succeeded`` or ``failed`` with a reason and
a bounded ``detail``. ``restart-agent`` and ``reboot`` end with the agent gone: the
journal finds them unfinished at the next start and the agent answers ``succeeded`` then.

Answers go to the request's MQTT v5 response topic with its correlation data. The device's
ACL lets it write only its own ``cmd/res``, so any other response topic is ignored and the
answer goes there anyway; answers sent after a restart carry the command id as correlation
data (what ``healthhub-fleet cmd`` sends).

Requests wait in a queue of :data:`MAX_QUEUED` and run one at a time; a request that finds
the queue full is answered ``rejected`` at once, never dropped in silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from healthhub.agent.command_journal import CommandJournal
from healthhub.agent.mqtt_link import Incoming
from healthhub.protocol import commands, topics
from healthhub.protocol.commands import Command, CommandRejected
from healthhub.protocol.errors import HealthHubError

log = logging.getLogger(__name__)

MAX_QUEUED = 16

#: Sends one answer: (payload, correlation data).
Answer = Callable[[bytes, bytes | None], None]


class CommandFailed(HealthHubError):
    """An accepted command that could not do its work; ``str()`` is the reason reported."""


class EndsInRestart(HealthHubError):
    """The command's work ends with the agent going away (restart-agent, reboot): it stays
    ``accepted`` in the journal and is answered ``succeeded`` when the agent is back."""


class CommandActions(Protocol):
    """What the agent does for each command; each returns the answer's ``detail``."""

    async def identify(self, seconds: int) -> dict[str, Any]: ...
    async def restart_agent(self) -> dict[str, Any]: ...
    async def restart_ui(self) -> dict[str, Any]: ...
    async def reboot(self) -> dict[str, Any]: ...
    async def collect_logs(self, lines: int) -> dict[str, Any]: ...
    async def screenshot(self) -> dict[str, Any]: ...
    async def flush_outbox(self) -> dict[str, Any]: ...
    async def cert_request(self) -> dict[str, Any]: ...
    async def cert_install(self, certificate: str) -> dict[str, Any]: ...


def _dispatch(actions: CommandActions, command: Command) -> Awaitable[dict[str, Any]]:
    args = command.args  # checked against commands.NAMES by decode()
    table: dict[str, Callable[[], Awaitable[dict[str, Any]]]] = {
        "identify": lambda: actions.identify(int(args["seconds"])),
        "restart-agent": actions.restart_agent,
        "restart-ui": actions.restart_ui,
        "reboot": actions.reboot,
        "collect-logs": lambda: actions.collect_logs(int(args["lines"])),
        "screenshot": actions.screenshot,
        "flush-outbox-now": actions.flush_outbox,
        "cert.request": actions.cert_request,
        "cert.install": lambda: actions.cert_install(str(args["certificate"])),
    }
    return table[command.name]()


class CommandRunner:
    def __init__(
        self,
        journal: CommandJournal,
        verify_key: bytes,
        *,
        device: str,
        actions: CommandActions,
        answer: Answer,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.journal = journal
        self.device = device
        self._verify_key = verify_key
        self._actions = actions
        self._answer = answer
        self._clock = clock
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue(MAX_QUEUED)
        self.counters = {"received": 0, "rejected": 0, "expired": 0, "succeeded": 0, "failed": 0}

    def received(self, message: Incoming) -> None:
        """A request arrived (called from the MQTT callback)."""
        self.counters["received"] += 1
        if message.response_topic not in (None, topics.command_response(self.device)):
            log.warning("command asked for answers on another topic: answering on our own")
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._refuse(message, f"the device is busy: {MAX_QUEUED} commands are waiting")

    async def run(self) -> None:
        """Answer what a restart left unfinished, then each request in turn, until cancelled."""
        for entry in self.journal.resolve_unfinished():
            self._send(entry.id, entry.name, entry.state, entry.reason)
        while True:
            message = await self._queue.get()
            await self._handle(message)

    async def _handle(self, message: Incoming) -> None:
        now = self._clock()
        try:
            command = commands.decode(
                message.payload, self._verify_key, device=self.device, now=now
            )
        except CommandRejected as exc:
            self._refuse(message, str(exc), exc.command_id)
            return
        correlation = message.correlation
        if commands.is_expired(command, now):
            self.counters["expired"] += 1
            reason = f"expired at {command.expires_at}"
            self._send(command.id, command.name, "expired", reason, correlation=correlation)
            return
        refusal = self.journal.admit(command, now)
        if refusal is not None:
            self._refuse(message, refusal, command.id, command.name)
            return
        log.info("command %s (%s) accepted", command.id, command.name)
        self._send(command.id, command.name, "accepted", "", correlation=correlation)
        await self._act(command, correlation)

    async def _act(self, command: Command, correlation: bytes | None) -> None:
        try:
            detail = await _dispatch(self._actions, command)
        except EndsInRestart:
            log.info("command %s (%s): the agent is going away", command.id, command.name)
            return
        except CommandFailed as exc:
            state, reason, detail = "failed", str(exc), {}
        except Exception as exc:  # a defect must not stop the agent or leave it unanswered
            log.exception("command %s (%s) crashed", command.id, command.name)
            state, reason, detail = "failed", f"internal error: {type(exc).__name__}", {}
        else:
            state, reason = "succeeded", ""
        self.counters[state] += 1
        self.journal.finish(command.id, state, reason, detail)
        log.info("command %s (%s) %s %s", command.id, command.name, state, reason)
        self._send(command.id, command.name, state, reason, detail=detail, correlation=correlation)

    def _refuse(
        self,
        message: Incoming,
        reason: str,
        command_id: str | None = None,
        name: str | None = None,
    ) -> None:
        self.counters["rejected"] += 1
        log.warning("command %s rejected: %s", command_id or "(unreadable)", reason)
        self._send(command_id, name, "rejected", reason, correlation=message.correlation)

    def _send(
        self,
        command_id: str | None,
        name: str | None,
        state: str,
        reason: str,
        *,
        detail: Mapping[str, Any] | None = None,
        correlation: bytes | None = None,
    ) -> None:
        if correlation is None and command_id is not None:
            correlation = command_id.encode("ascii")  # what healthhub-fleet cmd sends
        try:
            payload = commands.result(
                command_id, self.device, name, state, reason=reason, detail=detail
            )
        except ValueError as exc:  # a detail over the result bound: say so instead
            payload = commands.result(
                command_id, self.device, name, "failed", reason=f"result too large: {exc}"
            )
        self._answer(payload, correlation)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.counters,
            "queued": self._queue.qsize(),
            "bound": MAX_QUEUED,
            "journal": self.journal.to_json(),
        }
