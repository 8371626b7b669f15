"""What the device does for each remote command (:class:`~healthhub.agent.command_runner.
CommandActions`), kept apart from the runner's checks so each is small and testable.

- ``identify``: status LEDs flash and the UI shows the device id; fails only if the unit
  has neither (nothing would show).
- ``restart-agent``: the agent stops cleanly and exits with :data:`RESTART_EXIT_CODE`
  (EX_TEMPFAIL); systemd's ``Restart=on-failure`` starts it again, and the journal's
  unfinished entry becomes ``succeeded`` then.
- ``restart-ui`` and ``reboot``: the programs named in the local file's ``commands``
  (never in a pushed layer), with a time limit; a non-zero exit fails the command.
- ``collect-logs``: the agent's own recent log lines, redacted and bounded.
- ``screenshot``: asked of the UI, which refuses while a patient's screen shows.
- ``flush-outbox-now``: every unconfirmed message is sent again now.
- ``cert.request`` and ``cert.install``: certificate renewal (``agent/identity.py``); the
  install answers only once the agent is connected again with the new certificate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from healthhub.agent.command_runner import CommandFailed, EndsInRestart
from healthhub.agent.config import CommandSettings
from healthhub.agent.log_capture import LogRing, collect

log = logging.getLogger(__name__)

#: The agent's exit status after ``restart-agent`` (sysexits EX_TEMPFAIL): not a success,
#: so systemd's ``Restart=on-failure`` starts it again.
RESTART_EXIT_CODE = 75
#: Bytes of a program's output kept in a failure reason.
OUTPUT_TAIL = 400


class DeviceActions:
    def __init__(
        self,
        *,
        device: str,
        identify_peripherals: Callable[[float], list[str]],
        show_on_screen: Callable[[dict[str, Any]], int],
        settings: Callable[[], CommandSettings],
        ring: LogRing,
        flush: Callable[[], int],
        outbox_depth: Callable[[], Awaitable[int]],
        restart: Callable[[], None],
        screenshot: Callable[[], Awaitable[dict[str, Any]]],
        cert_request: Callable[[], Awaitable[dict[str, Any]]],
        cert_install: Callable[[str], Awaitable[dict[str, Any]]],
    ) -> None:
        self._device = device
        self._identify_peripherals = identify_peripherals
        self._show_on_screen = show_on_screen
        self._settings = settings
        self._ring = ring
        self._flush = flush
        self._outbox_depth = outbox_depth
        self._restart = restart
        self._screenshot = screenshot
        self._cert_request = cert_request
        self._cert_install = cert_install

    async def identify(self, seconds: int) -> dict[str, Any]:
        leds = self._identify_peripherals(float(seconds))
        screens = self._show_on_screen({"device": self._device, "seconds": seconds})
        if not leds and not screens:
            raise CommandFailed("nothing to show it on: no status LED and no UI connected")
        return {"leds": leds, "screens": screens, "seconds": seconds}

    async def restart_agent(self) -> dict[str, Any]:
        # Let the "accepted" answer leave first; the journal answers "succeeded" at start.
        asyncio.get_running_loop().call_later(0.2, self._restart)
        raise EndsInRestart

    async def restart_ui(self) -> dict[str, Any]:
        return await self._run(self._settings().restart_ui, "restart-ui")

    async def reboot(self) -> dict[str, Any]:
        await self._run(self._settings().reboot, "reboot")
        raise EndsInRestart  # the system is going down; "succeeded" when we are back

    async def collect_logs(self, lines: int) -> dict[str, Any]:
        return await asyncio.to_thread(collect, self._ring, lines)  # redaction takes time

    async def screenshot(self) -> dict[str, Any]:
        return await self._screenshot()

    async def flush_outbox(self) -> dict[str, Any]:
        resent = self._flush()
        return {"resent": resent, "depth": await self._outbox_depth()}

    async def cert_request(self) -> dict[str, Any]:
        return await self._cert_request()

    async def cert_install(self, certificate: str) -> dict[str, Any]:
        return await self._cert_install(certificate)

    async def _run(self, argv: list[str], what: str) -> dict[str, Any]:
        timeout_s = self._settings().timeout_s
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
        except OSError as exc:
            raise CommandFailed(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise CommandFailed(f"{what}: {argv[0]} did not finish in {timeout_s:g} s") from None
        text = output.decode("utf-8", "replace").strip()[-OUTPUT_TAIL:]
        if process.returncode != 0:
            raise CommandFailed(f"{what}: {argv[0]} exited with {process.returncode}: {text}")
        log.info("%s: %s finished", what, argv[0])
        return {"exit_code": 0, "output": text}
