"""The dashboard's pages: fleet status, alerts (with acknowledge) and reports.

Every page and every POST filters by :func:`~healthhub.fleet.web.auth.allowed`: staff of a
practice see only their site's devices and alerts, and an alert of another site is "not
found" (404), never "forbidden", so its id tells nothing. Alerts show where, when and why,
never the reading or anything that could identify a patient.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from healthhub.fleet.staff_accounts import StaffAccount
from healthhub.fleet.store import AlertNotFound
from healthhub.fleet.web.auth import allowed
from healthhub.fleet.web.context import current_account, dashboard
from healthhub.fleet.web.formatting import minutes_between
from healthhub.fleet.web.guard import login_required
from healthhub.fleet.web.status_rows import device_rows

log = logging.getLogger("healthhub.fleet.web")
blueprint = Blueprint("views", __name__)

#: Acknowledged alerts shown below the open ones (newest first); older ones are in reports.
ACKNOWLEDGED_SHOWN = 50
_ALERT_ID = re.compile(r"^[0-9a-f-]{1,64}$")


def me() -> StaffAccount:
    """The logged-in account (views are wrapped in :func:`login_required`)."""
    account = current_account()
    if account is None:  # pragma: no cover - login_required answered already
        abort(401)
    return account


@blueprint.get("/")
@login_required
def home() -> Response:
    return redirect(url_for("views.status"), code=303)


@blueprint.get("/status")
@login_required
def status() -> str:
    account = me()
    state = dashboard()
    devices = {d: s for d, s in state.registry.devices().items() if allowed(account, "view", s)}
    with state.store.use() as store:
        reports, counts = store.reports(), store.alert_counts()
    found = device_rows(devices, reports, counts)
    online = sum(1 for row in found if row["state"] == "online")
    return render_template("status.html", rows=found, online=online, page="status")


def visible_alerts(account: StaffAccount) -> list[dict[str, Any]]:
    """The account's alerts: open ones first (newest first), then recent acknowledged."""
    with dashboard().store.use() as store:
        found = [a for a in store.alerts() if allowed(account, "view", a["site"])]
    opened = [a for a in found if a["acknowledged_at"] is None]
    acknowledged = [a for a in found if a["acknowledged_at"] is not None][:ACKNOWLEDGED_SHOWN]
    for alert in acknowledged:
        # from when the practice received it, as the console and the reports count
        alert["minutes_to_ack"] = minutes_between(alert["received_at"], alert["acknowledged_at"])
    for alert in found:
        alert.pop("reading", None)  # a measured value: the record holds it, not this page
    return opened + acknowledged


@blueprint.get("/alerts")
@login_required
def alerts() -> str:
    account = me()
    found = visible_alerts(account)
    return render_template(
        "alerts.html",
        alerts=found,
        open_count=sum(1 for a in found if a["acknowledged_at"] is None),
        can_ack={a["site"]: allowed(account, "acknowledge", a["site"]) for a in found},
        page="alerts",
    )


@blueprint.post("/alerts/<alert_id>/acknowledge")
@login_required
def acknowledge(alert_id: str) -> Response:
    account = me()
    if not _ALERT_ID.match(alert_id):
        abort(404)
    with dashboard().store.use() as store:
        try:
            alert = store.alert(alert_id)
        except AlertNotFound:
            abort(404)
        if not allowed(account, "view", alert["site"]):
            abort(404)  # another site's alert is not found, so its id leaks nothing
        if not allowed(account, "acknowledge", alert["site"]):
            abort(403, "Your role may view alerts but not acknowledge them.")
        try:
            done = store.acknowledge_alert(alert_id, by=account.username)
        except AlertNotFound:
            abort(404)
    if done["acknowledged_by"] == account.username:
        log.info("%s acknowledged alert %s (%s)", account.username, alert_id, alert["site"])
        flash(f"Alert from {alert['device']} acknowledged.")
    else:
        flash(f"That alert was already acknowledged by {done['acknowledged_by']}.")
    return redirect(url_for("views.alerts"), code=303)
