"""Reading a FHIR server's answers: what counts as filed, and what is never repeated."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

import pytest

from healthhub.fleet.fhir_answers import (
    WITHHELD,
    BundleResult,
    outcome_issues,
    read_transaction_response,
    retry_after_s,
)

ASKED = {
    "resourceType": "Bundle",
    "type": "transaction",
    "entry": [
        {"resource": {}, "request": {"method": "PUT", "url": "Observation/a"}},
        {"resource": {}, "request": {"method": "PUT", "url": "Task/b"}},
    ],
}


def answered(*responses: dict[str, Any]) -> bytes:
    entries = [{"response": r} for r in responses]
    return json.dumps(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    ).encode()


def read(answer: bytes) -> BundleResult:
    result = BundleResult(1, entries=2)
    read_transaction_response(ASKED, answer, result)
    return result


def test_created_and_updated_are_counted_per_resource_type() -> None:
    result = read(
        answered(
            {
                "status": "201 Created",
                "location": "https://ehr.example/R4/Observation/a/_history/1",
            },
            {"status": "200", "location": "Task/b/_history/3"},
        )
    )
    assert (result.status, result.created, result.updated) == ("accepted", 1, 1)
    assert result.by_type == {
        "Observation": {"created": 1, "updated": 0},
        "Task": {"created": 0, "updated": 1},
    }


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ({"status": "201 Created", "location": "Task/c/_history/1"}, "under another id"),
        ({"status": "201 Created", "location": "Observation/b/_history/1"}, "under another id"),
        ({"status": "404 Not Found"}, "answered 404"),
        ({"location": "Task/b"}, "without a response status"),
    ],
)
def test_an_entry_not_filed_at_its_own_id_fails_the_bundle(
    second: dict[str, Any], why: str
) -> None:
    result = read(answered({"status": "201 Created"}, second))
    assert result.status == "failed"
    assert result.reason is not None
    assert result.reason.startswith("entry 1: ")
    assert why in result.reason


@pytest.mark.parametrize(
    "answer",
    [b"<html>", b'{"resourceType": "Bundle", "type": "batch-response", "entry": []}', b"[]"],
)
def test_an_answer_that_is_not_a_transaction_response_fails_the_bundle(answer: bytes) -> None:
    result = read(answer)
    assert (result.status, result.reason) == (
        "failed",
        "the answer is not a transaction-response Bundle",
    )


def test_only_codes_and_plain_paths_of_an_operation_outcome_are_kept() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "value",
                "expression": [
                    "Bundle.entry[2].resource.ofType(Observation).valueQuantity",
                    "Observation.subject.identifier.where(value='9434765919')",
                ],
                "location": ["/f:Bundle/f:entry[3]"],
                "diagnostics": "9434765919 is not a valid value for 186 mm[Hg]",
                "details": {"text": "Patient 9434765919"},
            },
            {"severity": "loud", "code": "Not A Code 9434765919"},
        ],
    }
    issues = outcome_issues(json.dumps(outcome).encode())
    assert issues == [
        {
            "severity": "error",
            "code": "value",
            "expression": ["Bundle.entry[2].resource.ofType(Observation).valueQuantity", WITHHELD],
            "location": ["/f:Bundle/f:entry[3]"],
            "text_withheld_chars": 64,
        },
        {"severity": None, "code": None},
    ]
    assert "9434765919" not in json.dumps(issues)
    assert outcome_issues(b"not json") == []
    assert outcome_issues(b'{"resourceType": "Patient"}') == []


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("7") == 7.0
    assert retry_after_s(None) == 0.0
    assert retry_after_s("soon") == 0.0
    assert retry_after_s("²") == 0.0
    now = 1_800_000_000.0
    assert retry_after_s(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after_s(formatdate(now - 30, usegmt=True), now=now) == 0.0
