"""The staff PIN: stored as an scrypt hash, checked by the agent, guessing slowed down.

The UI never sees the hash; it sends the PIN typed and gets yes or no. After
:data:`MAX_FAILURES` wrong PINs in a row the screen is locked for
:data:`LOCKOUT_S` seconds, doubling each time (a PIN has few digits, so
guessing, not hashing speed, is the threat at a public kiosk).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from healthhub.protocol.local_api import LocalApiError

# scrypt cost: RFC 7914 / OWASP (n=2^14, r=8, p=1 is the interactive-login setting; a
# Pi 4 takes ~0.1 s per check, which is fine for a staff screen).
_N, _R, _P = 2**14, 8, 1
MAX_FAILURES = 5
LOCKOUT_S = 60.0
MAX_LOCKOUT_S = 3600.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    if not pin.isdigit() or not 4 <= len(pin) <= 12:
        raise ValueError("a staff PIN is 4 to 12 digits")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(
            pin.encode(),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


class PinGuard:
    def __init__(self, stored: str | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._stored = stored
        self._clock = clock
        self.failures = 0
        self._locked_until = 0.0
        self._lockout_s = LOCKOUT_S

    def replace(self, stored: str | None) -> None:
        """A new PIN hash (a config layer); a lock-out in progress stays."""
        self._stored = stored

    def check(self, pin: object) -> None:
        """Return if the PIN is right; raise ``wrong_pin`` or ``locked_out`` otherwise."""
        if self._stored is None:
            raise LocalApiError("wrong_pin", "no staff PIN is configured on this unit")
        now = self._clock()
        if now < self._locked_until:
            wait = int(self._locked_until - now) + 1
            raise LocalApiError("locked_out", f"too many wrong PINs; try again in {wait} s")
        if isinstance(pin, str) and len(pin) <= 12 and verify_pin(pin, self._stored):
            self.failures = 0
            self._lockout_s = LOCKOUT_S
            return
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.failures = 0
            self._locked_until = now + self._lockout_s
            self._lockout_s = min(self._lockout_s * 2, MAX_LOCKOUT_S)
            raise LocalApiError(
                "locked_out", f"too many wrong PINs; locked for {self._lockout_s / 2:.0f} s"
            )
        raise LocalApiError("wrong_pin", "that PIN is not right")
