"""Logging in and out of the dashboard.

A wrong password, an unknown name and a disabled account get the same answer (and the
same Argon2 cost); after five failures a name is locked for fifteen minutes, whatever the
password, so guessing is slow even from many addresses.
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from healthhub.fleet.staff_accounts import USERNAME
from healthhub.fleet.web.auth import LOCKOUT_S
from healthhub.fleet.web.context import current_account, dashboard
from healthhub.fleet.web.guard import end_session, start_session

log = logging.getLogger("healthhub.fleet.web")
blueprint = Blueprint("login", __name__)

MAX_NAME = 64


@blueprint.get("/login")
def login() -> Response | str:
    if current_account() is not None:
        return redirect(url_for("views.status"), code=303)
    return render_template("login.html", error=None, username="")


@blueprint.post("/login")
def login_post() -> tuple[str, int] | Response:
    state = dashboard()
    username = request.form.get("username", "").strip().lower()[:MAX_NAME]
    password = request.form.get("password", "")
    if not username or not password:
        error = "Enter your user name and password."
        return render_template("login.html", error=error, username=username), 400
    if state.throttle.locked(username):
        log.warning("login refused: %s is locked after repeated failures", _shown(username))
        minutes = int(LOCKOUT_S // 60)
        error = f"Too many failed attempts. Try again in {minutes} minutes or ask an admin."
        return render_template("login.html", error=error, username=username), 429
    account = state.accounts.verify(username, password)
    if account is None:
        state.throttle.failed(username)
        log.warning("login failed for %s", _shown(username))
        error = "The user name or password is not right."
        return render_template("login.html", error=error, username=username), 401
    state.throttle.succeeded(username)
    start_session(account.username)
    log.info("%s (%s) logged in", account.username, account.role)
    return redirect(url_for("views.status"), code=303)


def _shown(username: str) -> str:
    """A typed name fit for the log: only one that could be a user name (a password typed
    into the name field by mistake, or a forged log line, stays out)."""
    return username if USERNAME.match(username) else "a name that is not a user name"


@blueprint.post("/logout")
def logout() -> Response:
    account = current_account()
    end_session()
    if account is not None:
        log.info("%s logged out", account.username)
    return redirect(url_for("login.login"), code=303)
