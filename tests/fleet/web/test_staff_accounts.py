"""Staff accounts: made and changed with the real CLI, kept private, hashed with Argon2id."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from processes import script

from healthhub.fleet.staff_accounts import StaffAccountError, StaffAccounts, check_password
from healthhub.protocol.fleet_layout import FleetLayout

GOOD = "a long and quiet river 42"


def staff_cli(
    fleet: FleetLayout, *args: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [script("healthhub-fleet"), "staff", args[0], "--fleet", str(fleet.root), *args[1:]]
    if password is not None:
        argv.append("--password-stdin")
    return subprocess.run(
        argv, input=(password or "") + "\n", capture_output=True, text=True, timeout=60, check=False
    )


def test_accounts_are_added_listed_and_disabled_with_the_cli(fleet: FleetLayout) -> None:
    made = staff_cli(
        fleet, "add", "--user", "alice", "--role", "practice_staff", "--site", "practice-a",
        password=GOOD,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["sites"] == ["practice-a"]
    assert "no unit is enrolled at practice-a" in made.stderr  # a hint, not an error
    assert (
        staff_cli(fleet, "add", "--user", "root", "--role", "fleet_admin", password=GOOD).returncode
        == 0
    )

    folder = fleet.root / "staff"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "accounts.json").stat().st_mode) == 0o600
    text = (folder / "accounts.json").read_text()
    assert GOOD not in text
    stored = {a["username"]: a for a in json.loads(text)["accounts"]}
    assert stored["alice"]["password_hash"].startswith("$argon2id$")
    assert stored["alice"]["password_hash"] != stored["root"]["password_hash"]  # salted

    listed = json.loads(staff_cli(fleet, "list", "--json").stdout)
    assert [(a["username"], a["role"], a["sites"], a["disabled"]) for a in listed] == [
        ("alice", "practice_staff", ["practice-a"], False),
        ("root", "fleet_admin", [], False),
    ]
    assert all("password_hash" not in a for a in listed)

    assert StaffAccounts(fleet).verify("alice", GOOD) is not None
    assert staff_cli(fleet, "disable", "--user", "alice").returncode == 0
    assert StaffAccounts(fleet).verify("alice", GOOD) is None
    assert staff_cli(fleet, "enable", "--user", "alice").returncode == 0
    assert StaffAccounts(fleet).verify("alice", GOOD) is not None


@pytest.mark.parametrize(
    ("args", "password", "why"),
    [
        (
            ["--user", "carol", "--role", "viewer", "--site", "practice-a"],
            "short pass",
            "at least 12",
        ),
        (
            ["--user", "carol", "--role", "viewer", "--site", "practice-a"],
            "password1234",
            "too easy",
        ),
        (
            ["--user", "carol", "--role", "viewer", "--site", "practice-a"],
            "aaaaaaaaaaaaaaaa",
            "too easy",
        ),
        (
            ["--user", "carol", "--role", "viewer", "--site", "practice-a"],
            "carol-is-my-name",
            "too easy",
        ),
        (["--user", "carol", "--role", "viewer"], GOOD, "needs at least one --site"),
        (
            ["--user", "carol", "--role", "fleet_admin", "--site", "practice-a"],
            GOOD,
            "give no --site",
        ),
        (["--user", "Carol Smith", "--role", "viewer", "--site", "practice-a"], GOOD, "not valid"),
        (["--user", "carol", "--role", "viewer", "--site", "Practice A"], GOOD, "not valid"),
    ],
)
def test_bad_accounts_and_weak_passwords_are_refused(
    fleet: FleetLayout, args: list[str], password: str, why: str
) -> None:
    result = staff_cli(fleet, "add", *args, password=password)
    assert result.returncode == 1
    assert why in result.stderr
    assert password not in result.stderr  # a refused password is never echoed
    assert not (fleet.root / "staff" / "accounts.json").exists()


def test_a_name_is_taken_once_and_a_role_must_be_known(fleet: FleetLayout) -> None:
    accounts = StaffAccounts(fleet)
    accounts.add("alice", "viewer", ["practice-a"], GOOD)
    with pytest.raises(StaffAccountError, match="already an account"):
        accounts.add("alice", "viewer", ["practice-a"], GOOD)
    result = staff_cli(fleet, "add", "--user", "dave", "--role", "owner", password=GOOD)
    assert result.returncode == 2  # argparse: not one of the roles


def test_verify_refuses_wrong_unknown_disabled_and_overlong_passwords(fleet: FleetLayout) -> None:
    accounts = StaffAccounts(fleet)
    accounts.add("alice", "viewer", ["practice-a"], GOOD)
    assert accounts.verify("alice", GOOD + "x") is None
    assert accounts.verify("nobody", GOOD) is None
    assert accounts.verify("alice", GOOD + " " * 300) is None
    accounts.set_disabled("alice")
    assert accounts.verify("alice", GOOD) is None


def test_no_terminal_and_no_stdin_flag_is_an_error_not_a_hang(fleet: FleetLayout) -> None:
    result = staff_cli(fleet, "add", "--user", "erin", "--role", "viewer", "--site", "practice-a")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr


def test_the_password_rule_alone() -> None:
    check_password("a long and quiet river 42", "alice")
    with pytest.raises(StaffAccountError):
        check_password("x" * 257 + "abcd", "alice")


def test_a_broken_accounts_file_is_a_clear_error(fleet: FleetLayout, tmp_path: Path) -> None:
    folder = fleet.root / "staff"
    folder.mkdir()
    (folder / "accounts.json").write_text("{not json")
    with pytest.raises(StaffAccountError, match="unreadable or broken"):
        StaffAccounts(fleet).all()
