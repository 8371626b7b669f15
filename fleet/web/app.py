"""The practice dashboard as a WSGI application (Flask, server-rendered, no JavaScript).

:func:`create_app` wires the pages (:mod:`.login`, :mod:`.views`, :mod:`.reports`) to the
fleet folder (devices and sites, staff accounts, the session signing key) and to the
practice store, and puts :mod:`.guard` around every request. ``healthhub-fleet serve``
(:mod:`healthhub.fleet.web_cli`) runs it under a production WSGI server.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.staff_accounts import StaffAccounts, staff_dir
from healthhub.fleet.store import StoreError
from healthhub.fleet.web import guard, login, reports, views
from healthhub.fleet.web.auth import SESSION_ABSOLUTE_S, Clock, LoginThrottle, SessionTable
from healthhub.fleet.web.context import EXTENSION, Dashboard, current_account
from healthhub.fleet.web.formatting import LOCAL_NAME, duration, when
from healthhub.fleet.web.store_access import SharedStore
from healthhub.protocol.errors import HealthHubError
from healthhub.protocol.files import write_atomic
from healthhub.protocol.fleet_layout import FleetLayout

log = logging.getLogger("healthhub.fleet.web")

MAX_FORM_BYTES = 16 * 1024  # a login or an acknowledgement; nothing bigger is posted
ROLE_LABELS = {"viewer": "Viewer", "practice_staff": "Practice staff", "fleet_admin": "Fleet admin"}


class DashboardError(HealthHubError):
    """The dashboard cannot start (a damaged session key)."""


def session_key(layout: FleetLayout) -> bytes:
    """``FLEET/staff/session.key``: 32 random bytes (0600) that sign the session cookies,
    made on first use; deleting it logs everyone out."""
    folder = staff_dir(layout)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / "session.key"
    if not path.exists():
        write_atomic(path, secrets.token_bytes(32), mode=0o600)
    key = path.read_bytes()
    if len(key) < 32:
        raise DashboardError(
            f"{path} is damaged (shorter than 32 bytes): delete it to make a new one"
        )
    return key


def create_app(
    layout: FleetLayout,
    store_target: str | Path,
    *,
    secure_cookies: bool = False,
    clock: Clock = time.monotonic,
) -> Flask:
    """The dashboard for fleet ``layout`` and the practice store ``store_target``.

    ``secure_cookies``: served over TLS, so cookies are ``Secure`` (``__Host-`` prefixed)
    and responses carry HSTS. ``clock`` (monotonic seconds) times sessions and lockouts.
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_key(layout),
        SESSION_COOKIE_NAME="__Host-healthhub" if secure_cookies else "healthhub",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=SESSION_ABSOLUTE_S),
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions[EXTENSION] = Dashboard(
        layout=layout,
        accounts=StaffAccounts(layout),
        registry=DeviceRegistry(layout),
        store=SharedStore(store_target),
        throttle=LoginThrottle(clock),
        sessions=SessionTable(clock),
    )
    app.before_request(guard.load_account)
    app.before_request(guard.check_csrf)
    app.after_request(guard.security_headers)
    for blueprint in (login.blueprint, views.blueprint, reports.blueprint):
        app.register_blueprint(blueprint)
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.globals.update(
        csrf_token=guard.csrf_token,
        current_account=current_account,
        local_zone=LOCAL_NAME,
        role_labels=ROLE_LABELS,
    )
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreError, _store_error)
    return app


def _http_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    return render_template("error.html", code=code, title=error.name, text=error.description), code


def _store_error(error: StoreError) -> tuple[str, int]:
    log.error("practice store: %s", error)
    text = "The practice store cannot be read just now. Try again in a minute."
    return render_template("error.html", code=503, title="Store unavailable", text=text), 503
