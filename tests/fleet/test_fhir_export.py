"""FHIR export: what patients asked to file, coded right, valid, and the same every time.

Every resource is validated with ``fhir.resources`` (R4B, which overlaps R4 for the
resources used here: Observation, QuestionnaireResponse, Task, Bundle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from processes import run_cli

from healthhub.fleet.fhir_export import bundles
from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.ids import uuid7

PATIENT = {"nhs_number": "9434765919", "birth_date": "1950-03-01"}
OTHER = {"nhs_number": "9999999468", "birth_date": "1980-12-31"}


class Filing:
    """Envelopes as the bridge files them (clear bodies), numbered per device."""

    def __init__(self, path: Path) -> None:
        self.store = PracticeStore(path)
        self.seq = 0

    def file(self, stream: str, kind: str, body: dict[str, Any], minute: int) -> str:
        self.seq += 1
        envelope = Envelope(
            id=str(uuid7()),
            device="kiosk-1",
            site="practice-a",
            seq=self.seq,
            stream=stream,
            kind=kind,
            at=f"2026-11-23T10:{minute:02d}:00.000Z",
            body={"sealed": "x"},
        )
        self.store.file([Filed(envelope, body, "2026-11-23T10:59:00.000Z")])
        return envelope.id

    def reading(self, kind: str, minute: int, **values: tuple[float, str]) -> str:
        components = [{"code": c, "value": v, "unit": u} for c, (v, u) in values.items()]
        return self.file("readings", kind, {"components": components}, minute)


@pytest.fixture
def filed(tmp_path: Path) -> tuple[PracticeStore, dict[str, str]]:
    f = Filing(tmp_path / "practice.sqlite")
    ids = {
        "bp": f.reading(
            "blood_pressure", 1,
            systolic=(186, "mm[Hg]"), diastolic=(121, "mm[Hg]"), pulse=(90, "/min"),
        ),
        "weight": f.reading("body_weight", 2, weight=(82.4, "kg")),
        "height": f.reading("body_height", 3, height=(176.0, "cm")),
        "spo2": f.reading("oxygen_saturation", 4, spo2=(97, "%"), pulse=(72, "/min")),
        "temp": f.reading("body_temperature", 5, temperature=(37.1, "Cel")),
        "anonymous": f.reading("blood_pressure", 6, systolic=(120, "mm[Hg]"),
                               diastolic=(80, "mm[Hg]"), pulse=(60, "/min")),
    }  # fmt: skip
    bmi = [{"kind": "bmi", "components": [{"code": "bmi", "value": 26.6, "unit": "kg/m2"}]}]
    ids["consent"] = f.file(
        "submissions",
        "readings_to_record",
        {"session": "s", "patient": PATIENT, "consent": "file_in_gp_record", "context": {},
         "readings": [ids[k] for k in ("bp", "weight", "height", "spo2", "temp")],
         "derived": bmi},
        7,
    )  # fmt: skip
    form = {"version": 1, "language": "en", "actions": [], "bands": {}, "session": "s"}
    phq = {f"q{n}": "several_days" for n in range(1, 10)} | {"q10": "somewhat_difficult"}
    ids["phq"] = f.file(
        "submissions", "questionnaire",
        {**form, "form": "phq-9", "purpose": "questionnaire", "answers": phq,
         "scores": {"total": 9}, "patient": OTHER},
        8,
    )  # fmt: skip
    ids["details"] = f.file(
        "submissions", "change_of_details",
        {**form, "form": "change-of-details", "purpose": "change_of_details",
         "answers": {"details": ["address"], "postcode": "SW1A 2AA", "texts_ok": True,
                     "email": ""},
         "scores": {}, "patient": PATIENT},
        9,
    )  # fmt: skip
    f.file(
        "submissions", "questionnaire",
        {**form, "form": "gad-7", "purpose": "questionnaire", "answers": {"q1": "not_at_all"},
         "scores": {}},
        10,
    )  # fmt: skip
    return f.store, ids


def resources(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["resource"]["id"]: e["resource"] for b in found for e in b["entry"]}


def codings(resource: dict[str, Any], system: str) -> list[str]:
    return [c["code"] for c in resource["code"]["coding"] if c["system"] == system]


def test_every_resource_is_valid_fhir_and_the_export_is_the_same_twice(
    filed: tuple[PracticeStore, dict[str, str]],
) -> None:
    store, _ = filed
    first, counts = bundles(store)
    again, _ = bundles(store)
    assert first == again  # same ids, same PUTs: a second export or post creates nothing new
    for bundle in first:
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "transaction"
        for entry in parsed.entry or []:
            assert entry.request is not None
            assert entry.request.method == "PUT"
            assert entry.request.url == f"{entry.resource.get_resource_type()}/{entry.resource.id}"
    assert counts.resources == {"Observation": 9, "QuestionnaireResponse": 2, "Task": 1}
    assert (counts.anonymous_readings, counts.anonymous_forms) == (1, 1)


def test_readings_are_vital_signs_coded_in_loinc_snomed_and_ucum(
    filed: tuple[PracticeStore, dict[str, str]],
) -> None:
    store, ids = filed
    found = resources(bundles(store)[0])
    assert ids["anonymous"] not in found, "a reading nobody consented to file is never filed"
    bp = found[ids["bp"]]
    assert bp["status"] == "final"
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert codings(bp, "http://loinc.org") == ["85354-9"]
    assert codings(bp, "http://snomed.info/sct") == ["75367002"]
    parts = {codings(c, "http://loinc.org")[0]: c["valueQuantity"] for c in bp["component"]}
    assert parts["8480-6"] == {
        "value": 186, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"
    }  # fmt: skip
    assert parts["8462-4"]["value"] == 121
    assert bp["subject"]["identifier"] == {
        "system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"
    }  # fmt: skip
    assert bp["effectiveDateTime"] == "2026-11-23T10:01:00.000Z"
    assert bp["device"]["identifier"]["value"] == "kiosk-1"
    pulse = found[f"{ids['bp']}-pulse"]
    assert codings(pulse, "http://loinc.org") == ["8867-4"]
    assert pulse["valueQuantity"]["code"] == "/min"
    expected = {
        "weight": ("29463-7", "kg"),
        "height": ("8302-2", "cm"),
        "temp": ("8310-5", "Cel"),
    }
    for key, (loinc, unit) in expected.items():
        observation = found[ids[key]]
        assert codings(observation, "http://loinc.org") == [loinc]
        assert observation["valueQuantity"]["code"] == unit
    assert codings(found[ids["spo2"]], "http://loinc.org") == ["2708-6", "59408-5"]
    bmi = found[f"{ids['consent']}-bmi"]
    assert codings(bmi, "http://loinc.org") == ["39156-5"]
    assert bmi["valueQuantity"] == {
        "value": 26.6, "unit": "kg/m2", "system": "http://unitsofmeasure.org", "code": "kg/m2"
    }  # fmt: skip


def test_each_bundle_is_one_patients_named_by_nhs_number_and_birth_date(
    filed: tuple[PracticeStore, dict[str, str]],
) -> None:
    """The server files an entry only in the one Patient with both (a conditional
    reference), and a refusal holds back only that patient's Bundle."""
    store, ids = filed
    found, counts = bundles(store, max_entries=4)
    whose = [
        {
            (e["resource"].get("subject") or e["resource"]["for"])["reference"]
            for e in bundle["entry"]
        }
        for bundle in found
    ]
    nhs = "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|"
    mine = f"{nhs}9434765919&birthdate=1950-03-01"
    other = f"{nhs}9999999468&birthdate=1980-12-31"
    # 10 entries of the patient in bundles of at most 4, then the other patient's 2
    assert whose == [{mine}, {mine}, {mine}, {other}]
    assert [len(b["entry"]) for b in found] == [4, 4, 2, 2]
    assert counts.bundles == 4
    bp = resources(found)[ids["bp"]]
    assert bp["performer"] == [bp["subject"]]
    assert bp["subject"]["type"] == "Patient"


def test_forms_become_responses_scores_and_a_task_for_staff(
    filed: tuple[PracticeStore, dict[str, str]],
) -> None:
    store, ids = filed
    found = resources(bundles(store)[0])
    response = found[ids["phq"]]
    assert response["resourceType"] == "QuestionnaireResponse"
    assert response["subject"]["identifier"]["value"] == "9999999468"
    answers = {i["linkId"]: i["answer"] for i in response["item"]}
    assert answers["q9"] == [{"valueString": "several_days"}]
    score = found[f"{ids['phq']}-total"]
    assert codings(score, "http://loinc.org") == ["44261-6"]
    assert score["valueInteger"] == 9
    assert score["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{ids['phq']}"}]
    task = found[f"{ids['details']}-task"]
    assert (task["status"], task["intent"]) == ("requested", "order")
    assert task["focus"] == {"reference": f"QuestionnaireResponse/{ids['details']}"}
    details = {i["linkId"]: i.get("answer") for i in found[ids["details"]]["item"]}
    assert details["texts_ok"] == [{"valueBoolean": True}]
    assert details["postcode"] == [{"valueString": "SW1A 2AA"}]
    # FHIR has no empty strings: a question left empty is an item with no answer
    (email,) = [i for i in found[ids["details"]]["item"] if i["linkId"] == "email"]
    assert email == {"linkId": "email"}


def test_the_console_writes_bundles_and_says_what_it_left_out(
    filed: tuple[PracticeStore, dict[str, str]], tmp_path: Path
) -> None:
    store, _ = filed
    path = store.path
    store.close()
    out = tmp_path / "fhir"
    result = run_cli("healthhub-fleet", "fhir", "--store", str(path), "--out", str(out))
    summary = json.loads(result.stdout)
    assert summary["bundles"] == 2, "one for each patient"
    assert summary["anonymous_readings"] == 1
    for name in ("bundle-0001.json", "bundle-0002.json"):
        Bundle.model_validate(json.loads((out / name).read_text()))
    later = run_cli(
        "healthhub-fleet", "fhir", "--store", str(path), "--out", str(tmp_path / "later"),
        "--since", "2026-11-23T10:08:30Z",
    )  # fmt: skip
    assert json.loads(later.stdout)["resources"] == {"QuestionnaireResponse": 1, "Task": 1}
    refused = run_cli(
        "healthhub-fleet", "fhir", "--store", str(path), "--out", str(out), "--since", "soon",
        check=False,
    )  # fmt: skip
    assert refused.returncode == 2
