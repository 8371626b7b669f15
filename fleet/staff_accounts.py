"""Practice staff who may log in to the dashboard: who they are, their role, their sites.

Kept in the fleet folder as ``staff/accounts.json`` (the folder 0700, the file 0600, written
atomically), so the people who hold the fleet's keys hold the accounts too. Passwords are
stored only as Argon2id hashes (argon2-cffi's defaults: RFC 9106's second recommended
profile, 64 MiB, t=3, p=4); a login for an unknown or disabled name still runs one Argon2
verification against a dummy hash, so the time taken does not tell which names exist.

Roles: ``viewer`` reads status and reports of their sites; ``practice_staff`` also
acknowledges their sites' alerts; ``fleet_admin`` does everything, for every site.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from healthhub.protocol import topics
from healthhub.protocol.clock import now_utc
from healthhub.protocol.errors import HealthHubError, ProtocolError
from healthhub.protocol.files import fsync_directory, write_atomic
from healthhub.protocol.fleet_layout import FleetLayout

ROLES = ("viewer", "practice_staff", "fleet_admin")
MIN_PASSWORD = 12
MAX_PASSWORD = 256  # Argon2 takes any length; a bound keeps a login from being a DoS
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$|^[a-z0-9]$")
# The first things people try; a minimal list, not a substitute for a breach-list check.
_OBVIOUS = {
    "password1234", "password12345", "password123456", "passw0rd1234", "123456789012",
    "1234567890123", "qwertyuiop12", "qwertyuiopas", "letmein12345", "welcome12345",
    "changeme1234", "healthhub123", "healthhub1234", "administrator", "iloveyou1234",
}  # fmt: skip

_hasher = PasswordHasher()  # Argon2id with the library's RFC 9106 defaults


class StaffAccountError(HealthHubError):
    """A staff account that cannot be created, changed or read."""


@dataclass(frozen=True)
class StaffAccount:
    username: str
    role: str
    sites: tuple[str, ...]  # empty for fleet_admin, who sees every site
    created_at: str
    disabled: bool
    password_hash: str

    def public(self) -> dict[str, Any]:
        """What ``staff list`` shows: everything but the hash."""
        return {
            "username": self.username,
            "role": self.role,
            "sites": list(self.sites),
            "created_at": self.created_at,
            "disabled": self.disabled,
        }


def staff_dir(layout: FleetLayout) -> Path:
    return layout.root / "staff"


def check_password(password: str, username: str) -> None:
    """Refuse a password that is short, very long or obvious; say why (never echo it)."""
    if len(password) < MIN_PASSWORD:
        raise StaffAccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise StaffAccountError(f"the password must have at most {MAX_PASSWORD} characters")
    lowered = password.lower()
    if lowered in _OBVIOUS or len(set(lowered)) < 4 or username.lower() in lowered:
        raise StaffAccountError(
            "that password is too easy to guess (a common one, few different characters, "
            "or it contains the user name): choose a longer passphrase"
        )


def _check_fields(username: str, role: str, sites: list[str]) -> tuple[str, ...]:
    if not USERNAME.match(username):
        raise StaffAccountError(
            f"user name {username!r} is not valid: use 1-64 lower-case letters, digits, "
            "dots, hyphens or underscores, starting and ending with a letter or digit"
        )
    if role not in ROLES:
        raise StaffAccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "fleet_admin" and sites:
        raise StaffAccountError("a fleet_admin sees every site: give no --site")
    if role != "fleet_admin" and not sites:
        raise StaffAccountError(f"a {role} needs at least one --site")
    try:
        return tuple(sorted({topics.validate_id(site, what="site") for site in sites}))
    except ProtocolError as exc:
        raise StaffAccountError(str(exc)) from None


class StaffAccounts:
    """The accounts file of one fleet; re-read whenever it changes on disk, so that an
    account added or disabled with the CLI takes effect in a running dashboard at once."""

    def __init__(self, layout: FleetLayout) -> None:
        self.dir = staff_dir(layout)
        self.path = self.dir / "accounts.json"
        self._seen: tuple[int, int] | None = None
        self._accounts: dict[str, StaffAccount] = {}

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """What an unknown name's password is checked against (made on first need)."""
        return _hasher.hash(os.urandom(16).hex())

    def all(self) -> dict[str, StaffAccount]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        if self._seen != (stat.st_mtime_ns, stat.st_size):
            self._accounts = self._read()
            self._seen = (stat.st_mtime_ns, stat.st_size)
        return dict(self._accounts)

    def get(self, username: str) -> StaffAccount | None:
        return self.all().get(username)

    def _read(self) -> dict[str, StaffAccount]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                entry["username"]: StaffAccount(
                    username=str(entry["username"]),
                    role=str(entry["role"]),
                    sites=tuple(str(site) for site in entry["sites"]),
                    created_at=str(entry["created_at"]),
                    disabled=bool(entry["disabled"]),
                    password_hash=str(entry["password_hash"]),
                )
                for entry in data["accounts"]
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StaffAccountError(f"{self.path} is unreadable or broken: {exc}") from None

    @contextmanager
    def _changing(self) -> Iterator[dict[str, StaffAccount]]:
        """Read, let the caller change, write back: one writer at a time (a lock file)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        with open(self.dir / ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            accounts = self._read() if self.path.exists() else {}
            yield accounts
            document = {"version": 1, "accounts": [asdict(a) for a in accounts.values()]}
            write_atomic(self.path, json.dumps(document, indent=1).encode() + b"\n", mode=0o600)
        fsync_directory(self.dir)

    def add(self, username: str, role: str, sites: list[str], password: str) -> StaffAccount:
        clean_sites = _check_fields(username, role, sites)
        check_password(password, username)
        account = StaffAccount(
            username, role, clean_sites, now_utc(), disabled=False,
            password_hash=_hasher.hash(password),
        )  # fmt: skip
        with self._changing() as accounts:
            if username in accounts:
                raise StaffAccountError(f"there is already an account {username!r}")
            accounts[username] = account
        return account

    def set_disabled(self, username: str, disabled: bool = True) -> StaffAccount:
        with self._changing() as accounts:
            if username not in accounts:
                raise StaffAccountError(f"no account {username!r}")
            accounts[username] = replace(accounts[username], disabled=disabled)
            return accounts[username]

    def verify(self, username: str, password: str) -> StaffAccount | None:
        """The account if the password is right and the account enabled, else None.

        Unknown and disabled names cost one Argon2 verification too (constant-time
        behaviour: the answer's timing does not tell which names exist).
        """
        account = self.get(username)
        if (account is not None and account.disabled) or len(password) > MAX_PASSWORD:
            account = None  # a longer password was refused at creation: it cannot match
        password = password[:MAX_PASSWORD]  # bounds the cost of the dummy verification
        try:
            _hasher.verify(self._dummy_hash if account is None else account.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if account is None:
            return None  # the dummy's password is random: this is not reached in practice
        if _hasher.check_needs_rehash(account.password_hash):
            self._rehash(account, password)
        return account

    def _rehash(self, account: StaffAccount, password: str) -> None:
        """Bring an old hash up to the current parameters while the password is at hand."""
        with self._changing() as accounts:
            held = accounts.get(account.username)
            if held is not None and held.password_hash == account.password_hash:
                accounts[account.username] = replace(held, password_hash=_hasher.hash(password))
