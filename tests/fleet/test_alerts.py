"""Staff alerts at the practice: listed, acknowledged once, escalated on the unit's route."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from processes import run_cli

from healthhub.fleet.alert_escalation import MAX_LEVEL, CommandNotifier, Escalation, escalate_due
from healthhub.fleet.alerts_cli import alert_lines
from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.ids import uuid7

ROUTE = {"notify": ["duty-clinician"], "escalate_after_s": 300, "escalate_to": ["manager"]}


def file_alert(
    store: PracticeStore,
    seq: int,
    *,
    reason: str = "urgent_result",
    received: str = "2026-11-23T10:00:00.000Z",
    route: dict[str, Any] | None = ROUTE,
    site: str = "practice-a",
) -> str:
    body: dict[str, Any] = {"reason": reason, "session": str(uuid7())}
    if reason == "urgent_result":
        body |= {"reading": str(uuid7()), "measure": "blood_pressure", "level": "urgent"}
    if route is not None:
        body["route"] = route
    env = Envelope(str(uuid7()), "wall-1", site, seq, "alerts", reason, received, {})
    store.file([Filed(env, body, received)])
    return env.id


@pytest.fixture
def store(tmp_path: Path) -> PracticeStore:
    return PracticeStore(tmp_path / "practice.sqlite")


def test_an_alert_escalates_one_level_per_period_it_stays_open(store: PracticeStore) -> None:
    alert_id = file_alert(store, 1)
    told: list[Escalation] = []
    assert escalate_due(store, told.append, now="2026-11-23T10:04:59.000Z") == []
    (first,) = escalate_due(store, told.append, now="2026-11-23T10:05:00.000Z")
    assert (first.alert_id, first.level, first.groups) == (alert_id, 1, ("manager",))
    assert first.open_minutes == 5.0
    assert escalate_due(store, told.append, now="2026-11-23T10:06:00.000Z") == []  # told once
    # a check that comes late jumps to the level due, telling once
    (late,) = escalate_due(store, told.append, now="2026-11-23T10:16:00.000Z")
    assert late.level == 3 == MAX_LEVEL
    assert escalate_due(store, told.append, now="2026-11-23T12:00:00.000Z") == []
    assert [e.level for e in told] == [1, 3]
    (shown,) = store.alerts()
    assert shown["escalations"] == 3


def test_an_acknowledged_alert_never_escalates(store: PracticeStore) -> None:
    alert_id = file_alert(store, 1)
    store.acknowledge_alert(alert_id, "dr.jones", "2026-11-23T10:02:00.000Z")
    assert escalate_due(store, now="2026-11-23T11:00:00.000Z") == []


def test_a_route_less_alert_escalates_on_the_default(store: PracticeStore) -> None:
    file_alert(store, 1, reason="help_requested", route=None)
    (made,) = escalate_due(store, now="2026-11-23T10:05:00.000Z")
    assert made.groups == ("reception",)


def test_two_escalators_tell_people_once(store: PracticeStore, tmp_path: Path) -> None:
    file_alert(store, 1)
    other = PracticeStore(tmp_path / "practice.sqlite")  # a second bridge on the same store
    now = "2026-11-23T10:05:30.000Z"
    made = escalate_due(store, now=now) + escalate_due(other, now=now)
    assert len(made) == 1


NOTIFY = """#!{python}
import json, pathlib, sys
escalation = json.load(sys.stdin)
pathlib.Path({out!r}).write_text(json.dumps(escalation))
sys.exit({code})
"""


def notify_script(tmp_path: Path, code: int = 0) -> tuple[Path, Path]:
    out, path = tmp_path / "told.json", tmp_path / "page-duty"
    path.write_text(NOTIFY.format(python=sys.executable, out=str(out), code=code))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path, out


def test_the_practice_program_is_told_what_where_and_why_never_who(
    store: PracticeStore, tmp_path: Path
) -> None:
    alert_id = file_alert(store, 1)
    program, out = notify_script(tmp_path)
    notifier = CommandNotifier([str(program)])
    escalate_due(store, notifier, now="2026-11-23T10:05:00.000Z")
    told = json.loads(out.read_text())
    assert told == {
        "alert_id": alert_id,
        "site": "practice-a",
        "device": "wall-1",
        "reason": "urgent_result",
        "level": 1,
        "groups": ["manager"],
        "open_minutes": 5.0,
    }
    assert notifier.failures == 0


def test_a_failing_program_is_counted_and_the_escalation_stands(
    store: PracticeStore, tmp_path: Path
) -> None:
    first = file_alert(store, 1)
    program, _ = notify_script(tmp_path, code=3)
    notifier = CommandNotifier([str(program)])
    assert len(escalate_due(store, notifier, now="2026-11-23T10:05:00.000Z")) == 1
    assert notifier.failures == 1
    assert store.alerts()[0]["escalations"] == 1
    missing = CommandNotifier([str(tmp_path / "no-such-program")])
    store.acknowledge_alert(first, "dr.jones")
    file_alert(store, 2)
    escalate_due(store, missing, now="2026-11-23T10:10:00.000Z")
    assert missing.failures == 1


def test_staff_acknowledge_from_the_console(store: PracticeStore, tmp_path: Path) -> None:
    first = file_alert(store, 1)
    second = file_alert(store, 2, reason="help_requested", received="2026-11-23T10:01:00.000Z")
    path = str(store.path)
    store.close()
    listed = run_cli("healthhub-fleet", "alerts", "--store", path).stdout
    assert "2 open (0 escalated), 0 acknowledged" in listed
    done = run_cli("healthhub-fleet", "alerts", "--store", path, "--ack", first, "--by", "dr.jones")
    assert "acknowledged by dr.jones" in done.stdout
    still = json.loads(
        run_cli("healthhub-fleet", "alerts", "--store", path, "--open", "--json").stdout
    )
    assert [a["id"] for a in still] == [second]
    unknown = run_cli(
        "healthhub-fleet", "alerts", "--store", path, "--ack", "nope", "--by", "x", check=False
    )
    assert unknown.returncode == 1
    assert "no alert" in unknown.stderr
    no_name = run_cli("healthhub-fleet", "alerts", "--store", path, "--ack", second, check=False)
    assert no_name.returncode == 2


def test_the_list_puts_open_alerts_first_with_time_to_acknowledge(store: PracticeStore) -> None:
    first = file_alert(store, 1)
    file_alert(store, 2, received="2026-11-23T10:01:00.000Z")
    store.acknowledge_alert(first, "dr.jones", "2026-11-23T10:04:30.000Z")
    escalate_due(store, now="2026-11-23T10:06:00.000Z")
    lines = alert_lines(store.alerts(), "2026-11-23T10:07:00.000Z")
    assert "OPEN 6 min, ESCALATED x1 to manager" in lines[1]
    assert "acknowledged by dr.jones after 4.5 min" in lines[2]
    assert lines[-1] == (
        "1 open (1 escalated), 1 acknowledged; time to acknowledge: median 4.5 min, longest 4.5 min"
    )


@pytest.mark.parametrize(
    "route",
    [
        {"escalate_to": 5, "escalate_after_s": "soon"},
        {"escalate_to": "duty", "notify": "reception"},
        {"escalate_after_s": -1, "escalate_to": [1, None]},
        ["not", "a", "route"],
    ],
)
def test_a_route_that_is_not_one_escalates_on_the_defaults(
    store: PracticeStore, route: Any
) -> None:
    file_alert(store, 1, route=route)
    (made,) = escalate_due(store, now="2026-11-23T10:05:00.000Z")
    assert made.groups == ("reception",)
    assert made.level == 1
