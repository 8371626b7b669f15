"""The command journal: each command id is acted on at most once, across restarts."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healthhub.agent.command_journal import JOURNAL_FILE, CommandJournal
from healthhub.protocol.commands import CLOCK_SKEW_S, MAX_LIFETIME_S, Command, make

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / JOURNAL_FILE


def journal(path: Path, clock: Clock, max_entries: int = 1000) -> CommandJournal:
    return CommandJournal(path, max_entries=max_entries, clock=clock)


def command(name: str = "identify", *, at: datetime = NOW, lifetime_s: float = 300) -> Command:
    return make("kiosk-1", name, lifetime_s=lifetime_s, now=at)


def test_admit_then_a_replay_is_rejected(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    first = command()
    assert held.admit(first, NOW) is None
    reason = held.admit(first, NOW + timedelta(seconds=5))
    assert reason == (
        f"replayed: command {first.id} was already accepted at 2026-11-23T10:00:00.000Z (accepted)"
    )
    held.finish(first.id, "succeeded")
    assert "(succeeded)" in str(held.admit(first, NOW + timedelta(seconds=10)))
    assert held.admit(command(), NOW) is None  # another id is fine


def test_accepted_is_on_disk_before_admit_returns(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    first = command("reboot")
    assert held.admit(first, NOW) is None
    on_disk = json.loads(path.read_bytes())
    assert [(e["id"], e["state"]) for e in on_disk["entries"]] == [(first.id, "accepted")]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "args" not in on_disk["entries"][0]


def test_a_replay_after_a_restart_is_still_rejected(path: Path, clock: Clock) -> None:
    first = command()
    held = journal(path, clock)
    assert held.admit(first, NOW) is None
    held.finish(first.id, "succeeded")
    again = journal(path, clock)  # the agent restarted
    assert str(again.admit(first, NOW + timedelta(seconds=30))).startswith("replayed:")
    assert again.get(first.id) is not None


def test_unfinished_after_a_restart_are_resolved(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    commands = {name: command(name) for name in ("reboot", "restart-agent", "identify")}
    for name, cmd in commands.items():
        assert held.admit(cmd, NOW) is None, name
    done = command("flush-outbox-now")
    assert held.admit(done, NOW) is None
    held.finish(done.id, "succeeded", detail={"sent": 3})

    clock.now = NOW + timedelta(seconds=90)
    after = journal(path, clock)  # the Pi rebooted in the middle
    assert [e.id for e in after.unfinished()] == [c.id for c in commands.values()]
    resolved = {e.name: e for e in after.resolve_unfinished()}
    assert resolved["reboot"].state == "succeeded"
    assert resolved["restart-agent"].state == "succeeded"
    assert resolved["identify"].state == "failed"
    assert resolved["identify"].reason == "interrupted by a restart"
    assert resolved["identify"].at == "2026-11-23T10:01:30.000Z"
    assert after.unfinished() == []
    assert journal(path, clock).unfinished() == []  # and that is durable


def test_finish_records_the_end_once(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    first = command("collect-logs")
    assert held.admit(first, NOW) is None
    with pytest.raises(ValueError, match="succeeded or failed"):
        held.finish(first.id, "rejected")
    clock.now = NOW + timedelta(seconds=2)
    held.finish(first.id, "failed", "no logs", detail={"lines": ["x" * 5000]})
    entry = held.get(first.id)
    assert entry is not None
    assert entry.state == "failed"
    assert entry.reason == "no logs"
    assert entry.detail is not None
    assert "lines" not in entry.detail  # collected logs are not kept on the card
    with pytest.raises(ValueError, match="already failed"):
        held.finish(first.id, "succeeded")
    with pytest.raises(KeyError):
        held.finish(command().id, "succeeded")


def test_last_and_to_json(path: Path, clock: Clock) -> None:
    held = journal(path, clock, max_entries=7)
    assert held.last() is None
    assert held.to_json() == {"entries": 0, "bound": 7, "last": None}
    first = command("identify")
    assert held.admit(first, NOW) is None
    clock.now = NOW + timedelta(seconds=3)
    held.finish(first.id, "succeeded")
    assert held.to_json() == {
        "entries": 1,
        "bound": 7,
        "last": {
            "id": first.id,
            "name": "identify",
            "state": "succeeded",
            "at": "2026-11-23T10:00:03.000Z",
            "reason": "",
        },
    }
    last = journal(path, clock).last()
    assert last is not None
    assert last.id == first.id


def test_entries_are_pruned_after_expiry(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    old = command(lifetime_s=60)
    assert held.admit(old, NOW) is None
    held.finish(old.id, "succeeded")
    pending = command("reboot", lifetime_s=60)
    assert held.admit(pending, NOW) is None  # never finished: kept until resolved

    # Until expiry plus the skew allowance the id is kept (a replay is a replay).
    just_before = NOW + timedelta(seconds=60 + CLOCK_SKEW_S)
    assert held.admit(command(at=just_before), just_before) is None
    assert held.get(old.id) is not None

    later = just_before + timedelta(seconds=1)
    assert held.admit(command(at=later), later) is None
    assert held.get(old.id) is None  # pruned on that write
    assert held.get(pending.id) is not None
    assert old.id not in path.read_text()
    # and its replay is refused for being expired, the caller's first check
    assert str(held.admit(old, later)).startswith("expired:")
    assert held.last() is not None  # the last command is kept apart from the entries


def test_the_bound_refuses_when_full(path: Path, clock: Clock) -> None:
    held = journal(path, clock, max_entries=3)
    for _ in range(3):
        assert held.admit(command(), NOW) is None
    assert held.admit(command(), NOW) == "too many commands in flight; bound 3"
    assert len(held) == 3
    assert len(json.loads(path.read_bytes())["entries"]) == 3
    # once the finished ones expire there is room again
    for entry in held.unfinished():
        held.finish(entry.id, "succeeded")
    later = NOW + timedelta(seconds=300 + CLOCK_SKEW_S + 1)
    assert held.admit(command(at=later), later) is None
    assert len(held) == 1


def test_unfinished_entries_hold_their_place_in_the_bound(path: Path, clock: Clock) -> None:
    held = journal(path, clock, max_entries=1)
    assert held.admit(command("reboot", lifetime_s=10), NOW) is None
    much_later = NOW + timedelta(hours=2)
    assert "bound 1" in str(held.admit(command(at=much_later), much_later))


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"\x00\x00\x00\x00",
        b'{"version": 1, "entries": [{"id": "x"}]}',
        b'{"version": 99, "entries": []}',
        b'{"version": 1, "entries": {}}',
        b'{"version": 1, "entries": [], "not_before": "whenever"}',
    ],
)
def test_a_damaged_journal_is_put_aside(
    path: Path, clock: Clock, damage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path.write_bytes(damage)
    with caplog.at_level(logging.ERROR):
        held = journal(path, clock)
    assert "is damaged" in caplog.text
    assert path.with_name("commands.json.damaged").read_bytes() == damage
    assert len(held) == 0
    assert held.not_before == NOW
    assert json.loads(path.read_bytes())["not_before"] == "2026-11-23T10:00:00.000Z"


def test_after_damage_old_commands_are_refused_and_new_ones_taken(path: Path, clock: Clock) -> None:
    early = command(at=NOW - timedelta(minutes=2))
    held = journal(path, clock)
    assert held.admit(early, NOW - timedelta(minutes=2)) is None
    path.write_bytes(b"{truncated by a power cut")

    clock.now = NOW
    recovered = journal(path, clock)
    # The replay of a command run before the damage cannot be recognised by its id any more:
    reason = recovered.admit(early, NOW)
    assert reason is not None
    assert "before the command journal was found damaged at 2026-11-23T10:00:00.000Z" in reason
    # nor one issued just after, within the clock-skew allowance
    assert recovered.admit(command(at=NOW + timedelta(seconds=10)), NOW) is not None
    fresh = command(at=NOW + timedelta(seconds=CLOCK_SKEW_S + 1))
    assert recovered.admit(fresh, NOW + timedelta(seconds=CLOCK_SKEW_S + 1)) is None

    # not_before survives another restart ...
    again = journal(path, clock)
    assert again.not_before == NOW
    assert again.admit(early, NOW + timedelta(seconds=60)) is not None
    # ... and is dropped once everything issued before it has expired
    late = NOW + timedelta(seconds=MAX_LIFETIME_S + 2 * CLOCK_SKEW_S + 1)
    assert again.admit(command(at=late), late) is None
    assert journal(path, clock).not_before is None  # dropped, durably


def test_a_journal_put_aside_but_not_replaced_still_protects(path: Path, clock: Clock) -> None:
    # A power cut between putting the damaged file aside and writing the new one.
    path.with_name("commands.json.damaged").write_bytes(b"junk")
    held = journal(path, clock)
    assert held.not_before == NOW
    assert path.exists()


def test_a_first_start_has_no_not_before(path: Path, clock: Clock) -> None:
    held = journal(path, clock)
    assert held.not_before is None
    assert held.admit(command(at=NOW - timedelta(minutes=1)), NOW) is None


def test_a_journal_that_cannot_be_written_refuses_to_run(tmp_path: Path, clock: Clock) -> None:
    state = tmp_path / "state"
    state.mkdir()
    held = journal(state / JOURNAL_FILE, clock)
    state.rmdir()  # the card went away (a permission check would not stop root)
    first = command()
    reason = held.admit(first, NOW)
    assert reason is not None
    assert "cannot be written" in reason
    assert held.get(first.id) is None  # so that sending it again is not taken as a replay
    assert held.last() is None


def test_max_entries_must_be_positive(path: Path, clock: Clock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        journal(path, clock, max_entries=0)
