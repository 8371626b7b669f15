"""The local API against a real agent: a patient's session from start to the practice store."""

from __future__ import annotations

import json
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from processes import Enrol, agent, bridge, configure_kiosk, run_cli, wait_until
from ui_probe import UiProbe, run_ui

from healthhub.agent.local_client import AgentUnavailable
from healthhub.agent.staff_pin import hash_pin
from healthhub.protocol import local_api as api
from healthhub.provisioning.broker_process import BrokerProcess

URGENT = {"systolic": 186, "diastolic": 121, "pulse": 90}
IMPOSSIBLE = {"systolic": 90, "diastolic": 140, "pulse": 60}


def kiosk_config(config: Path, script: list[Any], pin: str | None = None) -> Path:
    configure_kiosk(config, script, **({"staff_pin_hash": hash_pin(pin)} if pin else {}))
    return config.parent / "state" / "agent.sock"


def committed(config: Path, store: Path, envelope_id: str) -> bool:
    """In the agent's outbox, or already confirmed by the practice (and so deleted there)."""
    db_path = config.parent / "state" / "outbox.sqlite"
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA busy_timeout = 5000")
        row = db.execute("SELECT 1 FROM outbox WHERE id = ?", (envelope_id,)).fetchone()
    return row is not None or any(r["id"] == envelope_id for r in stored(store, "readings"))


def stored(store: Path, stream: str) -> list[dict[str, Any]]:
    if not store.exists():
        return []
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        db.execute("PRAGMA busy_timeout = 5000")
        rows = db.execute(
            "SELECT id, kind, body FROM envelopes WHERE stream = ? ORDER BY seq", (stream,)
        ).fetchall()
    return [{"id": r[0], "kind": r[1], "body": json.loads(r[2])} for r in rows]


def test_a_session_reaches_the_practice_as_reading_alert_consent_and_usage(
    broker: BrokerProcess, enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("kiosk-1", role="kiosk")
    socket_path = kiosk_config(config, [URGENT])
    store = tmp_path / "practice.sqlite"
    practice = bridge(config.parents[2], store, tmp_path).start()
    the_agent = agent(config, tmp_path).start()
    seen: dict[str, Any] = {}

    async def journey(ui: UiProbe) -> None:
        hello = ui.hellos[0]
        assert hello["device"] == "kiosk-1"
        assert hello["role"] == "kiosk"
        assert "staff_pin_hash" not in hello["ui"]
        assert hello["ui"]["warning_s"] >= 20
        assert hello["peripherals"]["bp"]["kinds"] == ["blood_pressure"]
        session = (await ui.client.call("session.start"))["session"]
        started = await ui.client.call("measure.start", session=session, kinds=["blood_pressure"])
        assert started["peripherals"] == ["bp"]
        reading = await ui.until("reading", lambda: ui.event("reading", session=session))
        # The patient is shown a reading only once it is durable.
        seen["committed_before_shown"] = committed(config, store, reading["id"])
        seen["reading"] = reading
        alert = await ui.client.call(
            "alert.raise",
            session=session,
            reason="urgent_result",
            measure="blood_pressure",
            level="urgent",
            reading=reading["id"],
        )
        seen["alert"] = alert["alert"]
        sent = await ui.client.call(
            "session.send",
            session=session,
            patient={"nhs_number": "9434765919", "birth_date": "1950-03-01"},
            readings=[reading["id"]],
            context={"family_background": "not_said"},
        )
        seen["submission"] = sent["submission"]
        await ui.client.call("session.end", session=session, reason="finished", language="ur")
        with pytest.raises(api.LocalApiError) as ended:
            await ui.client.call("measure.start", session=session, kinds=["blood_pressure"])
        assert ended.value.code == "no_session"
        assert ui.event("session_ended", session=session, reason="finished")

    try:
        run_ui(socket_path, journey)
        wait_until(lambda: stored(store, "usage"), 30, "usage filed at the practice")
        alerts = stored(store, "alerts")
        submissions = stored(store, "submissions")
        readings = stored(store, "readings")
    finally:
        assert the_agent.stop() == 0
        practice.stop()
    assert seen["committed_before_shown"]
    values = {c["code"]: c["value"] for c in seen["reading"]["components"]}
    assert (values["systolic"], values["diastolic"]) == (186, 121)
    reading_row = next(r for r in readings if r["id"] == seen["reading"]["id"])
    assert reading_row["body"]["session"]
    assert [a["id"] for a in alerts] == [seen["alert"]]
    assert alerts[0]["body"]["reason"] == "urgent_result"
    assert alerts[0]["body"]["reading"] == seen["reading"]["id"]
    assert alerts[0]["body"]["route"]["notify"] == ["duty-clinician"]  # the default route
    assert submissions[0]["id"] == seen["submission"]
    assert submissions[0]["body"]["patient"]["nhs_number"] == "9434765919"
    assert submissions[0]["body"]["readings"] == [seen["reading"]["id"]]
    usage = stored(store, "usage")[0]["body"]
    assert usage["sent_to_record"] is True
    assert usage["kinds"] == ["blood_pressure"]
    assert usage["language"] == "ur"
    assert not {"patient", "session", "nhs_number"} & set(usage)
    assert "9434765919" not in the_agent.log() + practice.log()
    assert (
        "ALERT from kiosk-1 at practice-a: urgent_result blood_pressure, urgent" in practice.log()
    )
    listed = json.loads(
        run_cli("healthhub-fleet", "alerts", "--store", str(store), "--json").stdout
    )
    assert [(a["device"], a["reason"], a["level"]) for a in listed] == [
        ("kiosk-1", "urgent_result", "urgent")
    ]


def test_refused_value_and_device_lost_mid_measurement_reach_the_ui(
    enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")  # no broker: the UI is served while the link is down
    socket_path = kiosk_config(config, [IMPOSSIBLE, "disconnect"])
    the_agent = agent(config, tmp_path).start()

    async def journey(ui: UiProbe) -> None:
        assert ui.hellos[0]["link"] in {"starting", "connecting", "disconnected"}
        session = (await ui.client.call("session.start"))["session"]
        await ui.client.call("measure.start", session=session, kinds=["blood_pressure"])
        refused = await ui.until("refused", lambda: ui.event("refused", name="bp"))
        assert refused["session"] == session
        assert "systolic must be above diastolic" in refused["reason"]
        await ui.client.call("measure.start", session=session, kinds=["blood_pressure"])
        error = await ui.until("error", lambda: ui.event("peripheral", name="bp", state="error"))
        assert "disconnected" in error["detail"]
        # No reading of this session was taken: nothing is shown that was not real.
        assert ui.event("reading") is None
        with pytest.raises(api.LocalApiError) as none:
            await ui.client.call("measure.start", session=session, kinds=["body_temperature"])
        assert none.value.code == "no_device"

    try:
        run_ui(socket_path, journey)
    finally:
        assert the_agent.stop() == 0
    assert "value refused" in the_agent.log()


def test_bad_frames_get_typed_errors_and_the_connection_survives(
    enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    socket_path = kiosk_config(config, [])
    the_agent = agent(config, tmp_path).start()
    try:
        wait_until(socket_path.exists, 30, "the local API socket")
        assert socket_path.stat().st_mode & 0o777 == 0o660
        with socket.socket(socket.AF_UNIX) as raw:
            raw.connect(str(socket_path))
            reader = raw.makefile("rb")

            def ask(line: bytes) -> dict[str, Any]:
                raw.sendall(line)
                return dict(json.loads(reader.readline()))

            assert ask(b"not json\n")["error"]["code"] == "bad_request"
            assert ask(b'{"id": 1, "op": "format-disk"}\n')["error"]["code"] == "bad_request"
            assert ask(b'{"id": 2, "op": "session.end", "args": {}}\n')["error"]["code"] == (
                "no_session"
            )
            assert ask(b'{"id": 3, "op": "staff.unlock", "args": {"pin": "1"}}\n')["ok"] is False
            answer = ask(b'{"id": 4, "op": "status", "args": {}}\n')
            assert answer["ok"] is True
            assert answer["result"]["device"] == "wall-1"
            raw.sendall(b"x" * (api.MAX_LINE + 10) + b"\n")
            assert json.loads(reader.readline())["error"]["code"] == "bad_request"
            assert reader.readline() == b""  # closed after an over-long frame
        assert the_agent.running
    finally:
        assert the_agent.stop() == 0


def test_staff_pin_is_checked_by_the_agent_and_guessing_locks_it(
    enrol: Enrol, tmp_path: Path
) -> None:
    config = enrol("wall-1")
    socket_path = kiosk_config(config, [], pin="4321")
    the_agent = agent(config, tmp_path).start()

    async def staff(ui: UiProbe) -> None:
        assert ui.hellos[0]["ui"]["staff_screen"] is True
        assert await ui.client.call("staff.unlock", pin="4321") == {}
        codes = []
        for _ in range(6):
            with pytest.raises(api.LocalApiError) as wrong:
                await ui.client.call("staff.unlock", pin="0000")
            codes.append(wrong.value.code)
        assert codes == ["wrong_pin"] * 4 + ["locked_out"] * 2
        with pytest.raises(api.LocalApiError) as locked:  # even the right PIN, while locked
            await ui.client.call("staff.unlock", pin="4321")
        assert locked.value.code == "locked_out"

    try:
        run_ui(socket_path, staff)
    finally:
        assert the_agent.stop() == 0


def test_the_ui_client_reconnects_when_the_agent_restarts(enrol: Enrol, tmp_path: Path) -> None:
    config = enrol("wall-1")
    socket_path = kiosk_config(config, [])
    first = agent(config, tmp_path, name="agent-first").start()
    wait_until(socket_path.exists, 30, "the local API socket")

    async def restart(ui: UiProbe) -> None:
        session = (await ui.client.call("session.start"))["session"]
        first.kill()  # kill -9: the socket file stays behind, stale
        await ui.until("reconnecting", lambda: "reconnecting" in ui.links)
        with pytest.raises(AgentUnavailable):
            await ui.client.call("session.start")
        agent(config, tmp_path, name="agent-second").start()
        await ui.until("second hello", lambda: len(ui.hellos) >= 2, timeout=40)
        assert ui.links[-1] == "connected"
        with pytest.raises(api.LocalApiError) as gone:  # the new agent knows no old session
            await ui.client.call("measure.start", session=session, kinds=["blood_pressure"])
        assert gone.value.code == "no_session"

    run_ui(socket_path, restart)
