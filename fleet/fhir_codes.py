"""The codes a reading or a score is filed under: LOINC, SNOMED CT and UCUM, with sources.

Each measurement kind (``protocol/measurements.py``) becomes an ``Observation`` coded with
LOINC (what FHIR's vital-signs profiles require) and the SNOMED CT concept GP systems in
England record (EMIS and SystmOne code vital signs in SNOMED CT). Sources:

- LOINC codes of the FHIR R4 vital-signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html):
  85354-9 blood pressure panel, 8480-6 systolic, 8462-4 diastolic, 8867-4 heart rate,
  29463-7 body weight, 8302-2 body height, 39156-5 BMI, 2708-6 and 59408-5 oxygen saturation
  (59408-5: by pulse oximetry), 8310-5 body temperature.
- SNOMED CT UK edition (NHS England, termbrowser.nhs.uk): 75367002 blood pressure,
  271649006 systolic blood pressure, 271650006 diastolic blood pressure, 364075005 heart rate,
  27113001 body weight, 50373000 body height, 60621009 body mass index, 431314004 peripheral
  oxygen saturation, 386725007 body temperature.
- Questionnaire totals, LOINC: 44261-6 PHQ-9 total score, 70274-6 GAD-7 total score,
  75626-2 AUDIT-C total score.
- Units: UCUM (ucum.org), system ``http://unitsofmeasure.org``, the codes the device sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
NHS_NUMBER: Final = "https://fhir.nhs.uk/Id/nhs-number"
#: An envelope id as a FHIR identifier: a UUID is a URI (RFC 4122 ``urn:uuid:``).
URI_SYSTEM: Final = "urn:ietf:rfc:3986"
#: Health Hub's own ids of units (the fleet's device ids).
DEVICE_SYSTEM: Final = "urn:healthhub:device"
VITAL_SIGNS: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs",
    "display": "Vital Signs",
}
SURVEY: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "survey",
    "display": "Survey",
}
UK_CORE_OBSERVATION: Final = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation"
UK_CORE_QUESTIONNAIRE_RESPONSE: Final = (
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-QuestionnaireResponse"
)
UK_CORE_TASK: Final = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Task"


@dataclass(frozen=True)
class Concept:
    loinc: str
    snomed: str | None
    display: str

    def codeable(self, *, extra_loinc: tuple[str, ...] = ()) -> dict[str, object]:
        coding: list[dict[str, str]] = [
            {"system": LOINC, "code": code, "display": self.display}
            for code in (self.loinc, *extra_loinc)
        ]
        if self.snomed is not None:
            coding.append({"system": SNOMED, "code": self.snomed, "display": self.display})
        return {"coding": coding, "text": self.display}


@dataclass(frozen=True)
class VitalSign:
    """How one measurement kind is filed: the Observation's code and the FHIR core
    vital-signs profile it meets, and per component its code (None: the value itself)."""

    concept: Concept
    profile: str
    components: dict[str, Concept | None]
    extra_loinc: tuple[str, ...] = ()


_FHIR = "http://hl7.org/fhir/StructureDefinition/"
HEART_RATE = Concept("8867-4", "364075005", "Heart rate")

VITAL_SIGNS_BY_KIND: Final[dict[str, VitalSign]] = {
    "blood_pressure": VitalSign(
        Concept("85354-9", "75367002", "Blood pressure"),
        _FHIR + "bp",
        {
            "systolic": Concept("8480-6", "271649006", "Systolic blood pressure"),
            "diastolic": Concept("8462-4", "271650006", "Diastolic blood pressure"),
        },
    ),
    "heart_rate": VitalSign(HEART_RATE, _FHIR + "heartrate", {"pulse": None}),
    "body_weight": VitalSign(
        Concept("29463-7", "27113001", "Body weight"), _FHIR + "bodyweight", {"weight": None}
    ),
    "body_height": VitalSign(
        Concept("8302-2", "50373000", "Body height"), _FHIR + "bodyheight", {"height": None}
    ),
    "bmi": VitalSign(
        Concept("39156-5", "60621009", "Body mass index"), _FHIR + "bmi", {"bmi": None}
    ),
    "oxygen_saturation": VitalSign(
        Concept("2708-6", "431314004", "Oxygen saturation"),
        _FHIR + "oxygensat",
        {"spo2": None},
        extra_loinc=("59408-5",),
    ),
    "body_temperature": VitalSign(
        Concept("8310-5", "386725007", "Body temperature"),
        _FHIR + "bodytemp",
        {"temperature": None},
    ),
}

#: Totals of validated questionnaires that have a LOINC code, by form id and score id.
QUESTIONNAIRE_SCORES: Final[dict[tuple[str, str], Concept]] = {
    ("phq-9", "total"): Concept("44261-6", None, "PHQ-9 total score"),
    ("gad-7", "total"): Concept("70274-6", None, "GAD-7 total score"),
    ("audit-c", "total"): Concept("75626-2", None, "AUDIT-C total score"),
}
