"""The running bridge escalates alerts nobody acknowledged and tells the practice's program."""

from __future__ import annotations

import json
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from processes import bridge, run_cli, wait_until

from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.provisioning.broker_process import BrokerProcess

NOTIFY = """#!{python}
import json, pathlib, sys
told = pathlib.Path({out!r})
lines = told.read_text().splitlines() if told.exists() else []
told.write_text("\\n".join([*lines, json.dumps(json.load(sys.stdin))]) + "\\n")
"""


def _ago(minutes: float) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _alert(store: PracticeStore, seq: int, minutes_ago: float) -> str:
    received = _ago(minutes_ago)
    route = {"notify": ["duty-clinician"], "escalate_after_s": 300, "escalate_to": ["manager"]}
    body = {
        "reason": "urgent_result",
        "session": str(uuid7()),
        "reading": str(uuid7()),
        "measure": "blood_pressure",
        "level": "urgent",
        "route": route,
    }
    env = Envelope(str(uuid7()), "wall-1", "practice-a", seq, "alerts", "urgent_result",
                   received, {})  # fmt: skip
    store.file([Filed(env, body, received)])
    return env.id


def test_the_bridge_escalates_an_unacknowledged_alert_once_and_runs_the_program(
    fleet: FleetLayout, broker: BrokerProcess, tmp_path: Path
) -> None:
    path = tmp_path / "practice.sqlite"
    store = PracticeStore(path)
    waiting = _alert(store, 1, minutes_ago=11)  # two periods of 5 min: level 2
    seen = _alert(store, 2, minutes_ago=11)
    store.acknowledge_alert(seen, "dr.jones")
    fresh = _alert(store, 3, minutes_ago=0)  # not due for 5 minutes
    store.close()
    program, told = tmp_path / "page-duty", tmp_path / "told.jsonl"
    program.write_text(NOTIFY.format(python=sys.executable, out=str(told)))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)

    options = ("--escalate-every", "0.2", "--notify-command", f"{program} --quiet")
    the_bridge = bridge(fleet.root, path, tmp_path, options=options).start()
    try:
        wait_until(told.exists, 60, "the practice's program told of the escalation")
        # several more checks pass: the level is told once
        wait_until(lambda: the_bridge.log().count("ESCALATED") >= 1, 30, "the log line")
        listed = json.loads(
            run_cli("healthhub-fleet", "alerts", "--store", str(path), "--json").stdout
        )
    finally:
        assert the_bridge.stop() == 0
    (escalation,) = [json.loads(line) for line in told.read_text().splitlines()]
    assert escalation["alert_id"] == waiting
    assert (escalation["level"], escalation["groups"]) == (2, ["manager"])
    assert escalation["site"] == "practice-a"
    states = {a["id"]: a for a in listed}
    assert states[waiting]["escalations"] == 2
    assert states[seen]["escalations"] == 0
    assert states[fresh]["escalations"] == 0
    assert the_bridge.log().count("ESCALATED") == 1
    shown = run_cli("healthhub-fleet", "alerts", "--store", str(path), "--open").stdout
    assert "ESCALATED x2 to manager" in shown


def test_a_notify_command_that_cannot_be_parsed_is_refused(
    fleet: FleetLayout, tmp_path: Path
) -> None:
    result = run_cli(
        "healthhub-fleet", "bridge", "--fleet", str(fleet.root), "--store",
        str(tmp_path / "s.sqlite"), "--notify-command", "'unbalanced", check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--notify-command" in result.stderr
