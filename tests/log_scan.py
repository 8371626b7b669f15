"""No secret and no patient data in any log the tests' processes write.

Every test that has a ``tmp_path`` has the ``*.log`` files under it scanned when it ends
(tests/conftest.py): the agents', bridges', kiosks', dashboards' and mosquitto's logs. They
must hold none of:

- the patient identifiers the tests give the system (NHS numbers in both spellings, the
  test patient's name, address, postcode and phone number): :data:`PATIENT_DATA`;
- any private key of a fleet folder under ``tmp_path`` (the CA's, the broker's, devices',
  the signing and ingest keys: every ``*.key`` file and PEM private key), line by line, and
  any PEM private key marker at all.

A hit fails the test with the file, the line number and what kind of thing leaked, never
the leaked value itself (the report would leak it again).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Final

#: Patient data the tests type, scan or send (tests/system, tests/agent, tests/ui).
PATIENT_DATA: Final = {
    "NHS number": (
        "9434765919", "943 476 5919", "9434765918", "9434765910", "9999999468", "9990000018"
    ),
    "patient name": ("Marjorie Testpatient", "Testpatient"),
    "address": ("10 Downing Street", "Downing"),
    "postcode": ("SW1A 2AA",),
    "phone number": ("07700900461", "07700 900461", "07700 900 461"),
}  # fmt: skip
PEM_PRIVATE: Final = "PRIVATE KEY-----"
#: A key's line shorter than this is not distinctive enough to look for.
MIN_SECRET = 24


def fleet_secrets(root: Path) -> set[str]:
    """The lines of every private key in the fleet folders under ``root``."""
    found: set[str] = set()
    for manifest in root.rglob("fleet.yaml"):
        for path in manifest.parent.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            if path.suffix != ".key" and path.name not in ("signing.key", "ingest.key"):
                continue
            text = path.read_text(errors="replace")
            found |= {
                line.strip()
                for line in text.splitlines()
                if len(line.strip()) >= MIN_SECRET and "-----" not in line
            }
    return found


def scan(logs: Iterable[Path], secrets: set[str]) -> list[str]:
    """Findings as ``file:line: kind`` (never the value)."""
    findings: list[str] = []
    for log in sorted(set(logs)):
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            for kind, values in PATIENT_DATA.items():
                if any(value in line for value in values):
                    findings.append(f"{log}:{number}: {kind}")
            if PEM_PRIVATE in line or any(secret in line for secret in secrets):
                findings.append(f"{log}:{number}: private key")
    return findings
