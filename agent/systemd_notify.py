"""sd_notify(3) without libsystemd: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) to a ``Type=notify`` service and ``WATCHDOG_USEC`` when
``WatchdogSec=`` is set. Without ``NOTIFY_SOCKET`` every call does nothing, so
the agent runs the same under systemd, in a terminal and in tests.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)

DEFAULT_WATCHDOG_PING_S = 10.0


class SystemdNotifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address:
            self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        # Ping at half the watchdog interval, as sd_watchdog_enabled(3) advises;
        # without WatchdogSec= there is no watchdog to ping.
        self.watchdog_enabled = self.enabled and usec.isdigit() and int(usec) > 0
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() else DEFAULT_WATCHDOG_PING_S

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *lines: str) -> None:
        if self._address is None:
            return
        message = "\n".join(lines).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, self._address)
        except OSError as exc:  # systemd gone: nothing to tell, nothing to fail
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
