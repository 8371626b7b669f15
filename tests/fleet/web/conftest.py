"""Fixtures of the dashboard's tests: the practice of ``dashboard_practice`` and its staff."""

from __future__ import annotations

from pathlib import Path

import pytest
from processes import Enrol

from healthhub.fleet.staff_accounts import StaffAccounts
from healthhub.protocol.fleet_layout import FleetLayout
from tests.fleet.web.dashboard_practice import PASSWORD, STAFF, Practice, make_practice


@pytest.fixture
def practice(fleet: FleetLayout, enrol: Enrol, tmp_path: Path) -> Practice:
    return make_practice(fleet, enrol, tmp_path / "practice.sqlite")


@pytest.fixture
def staff(practice: Practice) -> dict[str, str]:
    """The accounts of :data:`STAFF`, all with :data:`PASSWORD`; name -> role."""
    accounts = StaffAccounts(practice.layout)
    for name, (role, sites) in STAFF.items():
        accounts.add(name, role, sites, PASSWORD)
    return {name: role for name, (role, _) in STAFF.items()}
