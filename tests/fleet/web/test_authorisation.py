"""The dashboard's one authorisation rule, its login throttle and its session lifetimes.

Time is a clock the test moves (monotonic seconds), never the wall clock.
"""

from __future__ import annotations

import pytest

from healthhub.fleet.staff_accounts import StaffAccount
from healthhub.fleet.web.auth import (
    LOCKOUT_S,
    MAX_FAILURES,
    SESSION_ABSOLUTE_S,
    SESSION_IDLE_S,
    LoginThrottle,
    SessionTable,
    allowed,
    same_token,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def account(
    role: str, sites: tuple[str, ...] = ("practice-a",), disabled: bool = False
) -> StaffAccount:
    return StaffAccount("someone", role, sites, "2026-11-23T10:00:00.000Z", disabled, "x")


@pytest.mark.parametrize(
    ("role", "sites", "site", "view", "acknowledge"),
    [
        ("viewer", ("practice-a",), "practice-a", True, False),
        ("viewer", ("practice-a",), "practice-b", False, False),
        ("practice_staff", ("practice-a",), "practice-a", True, True),
        ("practice_staff", ("practice-a",), "practice-b", False, False),
        ("practice_staff", ("practice-a", "practice-c"), "practice-c", True, True),
        ("fleet_admin", (), "practice-a", True, True),
        ("fleet_admin", (), "practice-b", True, True),
        ("superuser", ("practice-a",), "practice-a", False, False),  # unknown role: nothing
    ],
)
def test_the_role_and_site_matrix(
    role: str, sites: tuple[str, ...], site: str, view: bool, acknowledge: bool
) -> None:
    who = account(role, sites)
    assert allowed(who, "view", site) is view
    assert allowed(who, "acknowledge", site) is acknowledge


@pytest.mark.parametrize("role", ["viewer", "practice_staff", "fleet_admin"])
def test_a_disabled_account_may_do_nothing(role: str) -> None:
    who = account(role, () if role == "fleet_admin" else ("practice-a",), disabled=True)
    assert not allowed(who, "view", "practice-a")
    assert not allowed(who, "acknowledge", "practice-a")


def test_csrf_tokens_match_only_when_present_and_equal() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("", "")
    assert not same_token(None, "abc")
    assert not same_token("abc", None)


def test_a_name_is_locked_after_five_failures_and_free_again_after_the_lockout() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock)
    for _ in range(MAX_FAILURES - 1):
        throttle.failed("alice")
    assert not throttle.locked("alice")
    throttle.failed("alice")
    assert throttle.locked("alice")
    assert not throttle.locked("bob")  # per name
    clock.now += LOCKOUT_S - 1
    assert throttle.locked("alice")
    clock.now += 1
    assert not throttle.locked("alice")
    throttle.failed("alice")  # a fresh count after a lockout ends
    assert not throttle.locked("alice")


def test_a_success_clears_the_count() -> None:
    throttle = LoginThrottle(Clock())
    for _ in range(MAX_FAILURES - 1):
        throttle.failed("alice")
    throttle.succeeded("alice")
    throttle.failed("alice")
    assert not throttle.locked("alice")


def test_sessions_end_when_idle_too_long() -> None:
    clock = Clock()
    sessions = SessionTable(clock)
    sid = sessions.start("alice")
    clock.now += SESSION_IDLE_S - 1
    assert sessions.current(sid) is not None  # and that use restarts the idle clock
    clock.now += SESSION_IDLE_S - 1
    assert sessions.current(sid) is not None
    clock.now += SESSION_IDLE_S
    assert sessions.current(sid) is None
    assert sessions.current(sid) is None  # gone for good


def test_sessions_end_after_the_absolute_lifetime_however_busy() -> None:
    clock = Clock()
    sessions = SessionTable(clock)
    sid = sessions.start("alice")
    while clock.now + 600 < 1000.0 + SESSION_ABSOLUTE_S:
        clock.now += 600
        assert sessions.current(sid) is not None
    clock.now = 1000.0 + SESSION_ABSOLUTE_S
    assert sessions.current(sid) is None


def test_ending_a_session_ends_it_on_the_server_and_only_it() -> None:
    sessions = SessionTable(Clock())
    first, second = sessions.start("alice"), sessions.start("alice")
    assert first != second
    sessions.end(first)
    assert sessions.current(first) is None
    assert sessions.current(second) is not None
    assert sessions.current(None) is None
    assert sessions.current("made-up") is None
