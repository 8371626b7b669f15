"""Is the release on trial healthy? What the updater waits for after switching.

The new agent writes ``STATE_DIR/software/health.json`` every second while it is on trial
(``agent/software_sync.py``): its version and pid, its link's state, and its outbox's last
and confirmed seq with the confirmed seq when it started. The release is healthy when, for
:attr:`HealthCheck.settle_s` on end, one process of that version

- is alive and writing (the record is at most :data:`STALE_S` old: a hung agent stops
  writing even though its pid lives),
- is connected to the broker, and
- has its readings confirmed by the practice: its outbox is empty, or the bridge has
  confirmed more than was confirmed when it started (so the new agent's deliveries, the
  bridge's acks and the outbox's deletes all work end to end).

A process that dies and comes back starts the settling time again, so an agent that
crashes a few seconds after connecting is not passed. The updater only reads this file; it
never opens the outbox (another user's database, and the readings in it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeGuard

from healthhub.protocol.pids import process_alive
from healthhub.protocol.software import read_small_json

log = logging.getLogger(__name__)

#: The agent writes every second; a record older than this is from a hung or dead agent.
STALE_S: Final = 10.0
SETTLE_S: Final = 10.0
POLL_S: Final = 0.5


def judge(record: dict[str, Any] | None, version: str, age_s: float) -> str | None:
    """None if ``record`` shows a healthy agent of ``version``; else why not."""
    if record is None:
        return f"no health report from {version} (did it start?)"
    return _running(record, version, age_s) or _delivering(record)


def _running(record: dict[str, Any], version: str, age_s: float) -> str | None:
    if record.get("version") != version:
        return f"the agent running is {str(record.get('version'))[:40]}, not {version}"
    if age_s > STALE_S:
        return f"the agent's health report is {age_s:.0f} s old (hung or stopped)"
    if not process_alive(record.get("pid")):
        return "the agent is not running"
    return None


def _delivering(record: dict[str, Any]) -> str | None:
    link = record.get("link")
    if link != "connected":
        return f"not connected to the broker ({str(link)[:40]})"
    last, confirmed, at_start = (
        record.get(key) for key in ("last_seq", "confirmed_seq", "confirmed_at_start")
    )
    if not (_whole(last) and _whole(confirmed) and _whole(at_start)):
        return "the health report has no outbox sequence numbers"
    if last > confirmed and confirmed <= at_start:
        return f"no reading confirmed yet (confirmed seq {confirmed}, last taken {last})"
    return None


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class HealthCheck:
    """Waits for a healthy record in ``path``."""

    path: Path
    settle_s: float = SETTLE_S
    poll_s: float = POLL_S
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    seen: list[str] = field(default_factory=list)  # each distinct reason, for the log

    def wait(self, version: str, deadline_s: float) -> tuple[bool, str]:
        """(True, what was seen) once healthy for ``settle_s``, or (False, the last reason)
        when ``deadline_s`` has passed."""
        start = self.clock()
        since: float | None = None
        pid: object = None
        reason = f"no health report from {version} (did it start?)"
        while self.clock() - start < deadline_s:
            record, age = self._read()
            problem = judge(record, version, age)
            now = self.clock()
            if problem is None and record is not None:
                if since is None or record.get("pid") != pid:
                    since, pid = now, record.get("pid")
                if now - since >= self.settle_s:
                    return True, (
                        f"{version} connected, confirmed seq {record.get('confirmed_seq')} of "
                        f"{record.get('last_seq')}, {now - start:.0f} s after the switch"
                    )
            else:
                since = None
                reason = problem or reason
                if not self.seen or self.seen[-1] != reason:
                    self.seen.append(reason)
                    log.info("health check: %s", reason)
            self.sleep(self.poll_s)
        return False, f"not healthy within {deadline_s:g} s: {reason}"

    def _read(self) -> tuple[dict[str, Any] | None, float]:
        try:
            age = max(0.0, time.time() - self.path.stat().st_mtime)
        except OSError:
            return None, 0.0
        return read_small_json(self.path), age
