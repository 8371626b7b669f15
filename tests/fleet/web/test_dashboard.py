"""The dashboard through Flask's test client: logins, CSRF, roles, sites, sessions, headers.

The app is the real one (``create_app``) on a real fleet folder and practice store; only
the clock that times sessions and lockouts is one the test moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from healthhub.fleet.staff_accounts import StaffAccounts
from healthhub.fleet.store import PracticeStore
from healthhub.fleet.web.app import create_app
from healthhub.fleet.web.auth import LOCKOUT_S, MAX_FAILURES, SESSION_IDLE_S
from tests.fleet.web.dashboard_practice import (
    NHS_NUMBER,
    PASSWORD,
    PATIENT_NAME,
    SYSTOLIC,
    Practice,
)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(practice: Practice, staff: dict[str, str], clock: Clock) -> Flask:
    return create_app(practice.layout, str(practice.store_path), clock=clock)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client: FlaskClient, name: str, password: str = PASSWORD) -> TestResponse:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


@pytest.fixture
def as_user(app: Flask) -> Callable[[str], FlaskClient]:
    def client_of(name: str) -> FlaskClient:
        client = app.test_client()
        response = log_in(client, name)
        assert response.status_code == 303, response.get_data(as_text=True)
        assert response.headers["Location"] == "/status"
        return client

    return client_of


def ack(client: FlaskClient, alert_id: str, token: str | None = None) -> TestResponse:
    if token is None:
        token = csrf_of(client.get("/alerts").get_data(as_text=True))
    return client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf_token": token})


def acknowledged_by(practice: Practice, alert_id: str) -> str | None:
    store = PracticeStore(practice.store_path)
    try:
        (alert,) = [a for a in store.alerts() if a["id"] == alert_id]
        return alert["acknowledged_by"]  # type: ignore[no-any-return]
    finally:
        store.close()


def test_pages_need_a_login(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/status", "/alerts", "/reports", "/reports/view", "/reports.csv"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/login"


def test_a_good_login_rotates_the_session_and_a_bad_one_says_nothing_more(app: Flask) -> None:
    client = app.test_client()
    before = csrf_of(client.get("/login").get_data(as_text=True))
    wrong = client.post(
        "/login", data={"username": "alice", "password": "not it at all!", "csrf_token": before}
    )
    unknown = client.post(
        "/login", data={"username": "mallory", "password": PASSWORD, "csrf_token": before}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "not right" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).replace("alice", "X") == unknown.get_data(
        as_text=True
    ).replace("mallory", "X")  # the same answer for a wrong password and an unknown name
    assert log_in(client, "alice").status_code == 303
    page = client.get("/status").get_data(as_text=True)
    assert csrf_of(page) != before  # a new CSRF token (and session id) at login
    assert "alice" in page


def test_five_failures_lock_the_name_even_for_the_right_password(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        assert log_in(client, "alice", "wrong password here").status_code == 401
    locked = log_in(client, "alice")
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert log_in(app.test_client(), "bob").status_code == 303  # other names are not locked
    clock.now += LOCKOUT_S
    assert log_in(client, "alice").status_code == 303


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    client = as_user("alice")
    alert = practice.alerts["a_help"]
    assert client.post(f"/alerts/{alert}/acknowledge").status_code == 400
    assert ack(client, alert, token="forged-token").status_code == 403
    other = as_user("admin")  # another session's token is wrong here too
    stolen = csrf_of(other.get("/alerts").get_data(as_text=True))
    assert ack(client, alert, token=stolen).status_code == 403
    assert acknowledged_by(practice, alert) is None
    # the login form is protected too (no login CSRF)
    fresh = client.application.test_client()
    response = fresh.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert client.post("/logout").status_code == 400


def test_practice_staff_see_and_acknowledge_only_their_sites(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    client = as_user("alice")
    status = client.get("/status").get_data(as_text=True)
    assert "kiosk-a1" in status
    assert "wall-a2" in status
    assert "kiosk-b1" not in status
    assert "practice-b" not in status
    alerts = client.get("/alerts").get_data(as_text=True)
    assert practice.alerts["a_urgent"] in alerts
    assert practice.alerts["b_urgent"] not in alerts
    assert "kiosk-b1" not in alerts
    # another site's alert is "not found", exactly like an id that does not exist
    assert ack(client, practice.alerts["b_urgent"]).status_code == 404
    assert ack(client, "0190d5a4-0000-7000-8000-000000000000").status_code == 404
    assert ack(client, "../../etc").status_code == 404
    assert acknowledged_by(practice, practice.alerts["b_urgent"]) is None
    done = ack(client, practice.alerts["a_help"])
    assert done.status_code == 303
    assert acknowledged_by(practice, practice.alerts["a_help"]) == "alice"
    page = client.get("/alerts").get_data(as_text=True)
    assert "Alert from wall-a2 acknowledged." in page
    row = re.search(rf'<tr id="alert-{practice.alerts["a_help"]}" class="([^"]*)"', page)
    assert row is not None
    assert row.group(1) == "acknowledged"


def test_a_viewer_sees_but_cannot_acknowledge(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    client = as_user("victor")
    page = client.get("/alerts").get_data(as_text=True)
    assert practice.alerts["a_help"] in page
    assert "/acknowledge" not in page  # no button
    assert ack(client, practice.alerts["a_help"], token=csrf_of(page)).status_code == 403
    assert ack(client, practice.alerts["b_urgent"], token=csrf_of(page)).status_code == 404
    assert acknowledged_by(practice, practice.alerts["a_help"]) is None
    assert "kiosk-b1" not in client.get("/status").get_data(as_text=True)


def test_the_reports_figures_download_as_csv_for_the_accounts_sites_only(
    as_user: Callable[[str], FlaskClient],
) -> None:
    client = as_user("victor")  # a viewer of practice-a
    assert 'href="/reports.csv?' in client.get("/reports").get_data(as_text=True)
    response = client.get("/reports.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="healthhub-')
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "scope,site,device,metric,key,value"
    sites = {line.split(",")[1] for line in lines[1:]}
    assert sites == {"", "practice-a"}, "the PCN rows and the account's own site only"
    assert NHS_NUMBER not in response.get_data(as_text=True)
    assert client.get("/reports.csv?site=practice-b").status_code == 404
    assert client.get("/reports.csv?start=2026-13-01").status_code == 400


def test_a_fleet_admin_sees_every_site_and_the_first_acknowledgement_stands(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    admin, bob = as_user("admin"), as_user("bob")
    status = admin.get("/status").get_data(as_text=True)
    assert all(d in status for d in ("kiosk-a1", "wall-a2", "kiosk-b1"))
    assert ack(bob, practice.alerts["b_urgent"]).status_code == 303
    assert ack(admin, practice.alerts["b_urgent"]).status_code == 303
    assert acknowledged_by(practice, practice.alerts["b_urgent"]) == "bob"
    page = admin.get("/alerts").get_data(as_text=True)
    assert "already acknowledged by bob" in page
    assert ack(admin, practice.alerts["a_form"]).status_code == 303


def test_the_alerts_page_shows_open_first_escalations_and_time_to_acknowledge(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    page = as_user("alice").get("/alerts").get_data(as_text=True)
    order = [m for m in re.findall(r'<tr id="alert-([0-9a-f-]+)"', page)]
    ids = practice.alerts
    assert order == [ids["a_form"], ids["a_help"], ids["a_urgent"], ids["a_done"]]
    urgent = page[page.index(f'id="alert-{ids["a_urgent"]}"') :]
    assert urgent.startswith(f'id="alert-{ids["a_urgent"]}" class="open escalated"')
    assert "Escalated at" in urgent[: urgent.index("</tr>")]
    done = page[page.index(f'id="alert-{ids["a_done"]}"') :]
    assert "by carol" in done
    assert "after 12 min" in done
    assert "phq-9: same day callback" in page
    assert "blood pressure (urgent)" in page


def test_logout_ends_the_session_on_the_server(
    as_user: Callable[[str], FlaskClient],
) -> None:
    client = as_user("alice")
    kept = client.get_cookie("healthhub")
    assert kept is not None
    token = csrf_of(client.get("/status").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    replay = client.application.test_client()
    replay.set_cookie("healthhub", kept.value)  # the cookie as it was before logging out
    response = replay.get("/status")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


def test_sessions_expire_when_idle_and_a_disabled_account_is_out_at_once(
    as_user: Callable[[str], FlaskClient], practice: Practice, clock: Clock
) -> None:
    idle, busy = as_user("alice"), as_user("victor")
    clock.now += SESSION_IDLE_S + 1
    assert idle.get("/status").status_code == 303
    busy = as_user("victor")
    assert busy.get("/status").status_code == 200
    StaffAccounts(practice.layout).set_disabled("victor")  # as `staff disable` does
    assert busy.get("/status").status_code == 303
    assert log_in(busy, "victor").status_code == 401


def test_every_response_carries_the_security_headers(
    as_user: Callable[[str], FlaskClient], app: Flask
) -> None:
    client = as_user("alice")
    for response in (
        app.test_client().get("/login"),
        client.get("/status"),
        client.get("/alerts"),
        client.get("/reports"),
        client.get("/nowhere"),
    ):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert "<script" not in response.get_data(as_text=True)
    cookie = client.get_cookie("healthhub")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Strict"


def test_over_tls_the_cookie_is_secure_and_host_only(
    practice: Practice, staff: dict[str, str]
) -> None:
    app = create_app(practice.layout, str(practice.store_path), secure_cookies=True)
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost")
    assert "max-age=" in page.headers["Strict-Transport-Security"]
    token = csrf_of(page.get_data(as_text=True))
    response = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    assert response.status_code == 303
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("__Host-healthhub=")
    assert "Secure" in set_cookie
    assert "HttpOnly" in set_cookie
    assert "SameSite=Strict" in set_cookie
    assert "Domain" not in set_cookie


def test_status_shows_what_the_bridge_last_saw(as_user: Callable[[str], FlaskClient]) -> None:
    page = as_user("admin").get("/status").get_data(as_text=True)
    kiosk = page[page.index('id="device-kiosk-a1"') : page.index('id="device-wall-a2"')]
    assert "online" in kiosk
    assert "3 waiting" in kiosk
    assert "oldest 42 s" in kiosk
    assert "agent 0.1.0" in kiosk
    assert "config 7/3/-" in kiosk  # the layers it reported holding, kept by the bridge
    assert "content 4/2/-" in kiosk
    assert "bp: " in kiosk
    assert "battery 80%" in kiosk
    assert "scale not found on /dev/ttyUSB0" in kiosk  # an error's detail
    wall = page[page.index('id="device-wall-a2"') :]
    assert "offline" in wall[: wall.index("</tr>")]
    assert "2 of 3 units online, as last seen by the bridge" in page


def test_no_page_shows_patient_identity_or_values(
    as_user: Callable[[str], FlaskClient], practice: Practice
) -> None:
    client = as_user("admin")
    store = PracticeStore(practice.store_path)
    try:
        readings = [r["id"] for r in store.readings()]
        assert any(a["reading"] in readings for a in store.alerts())  # the alert names one
    finally:
        store.close()
    for path in ("/status", "/alerts", "/reports"):
        page = client.get(path).get_data(as_text=True)
        for secret in (NHS_NUMBER, PATIENT_NAME, str(SYSTOLIC), "nearly_every_day", *readings):
            assert secret not in page, (path, secret)
