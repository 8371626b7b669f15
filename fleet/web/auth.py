"""Who may do what on the dashboard, and the server-side state that proves who is asking.

- :func:`allowed` is the one authorisation rule; every page and every POST asks it.
- :class:`LoginThrottle` locks a user name for a while after repeated wrong passwords.
- :class:`SessionTable` holds the live sessions: the browser's (signed) cookie carries
  only a random session id, so logging out, disabling an account or restarting the
  dashboard ends a session on the server, whatever the browser kept.

Both tables live in the dashboard's memory: a restart logs everyone out and forgets
lockouts, which fails safe (one process serves the dashboard; ``docs/decisions.md``).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from healthhub.fleet.staff_accounts import StaffAccount

Action = Literal["view", "acknowledge"]
Clock = Callable[[], float]

MAX_FAILURES = 5
LOCKOUT_S = 15 * 60.0
SESSION_ABSOLUTE_S = 8 * 3600.0
SESSION_IDLE_S = 30 * 60.0
MAX_SESSIONS = 10_000  # a bound on memory; expired sessions are swept first
MAX_TRACKED_NAMES = 10_000


def allowed(account: StaffAccount, action: Action, site: str) -> bool:
    """May ``account`` do ``action`` on ``site``'s data? The dashboard's only rule.

    fleet_admin: everything, every site. practice_staff: view and acknowledge their
    sites'. viewer: view their sites'. A disabled account may do nothing.
    """
    if account.disabled:
        return False
    if account.role == "fleet_admin":
        return True
    if site not in account.sites:
        return False
    if account.role == "practice_staff":
        return action in ("view", "acknowledge")
    if account.role == "viewer":
        return action == "view"
    return False


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a CSRF token; a missing one never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class LoginThrottle:
    """After ``MAX_FAILURES`` wrong passwords for a name, refuse it for ``LOCKOUT_S``.

    Counted per name, not per address, so a guesser cannot spread over addresses; a
    locked name is refused before its password is checked.
    """

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (count, locked until)
        self._lock = threading.Lock()

    def locked(self, username: str) -> bool:
        with self._lock:
            _, until = self._failures.get(username, (0, 0.0))
            return until > self._clock()

    def failed(self, username: str) -> None:
        with self._lock:
            now = self._clock()
            count, until = self._failures.get(username, (0, 0.0))
            if until and until <= now:
                count = 0  # the last lockout is over: count afresh
            count += 1
            if len(self._failures) >= MAX_TRACKED_NAMES and username not in self._failures:
                self._sweep(now)
            self._failures[username] = (count, now + LOCKOUT_S if count >= MAX_FAILURES else 0.0)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username, None)

    def _sweep(self, now: float) -> None:
        self._failures = {
            name: (count, until)
            for name, (count, until) in self._failures.items()
            if until > now  # keep lockouts; forget mere counts when the table is full
        }


@dataclass
class Session:
    username: str
    started: float
    last_seen: float


class SessionTable:
    """Live sessions by random id, with an absolute and an idle lifetime."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, username: str) -> str:
        with self._lock:
            now = self._clock()
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions = {
                    sid: s for sid, s in self._sessions.items() if self._alive(s, now)
                }
                if len(self._sessions) >= MAX_SESSIONS:  # evict the longest idle
                    oldest = min(self._sessions, key=lambda sid: self._sessions[sid].last_seen)
                    del self._sessions[oldest]
            sid = secrets.token_urlsafe(32)
            self._sessions[sid] = Session(username, now, now)
            return sid

    def current(self, sid: str | None) -> Session | None:
        """The live session ``sid`` (its idle clock restarted), or None if it has ended."""
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            now = self._clock()
            if session is None:
                return None
            if not self._alive(session, now):
                del self._sessions[sid]
                return None
            session.last_seen = now
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    @staticmethod
    def _alive(session: Session, now: float) -> bool:
        return (
            now - session.started < SESSION_ABSOLUTE_S and now - session.last_seen < SESSION_IDLE_S
        )
