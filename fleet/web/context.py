"""What the dashboard's request handlers share: the fleet, the store, accounts, sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app, g

from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.staff_accounts import StaffAccount, StaffAccounts
from healthhub.fleet.web.auth import LoginThrottle, SessionTable
from healthhub.fleet.web.store_access import SharedStore
from healthhub.protocol.fleet_layout import FleetLayout

EXTENSION = "healthhub"


@dataclass
class Dashboard:
    layout: FleetLayout
    accounts: StaffAccounts
    registry: DeviceRegistry
    store: SharedStore
    throttle: LoginThrottle
    sessions: SessionTable


def dashboard() -> Dashboard:
    return cast(Dashboard, current_app.extensions[EXTENSION])


def current_account() -> StaffAccount | None:
    """The logged-in staff member of this request (set before every request)."""
    return cast(StaffAccount | None, g.get("account"))
