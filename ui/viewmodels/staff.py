"""The staff screen: a long press on the top-left corner, a PIN the agent checks, then status.

It shows what IT and practice staff need (device, site, link, outbox depth and
bound, peripherals, versions, configuration problems) and nothing about
patients. The PIN is never kept after it is checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from healthhub.protocol import local_api as api
from healthhub.ui.viewmodels.keypad import DigitEntry
from healthhub.ui.viewmodels.observable import AgentPort, Observable

LONG_PRESS_S = 3.0


class Staff(Observable):
    def __init__(self, agent: AgentPort, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.agent = agent
        self._clock = clock
        self._pressed_at: float | None = None
        self.asking_pin = False
        self.unlocked = False
        self.pin = DigitEntry(12)
        self.error = ""
        self.report: dict[str, Any] = {}

    # A long press: the corner is held for LONG_PRESS_S (the app calls these on touch down/up).
    def corner_down(self) -> None:
        self._pressed_at = self._clock()

    def corner_up(self) -> bool:
        """True (and the PIN pad opens) if the corner was held long enough."""
        pressed, self._pressed_at = self._pressed_at, None
        if pressed is not None and self._clock() - pressed >= LONG_PRESS_S:
            self.asking_pin = True
            self.pin.clear()
            self.error = ""
            self.changed()
            return True
        return False

    async def unlock(self) -> None:
        pin = self.pin.digits
        self.pin.clear()
        try:
            await self.agent.call("staff.unlock", pin=pin)
        except api.LocalApiError as exc:
            self.error = exc.message
            self.changed()
            return
        except Exception as exc:  # AgentUnavailable
            self.error = str(exc)
            self.changed()
            return
        self.asking_pin, self.unlocked, self.error = False, True, ""
        await self.refresh()

    async def refresh(self) -> None:
        if not self.unlocked:
            return
        try:
            self.report = await self.agent.call("status")
        except Exception as exc:  # shown as it is: this is for staff
            self.report = {"error": str(exc)}
        self.changed()

    def close(self) -> None:
        self.asking_pin = self.unlocked = False
        self.pin.clear()
        self.report = {}
        self.error = ""
        self.changed()


def status_lines(report: dict[str, Any], ui_version: str, problems: list[str]) -> list[str]:
    """The staff screen's lines (English: it is for staff, and read by support)."""
    if "error" in report:
        return [f"agent: {report['error']}", *problems]
    link = report.get("link", {})
    outbox = report.get("outbox", {})
    lines = [
        f"Device {report.get('device', '?')}  ·  site {report.get('site', '?')}",
        f"Link: {link.get('state', '?')}"
        + (f" ({link['last_error']})" if link.get("last_error") else ""),
        f"Outbox: {outbox.get('depth', '?')} of {outbox.get('bound', '?')} waiting"
        + (f", oldest {outbox['oldest_age_s']:.0f} s" if outbox.get("oldest_age_s") else ""),
    ]
    for name, peripheral in sorted(report.get("peripherals", {}).items()):
        detail = f" ({peripheral['detail']})" if peripheral.get("detail") else ""
        battery = peripheral.get("battery")
        charge = f", battery {battery}%" if isinstance(battery, int) else ""
        lines.append(f"Peripheral {name}: {peripheral.get('state')}{detail}{charge}")
    versions = report.get("versions", {})
    lines.append(
        f"Versions: agent {versions.get('healthhub', '?')}, UI {ui_version}, "
        f"Python {versions.get('python', '?')}"
    )
    return lines + problems
