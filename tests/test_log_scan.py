"""The log scan finds what it looks for (and so its passing means something)."""

from __future__ import annotations

import log_scan
import pytest

from healthhub.provisioning.fleet import init_fleet


def test_a_leaked_key_nhs_number_or_name_is_found_and_not_repeated(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Not tmp_path: the scan of this test's own tmp_path would find the leak planted here.
    tmp_path = tmp_path_factory.mktemp("planted")
    fleet = init_fleet(tmp_path / "fleet", name="Scan PCN")
    secrets = log_scan.fleet_secrets(tmp_path)
    signing_seed = fleet.signing_key.read_text().strip()
    ca_line = fleet.ca_key.read_text().splitlines()[1]
    assert {signing_seed, ca_line} <= secrets
    log = tmp_path / "agent.log"
    log.write_text(
        "2026-11-23 10:00:00,000 INFO started\n"
        f"2026-11-23 10:00:01,000 DEBUG seed {signing_seed}\n"
        "2026-11-23 10:00:02,000 INFO patient 943 476 5919 Marjorie Testpatient\n"
        f"2026-11-23 10:00:03,000 INFO {ca_line[:40]}\n"  # part of a line is not a key line
    )
    findings = log_scan.scan([log], secrets)
    assert findings == [
        f"{log}:2: private key",
        f"{log}:3: NHS number",
        f"{log}:3: patient name",
    ]
    assert not any(signing_seed in finding for finding in findings)
    clean = tmp_path / "bridge.log"
    clean.write_text("2026-11-23 10:00:00,000 INFO bridge connected\n")
    assert log_scan.scan([clean], secrets) == []
