"""The practice store as FHIR R4 transaction Bundles: what goes into patients' records.

Only what a patient asked to be filed goes: readings named by a ``readings_to_record``
consent (with the BMI worked out from them), and forms sent with the patient's NHS number.
Anonymous readings and forms are counted in reports and never filed.

- A reading becomes an ``Observation`` (status ``final``, category ``vital-signs``, LOINC and
  SNOMED CT codes, UCUM units: :mod:`healthhub.fleet.fhir_codes`), ``effectiveDateTime`` when it
  was taken, ``subject`` and ``performer`` the patient (they measured themselves) by NHS
  number, ``device`` the unit. A pulse taken with a blood pressure or SpO2 is its own heart
  rate Observation.
- A form becomes a ``QuestionnaireResponse``; a validated questionnaire's total with a LOINC
  code is also a ``survey`` Observation derived from it; a change of details is also a
  ``Task`` for staff to check and make (never an automatic update of the record).

Every resource's id is made from the envelope id (a UUIDv7), and every entry is a ``PUT`` to
that id, so exporting or posting the same envelopes again creates nothing new.

The patient is named by a *conditional reference* holding both their NHS number and their date
of birth (``Patient?identifier=...|NHS&birthdate=YYYY-MM-DD``). The server resolves it inside
the transaction to the one Patient with both, and fails the whole transaction when none or
several match (FHIR R4 http.html#trules, "Conditional References"). A mistyped NHS number that
is still valid (modulus 11) belongs to somebody else, whose date of birth almost never agrees:
the entries are refused instead of filed in that person's record (hazard H13/H52). Each
Bundle holds one patient's entries, so a refusal holds back only that patient's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from healthhub.fleet import fhir_codes as codes
from healthhub.fleet.store import PracticeStore
from healthhub.protocol.submissions import FORM_KINDS, READINGS_TO_RECORD

#: Entries in one Bundle: a server takes a transaction whole or not at all.
MAX_ENTRIES = 500


@dataclass
class ExportCounts:
    resources: dict[str, int] = field(default_factory=dict)
    anonymous_readings: int = 0
    anonymous_forms: int = 0
    bundles: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def patient_match(patient: dict[str, str]) -> str:
    """The search a server resolves to the one Patient with this NHS number and birth date."""
    return (
        f"Patient?identifier={codes.NHS_NUMBER}|{patient['nhs_number']}"
        f"&birthdate={patient['birth_date']}"
    )


def _patient(patient: dict[str, str]) -> dict[str, Any]:
    return {
        "reference": patient_match(patient),
        "type": "Patient",
        "identifier": {"system": codes.NHS_NUMBER, "value": patient["nhs_number"]},
    }


def _identifier(envelope_id: str, part: str = "") -> list[dict[str, str]]:
    value = f"urn:uuid:{envelope_id}" + (f"#{part}" if part else "")
    return [{"system": codes.URI_SYSTEM, "value": value}]


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def _observation(
    sign: codes.VitalSign,
    reading: dict[str, Any],
    patient: dict[str, str],
    values: dict[str, tuple[float, str]],
    part: str = "",
) -> dict[str, Any]:
    """The Observation of ``reading`` (``part``: one more made from the same envelope, such
    as its pulse: its id and identifier are the envelope's with the part added)."""
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{reading['id']}-{part}" if part else reading["id"],
        "meta": {"profile": [codes.UK_CORE_OBSERVATION, sign.profile]},
        "identifier": _identifier(reading["id"], part),
        "status": "final",
        "category": [{"coding": [codes.VITAL_SIGNS]}],
        "code": sign.concept.codeable(extra_loinc=sign.extra_loinc),
        "subject": _patient(patient),
        "performer": [_patient(patient)],
        "effectiveDateTime": reading["at"],
        "device": {
            "identifier": {"system": codes.DEVICE_SYSTEM, "value": reading["device"]},
            "display": f"Health Hub unit {reading['device']} at {reading['site']}",
        },
    }
    components = [
        {"code": concept.codeable(), "valueQuantity": _quantity(*values[code])}
        for code, concept in sign.components.items()
        if concept is not None and code in values
    ]
    if components:
        observation["component"] = components
    else:
        (code,) = sign.components
        observation["valueQuantity"] = _quantity(*values[code])
    return observation


def _values(components: list[dict[str, Any]]) -> dict[str, tuple[float, str]]:
    return {c["code"]: (c["value"], c["unit"]) for c in components}


def reading_observations(reading: dict[str, Any], patient: dict[str, str]) -> list[dict[str, Any]]:
    """The Observations of one reading (a pulse taken with it is one more)."""
    values = _values(reading["components"])
    kind = reading["kind"]
    found = [_observation(codes.VITAL_SIGNS_BY_KIND[kind], reading, patient, values)]
    if kind != "heart_rate" and "pulse" in values:
        pulse = codes.VITAL_SIGNS_BY_KIND["heart_rate"]
        found.append(_observation(pulse, reading, patient, values, "pulse"))
    return found


def _answer(value: Any) -> list[dict[str, Any]]:
    """FHIR answers of one question; none for an empty text (FHIR allows no empty strings,
    and one would make a server refuse the whole transaction)."""
    if isinstance(value, bool):
        return [{"valueBoolean": value}]
    if isinstance(value, int):
        return [{"valueInteger": value}]
    if isinstance(value, float):
        return [{"valueDecimal": value}]
    if isinstance(value, list):
        return [{"valueString": str(item)} for item in value if str(item).strip()]
    return [{"valueString": str(value)}] if str(value).strip() else []


def _item(question: str, value: Any) -> dict[str, Any]:
    answers = _answer(value)
    return {"linkId": question, "answer": answers} if answers else {"linkId": question}


def form_resources(submission: dict[str, Any]) -> list[dict[str, Any]]:
    """A form sent with the patient's details: its QuestionnaireResponse, a score
    Observation where the score has a code, and a Task where staff must act."""
    body, eid = submission["body"], submission["id"]
    patient = _patient(body["patient"])
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": eid,
        "meta": {"profile": [codes.UK_CORE_QUESTIONNAIRE_RESPONSE]},
        "identifier": _identifier(eid)[0],
        "questionnaire": f"urn:healthhub:form:{body['form']}|{body['version']}",
        "status": "completed",
        "subject": patient,
        "source": patient,
        "authored": submission["at"],
        "item": [_item(question, value) for question, value in body["answers"].items()],
    }
    found = [response]
    for score, value in body.get("scores", {}).items():
        concept = codes.QUESTIONNAIRE_SCORES.get((body["form"], score))
        if concept is None:
            continue
        found.append(
            {
                "resourceType": "Observation",
                "id": f"{eid}-{score}",
                "meta": {"profile": [codes.UK_CORE_OBSERVATION]},
                "identifier": _identifier(eid, score),
                "status": "final",
                "category": [{"coding": [codes.SURVEY]}],
                "code": concept.codeable(),
                "subject": patient,
                "effectiveDateTime": submission["at"],
                "valueInteger": value,
                "derivedFrom": [{"reference": f"QuestionnaireResponse/{eid}"}],
            }
        )
    if submission["kind"] == "change_of_details":
        found.append(
            {
                "resourceType": "Task",
                "id": f"{eid}-task",
                "meta": {"profile": [codes.UK_CORE_TASK]},
                "identifier": _identifier(eid, "task"),
                "status": "requested",
                "intent": "order",
                "description": "Check the patient's new details with them, then update the record",
                "focus": {"reference": f"QuestionnaireResponse/{eid}"},
                "for": patient,
                "authoredOn": submission["at"],
            }
        )
    return found


Patient = tuple[str, str]  # NHS number, date of birth


def _key(patient: dict[str, str]) -> Patient:
    return patient["nhs_number"], patient["birth_date"]


def _filed_by(
    submission: dict[str, Any], consented: dict[str, dict[str, str]], counts: ExportCounts
) -> list[tuple[Patient, dict[str, Any]]]:
    """What one submission files (a consent also names the readings it files, in
    ``consented``), with the patient it is about."""
    body, kind = submission["body"], submission["kind"]
    if kind == READINGS_TO_RECORD:
        for reading_id in body["readings"]:
            consented[reading_id] = body["patient"]
        found = [
            r for d in body.get("derived", []) for r in _derived(submission, d, body["patient"])
        ]
    elif kind in FORM_KINDS and "patient" in body:
        found = form_resources(submission)
    else:
        counts.anonymous_forms += kind in FORM_KINDS
        return []
    return [(_key(body["patient"]), resource) for resource in found]


def resources(
    store: PracticeStore, counts: ExportCounts, since: str | None
) -> Iterator[tuple[Patient, dict[str, Any]]]:
    """Every resource to file with the patient it is about, in the order the envelopes were
    taken."""
    consented: dict[str, dict[str, str]] = {}
    for submission in store.submissions(since=since):
        yield from _filed_by(submission, consented, counts)
    for reading in store.readings():
        patient = consented.get(reading["id"])
        if patient is not None:
            for resource in reading_observations(reading, patient):
                yield _key(patient), resource
        elif since is None or reading["at"] >= since:
            counts.anonymous_readings += 1


def _derived(
    submission: dict[str, Any], derived: dict[str, Any], patient: dict[str, str]
) -> list[dict[str, Any]]:
    """A value the unit worked out from readings (BMI), dated when the patient sent it."""
    kind = derived["kind"]
    sign = codes.VITAL_SIGNS_BY_KIND[kind]
    return [_observation(sign, submission, patient, _values(derived["components"]), kind)]


def bundles(
    store: PracticeStore, *, since: str | None = None, max_entries: int = MAX_ENTRIES
) -> tuple[list[dict[str, Any]], ExportCounts]:
    """Transaction Bundles, each of one patient's entries (at most ``max_entries``, so a
    patient with more has several), each entry a PUT to its id. Patients come in the order
    their first resource was taken."""
    counts = ExportCounts()
    per_patient: dict[Patient, list[dict[str, Any]]] = {}
    for patient, resource in resources(store, counts, since):
        kind = resource["resourceType"]
        counts.resources[kind] = counts.resources.get(kind, 0) + 1
        entry = {
            "resource": resource,
            "request": {"method": "PUT", "url": f"{kind}/{resource['id']}"},
        }
        per_patient.setdefault(patient, []).append(entry)
    found = [
        _bundle(entries[start : start + max_entries])
        for entries in per_patient.values()
        for start in range(0, len(entries), max_entries)
    ]
    counts.bundles = len(found)
    return found, counts


def _bundle(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
