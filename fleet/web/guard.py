"""What runs around every dashboard request: who is asking, CSRF, security headers.

The session cookie (signed with ``FLEET/staff/session.key``) holds a random session id and
the CSRF token; the id counts only while :class:`~healthhub.fleet.web.auth.SessionTable`
holds it and the account it belongs to exists and is enabled, so a disabled account is
logged out at its next request.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flask import Response, abort, current_app, g, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from healthhub.fleet.web.auth import same_token
from healthhub.fleet.web.context import current_account, dashboard

P = ParamSpec("P")
R = TypeVar("R")

CSRF_FIELD = "csrf_token"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def load_account() -> None:
    """Before each request: the account of a live session, or None."""
    g.account = None
    sid = session.get("sid")
    if not sid:
        return
    state = dashboard()
    live = state.sessions.current(sid)
    account = state.accounts.get(live.username) if live else None
    if live is None or account is None or account.disabled:
        state.sessions.end(sid)
        session.pop("sid", None)
        return
    g.account = account


def check_csrf() -> None:
    """Before each POST: the form's token must be this session's (400 if absent, 403 if not)."""
    if request.method != "POST":
        return
    given = request.form.get(CSRF_FIELD)
    if not given:
        abort(400, "The form had no security token. Reload the page and try again.")
    if not same_token(given, session.get("csrf")):
        abort(403, "The form's security token has expired. Reload the page and try again.")


def csrf_token() -> str:
    """This session's CSRF token (made on first use; replaced at login)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def start_session(username: str) -> None:
    """After a good password: a new session id and CSRF token (no fixation), old one ended."""
    state = dashboard()
    state.sessions.end(session.get("sid"))
    session.clear()
    session.permanent = True
    session["sid"] = state.sessions.start(username)
    session["csrf"] = secrets.token_urlsafe(32)


def end_session() -> None:
    dashboard().sessions.end(session.get("sid"))
    session.clear()


def security_headers(response: Response) -> Response:
    """After each request. A view may set a stricter or different CSP and framing first."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
    if current_app.config["SESSION_COOKIE_SECURE"]:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


def login_required(view: Callable[P, R]) -> Callable[P, R | BaseResponse]:
    """Send a visitor without a live session to the login page."""

    @functools.wraps(view)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R | BaseResponse:
        if current_account() is None:
            return redirect(url_for("login.login"), code=303)
        return view(*args, **kwargs)

    return guarded
