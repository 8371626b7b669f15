"""Posting the FHIR export: every resource lands once, retries are bounded, nothing leaks.

The server is :mod:`tests.fleet.fhir_server`, a real HTTP(S) server on a loopback port that
validates what it is sent with ``fhir.resources`` (R4B) and files transactions whole. The
command is the real ``healthhub-fleet`` process.
"""

from __future__ import annotations

import json
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from processes import run_cli

from healthhub.fleet.fhir_export import bundles
from healthhub.fleet.fhir_post import BundlePoster, RetryLimits, TargetRefused, check_target
from healthhub.fleet.store import open_readonly
from healthhub.provisioning import certificates
from tests.fleet.fhir_server import FhirServer
from tests.fleet.test_fhir_export import OTHER, PATIENT, Filing

#: Small waits, so that a test of five tries takes a fraction of a second.
FAST = ("--backoff", "0.01", "--max-wait", "5")
RESOURCES = {"Observation": 7, "QuestionnaireResponse": 2, "Task": 1}
#: The patients the record (the test server) holds.
RECORD = (PATIENT, OTHER)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A practice store with one patient's consented readings, a derived BMI and forms, and
    an anonymous reading (never filed)."""
    f = Filing(tmp_path / "practice.sqlite")
    bp = f.reading("blood_pressure", 1, systolic=(150, "mm[Hg]"), diastolic=(95, "mm[Hg]"),
                   pulse=(80, "/min"))  # fmt: skip
    weight = f.reading("body_weight", 2, weight=(82.4, "kg"))
    spo2 = f.reading("oxygen_saturation", 3, spo2=(97, "%"), pulse=(72, "/min"))
    f.reading("body_weight", 4, weight=(60.0, "kg"))
    bmi = [{"kind": "bmi", "components": [{"code": "bmi", "value": 26.6, "unit": "kg/m2"}]}]
    f.file(
        "submissions", "readings_to_record",
        {"session": "s", "patient": PATIENT, "consent": "file_in_gp_record", "context": {},
         "readings": [bp, weight, spo2], "derived": bmi},
        5,
    )  # fmt: skip
    form = {"version": 1, "language": "en", "actions": [], "bands": {}, "session": "s"}
    f.file(
        "submissions", "questionnaire",
        {**form, "form": "phq-9", "purpose": "questionnaire", "scores": {"total": 3},
         "answers": {"q1": "several_days"}, "patient": PATIENT},
        6,
    )  # fmt: skip
    f.file(
        "submissions", "change_of_details",
        {**form, "form": "change-of-details", "purpose": "change_of_details",
         "answers": {"postcode": "SW1A 2AA"}, "scores": {}, "patient": PATIENT},
        7,
    )  # fmt: skip
    f.store.close()
    return tmp_path / "practice.sqlite"


def exported(store: Path, max_entries: int = 500) -> list[dict[str, Any]]:
    practice = open_readonly(store)
    try:
        return bundles(practice, max_entries=max_entries)[0]
    finally:
        practice.close()


def keys(found: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(e["resource"]["resourceType"], e["resource"]["id"]) for b in found for e in b["entry"]}


def fhir(store: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = run_cli("healthhub-fleet", "fhir", "--store", str(store), *args, check=False)
    summary = json.loads(result.stdout) if result.stdout.strip() else {}
    return result, summary


def test_every_exported_resource_lands_on_the_server_as_exported(
    store: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "bundles", tmp_path / "report.json"
    with FhirServer(patients=RECORD) as server:
        result, summary = fhir(
            store, "--out", str(out), "--post", server.base_url, "--report", str(report)
        )
        assert result.returncode == 0, result.stderr
        written = [json.loads(p.read_text()) for p in sorted(out.glob("bundle-*.json"))]
        assert set(server.resources) == keys(written)
        for bundle in written:
            for entry in bundle["entry"]:
                resource = entry["resource"]
                held = server.resources[(resource["resourceType"], resource["id"])]
                assert held.resource == server.resolved(resource)
                whom = held.resource.get("subject") or held.resource.get("for")
                assert whom["reference"] == "Patient/patient-1", "filed in the patient's record"
        headers = server.seen[0].headers
    assert headers["Content-Type"] == headers["Accept"] == "application/fhir+json"
    assert summary["resources"] == RESOURCES
    assert summary["anonymous_readings"] == 1
    post = summary["post"]
    assert post["all_accepted"] is True
    assert post["totals"] == {
        "bundles": 1, "accepted": 1, "rejected": 0, "failed": 0, "entries": 10, "created": 10,
        "updated": 0, "by_type": {k: {"created": n, "updated": 0} for k, n in RESOURCES.items()},
    }  # fmt: skip
    assert post["bundles"][0]["attempts"] == 1
    assert json.loads(report.read_text()) == summary


def test_posting_again_creates_nothing_new(store: Path) -> None:
    with FhirServer(patients=RECORD) as server:
        first = fhir(store, "--post", server.base_url)[1]["post"]["totals"]
        versions = server.versions()
        result, again = fhir(store, "--post", server.base_url)
        assert result.returncode == 0, result.stderr
        # FHIR answers an update that changed nothing "200 OK"; the server keeps the version
        assert server.versions() == versions
        assert set(versions.values()) == {1}
    assert first["created"] == 10
    totals = again["post"]["totals"]
    assert (totals["created"], totals["updated"], totals["accepted"]) == (0, 10, 1)
    assert again["out"] is None


def test_busy_dropped_and_slow_answers_are_tried_again_until_accepted(store: Path) -> None:
    with FhirServer(patients=RECORD) as server:
        server.stall_next(8.0)
        server.drop_next(1)
        server.fail_next(2, status=503)
        result, summary = fhir(store, "--post", server.base_url, "--timeout", "2", *FAST)
        assert len(server.seen) == 5
        assert len(server.resources) == 10
    assert result.returncode == 0, result.stderr
    (bundle,) = summary["post"]["bundles"]
    assert (bundle["status"], bundle["attempts"], bundle["created"]) == ("accepted", 5, 10)
    assert result.stderr.count("trying again") == 4


def test_a_bundle_that_keeps_failing_is_reported_and_the_others_still_go(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundles"
    with FhirServer(patients=RECORD) as server:
        found = exported(store, max_entries=4)
        assert len(found) == 3
        second = found[1]["entry"][0]["resource"]["id"]
        server.unavailable_for(second)
        result, summary = fhir(
            store, "--out", str(out), "--max-entries", "4", "--post", server.base_url,
            "--max-attempts", "3", *FAST,
        )  # fmt: skip
        tried = [seen for seen in server.seen if second in seen.ids]
        assert len(tried) == 3
        assert set(server.resources) == keys([found[0], found[2]])
    assert result.returncode == 1
    assert len(list(out.glob("bundle-*.json"))) == 3, "--out keeps every bundle as posted"
    first, failed, third = summary["post"]["bundles"]
    assert (first["status"], third["status"]) == ("accepted", "accepted")
    assert failed["status"] == "failed-after-retries"
    assert (failed["attempts"], failed["http_status"], failed["created"]) == (3, 503, 0)
    assert "--max-attempts" in failed["reason"]
    totals = summary["post"]["totals"]
    assert (totals["accepted"], totals["failed"], totals["created"]) == (2, 1, 6)


def test_a_wait_longer_than_max_wait_ends_the_tries_at_once(store: Path) -> None:
    slept: list[float] = []
    with FhirServer(patients=RECORD) as server:
        server.fail_next(1, status=429, retry_after="2")
        server.fail_next(1, status=503, retry_after="120")
        limits = RetryLimits(max_attempts=5, max_wait_s=10, backoff_s=0.01)
        poster = BundlePoster(server.base_url, limits=limits, sleep=slept.append)
        report = poster.post_all(exported(store))
    (result,) = report.bundles
    assert slept[0] >= 2, "Retry-After: 2 is honoured"
    assert len(slept) == 1, "a Retry-After of 120 s is beyond --max-wait: no second wait"
    assert (result.status, result.attempts, result.http_status) == ("failed-after-retries", 2, 503)
    assert result.reason is not None
    assert "--max-wait" in result.reason


def test_a_rejected_bundle_is_not_retried_and_its_outcome_carries_no_patient_data(
    store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (good,) = exported(store)
    bad = json.loads(json.dumps(good))
    observation = bad["entry"][0]["resource"]
    del observation["code"]
    with FhirServer(patients=RECORD) as server:
        poster = BundlePoster(server.base_url, limits=RetryLimits(backoff_s=0.01))
        report = poster.post_all([bad, good])
        assert [seen.status for seen in server.seen] == [400, 200]
        assert server.statuses()[400] == 1, "a rejected bundle is not sent again"
        assert len(server.resources) == 10
    rejected, accepted = report.bundles
    assert (rejected.status, rejected.attempts, rejected.http_status) == ("rejected", 1, 400)
    assert accepted.status == "accepted"
    (issue,) = rejected.issues
    assert issue["code"] == "required"
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Bundle.entry[0].resource.code"]
    assert issue["text_withheld_chars"] > 0, "the server's diagnostics echoed the resource"
    shown = json.dumps(report.to_json()) + caplog.text
    for value in (PATIENT["nhs_number"], "mm[Hg]", "150"):
        assert value not in shown


#: A valid NHS number mistyped as another person's (their birth date is not the patient's).
MISTYPED = {"nhs_number": OTHER["nhs_number"], "birth_date": PATIENT["birth_date"]}


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (RECORD, 404),  # nobody has both
        ((PATIENT, MISTYPED, MISTYPED), 412),  # a record holding the same person twice
    ],
)
def test_a_patient_the_record_does_not_match_exactly_once_is_refused_and_nothing_filed(
    tmp_path: Path, record: tuple[dict[str, str], ...], status: int
) -> None:
    """A valid NHS number mistyped as another person's is filed in nobody's record."""
    f = Filing(tmp_path / "practice.sqlite")
    for n, patient in enumerate((PATIENT, MISTYPED)):
        reading = f.reading("body_weight", 2 * n + 1, weight=(70.0 + n, "kg"))
        f.file(
            "submissions", "readings_to_record",
            {"session": f"s{n}", "patient": patient, "consent": "file_in_gp_record",
             "context": {}, "readings": [reading]},
            2 * n + 2,
        )  # fmt: skip
    f.store.close()
    with FhirServer(patients=record) as server:
        result, summary = fhir(tmp_path / "practice.sqlite", "--post", server.base_url, *FAST)
        filed = {stored.resource["subject"]["reference"] for stored in server.resources.values()}
    assert result.returncode == 1
    assert filed == {"Patient/patient-1"}, "only the patient the record matched"
    accepted, refused = summary["post"]["bundles"]
    assert (accepted["status"], accepted["created"]) == ("accepted", 1)
    assert (refused["status"], refused["attempts"], refused["http_status"]) == (
        "rejected", 1, status,
    )  # fmt: skip
    assert "date of birth" in refused["reason"]
    (issue,) = refused["issues"]
    assert issue["expression"] == ["Bundle.entry[0].resource.subject"]
    assert issue["text_withheld_chars"] > 0, "the server's diagnostics echoed the search"
    for value in (OTHER["nhs_number"], PATIENT["birth_date"]):
        assert value not in result.stdout + result.stderr


def test_an_answer_missing_an_entry_fails_the_bundle_and_posting_again_is_safe(
    store: Path,
) -> None:
    with FhirServer(patients=RECORD) as server:
        server.short_next(1)
        poster = BundlePoster(server.base_url, limits=RetryLimits(backoff_s=0.01))
        first = poster.post_all(exported(store))
        again = poster.post_all(exported(store))
        assert len(server.resources) == 10
    assert (first.bundles[0].status, first.bundles[0].attempts) == ("failed", 1)
    assert first.bundles[0].reason == "the answer has 9 entries for 10 requested"
    assert not first.all_accepted
    assert again.bundles[0].status == "accepted"
    assert (again.bundles[0].created, again.bundles[0].updated) == (0, 10)


def test_plain_http_to_another_machine_is_refused(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    result, summary = fhir(store, "--out", str(out), "--post", "http://192.0.2.10/fhir")
    assert result.returncode == 2
    assert "in clear" in result.stderr
    assert not summary
    assert not out.exists(), "refused before anything was exported"
    neither = fhir(store)[0]
    assert neither.returncode == 2
    assert "--out" in neither.stderr


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("http://192.0.2.10/fhir", False),
        ("http://fhir.example.org/R4", False),
        ("http://localhost.example.org/fhir", False),
        ("http://127.0.0.1.example.org/fhir", False),
        ("ftp://127.0.0.1/fhir", False),
        ("https://user:secret@fhir.example.org/R4", False),
        ("https://fhir.example.org/R4?x=1", False),
        ("https://fhir.example.org:port/R4", False),
        ("https:///R4", True),
    ],
)
def test_targets_that_are_refused(url: str, insecure: bool) -> None:
    with pytest.raises(TargetRefused) as refused:
        check_target(url, insecure_http=insecure)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "insecure"),
    [
        ("https://fhir.example.org/R4/", False),
        ("http://127.0.0.1:8080/fhir", False),
        ("http://127.0.0.9/fhir", False),
        ("http://localhost/fhir", False),
        ("http://[::1]:8080/fhir", False),
        ("http://192.0.2.10/fhir", True),
    ],
)
def test_targets_that_are_allowed(url: str, insecure: bool) -> None:
    assert check_target(url, insecure_http=insecure) == url.rstrip("/")


def test_the_token_is_sent_and_never_shown(store: Path, tmp_path: Path) -> None:
    token = "hh-test-token-5f2b9c0e7d"
    token_file, report = tmp_path / "token", tmp_path / "report.json"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    with FhirServer(token=token, patients=RECORD) as server:
        server.fail_next(1, status=503)  # so that a retry is logged too
        result, summary = fhir(
            store, "--post", server.base_url, "--token-file", str(token_file),
            "--report", str(report), *FAST,
        )  # fmt: skip
        sent = {seen.headers.get("Authorization") for seen in server.seen}
        assert len(server.resources) == 10
        without, refused = fhir(store, "--post", server.base_url, *FAST)
    assert result.returncode == 0, result.stderr
    assert sent == {f"Bearer {token}"}
    assert summary["post"]["bundles"][0]["attempts"] == 2
    assert "trying again" in result.stderr
    for text in (result.stdout, result.stderr, report.read_text()):
        assert token not in text
    assert without.returncode == 1
    (bundle,) = refused["post"]["bundles"]
    assert (bundle["status"], bundle["attempts"], bundle["http_status"]) == ("rejected", 1, 401)
    assert bundle["issues"][0]["code"] == "login"


def test_https_is_verified_and_a_private_ca_can_be_trusted(store: Path, tmp_path: Path) -> None:
    ca = certificates.create_ca("Test FHIR")
    cert, key = certificates.issue(ca, "fhir", server_hosts=["127.0.0.1"], years=1)
    certificates.write_cert(tmp_path / "ca.pem", ca.cert)
    certificates.write_cert(tmp_path / "server.pem", cert)
    certificates.write_private_key(tmp_path / "server.key", key)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    with FhirServer(tls=tls, patients=RECORD) as server:
        assert server.base_url.startswith("https://")
        untrusted, refused = fhir(store, "--post", server.base_url, *FAST)
        assert not server.resources
        trusted, accepted = fhir(
            store, "--post", server.base_url, "--ca", str(tmp_path / "ca.pem"), *FAST
        )
        assert len(server.resources) == 10
    assert untrusted.returncode == 1
    (bundle,) = refused["post"]["bundles"]
    assert (bundle["status"], bundle["attempts"]) == ("failed", 1), "a bad certificate is final"
    assert "--ca" in bundle["reason"]
    assert trusted.returncode == 0, trusted.stderr
    assert accepted["post"]["totals"]["created"] == 10
