"""Clinical banding: every published edge, at it and on either side, and the rules around them.

Each threshold table mirrors a table in ``docs/clinical-safety/banding.md`` (which names these
tests) and cites its source in ``ui/banding.py``. Edges are tested on the values the patient
is shown (whole mmHg, beats/min and %, one decimal for degC and kg/m2).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from healthhub.ui import banding
from healthhub.ui.banding import Band, FamilyBackground, Level

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "ui" / "banding.py"

L, N, R, H, U = Level.LOW, Level.NORMAL, Level.RAISED, Level.HIGH, Level.URGENT
FAST = settings(max_examples=300, derandomize=True, deadline=None)


# --------------------------------------------------------------------------- blood pressure


@pytest.mark.parametrize(
    ("systolic", "level", "category"),
    [
        (75, L, "low_blood_pressure"),
        (89, L, "low_blood_pressure"),  # NHS: less than 90/60
        (90, N, "below_hypertension_threshold"),
        (91, N, "below_hypertension_threshold"),
        (139, N, "below_hypertension_threshold"),
        (140, R, "stage_1_hypertension_range"),  # NG136 1.2.3: 140/90 or higher
        (141, R, "stage_1_hypertension_range"),
        (159, R, "stage_1_hypertension_range"),
        (160, H, "stage_2_hypertension_range"),  # NG136 stage 2: 160/100 or higher
        (161, H, "stage_2_hypertension_range"),
        (179, H, "stage_2_hypertension_range"),
        (180, U, "severe_hypertension_range"),  # NG136 severe: systolic 180 or higher
        (181, U, "severe_hypertension_range"),
        (300, U, "severe_hypertension_range"),
    ],
)
def test_blood_pressure_systolic_edges(systolic: int, level: Level, category: str) -> None:
    band = banding.blood_pressure(systolic, 70)  # diastolic 70 is normal on its own
    assert (band.level, band.category) == (level, category)
    assert band.measure == "blood_pressure"
    assert band.urgent is (level is U)


@pytest.mark.parametrize(
    ("diastolic", "level"),
    [
        (20, L),
        (59, L),  # NHS: less than 90/60
        (60, N),
        (61, N),
        (89, N),
        (90, R),  # NG136: 140/90 or higher
        (91, R),
        (99, R),
        (100, H),  # NG136 stage 2: 160/100 or higher
        (101, H),
        (119, H),
        (120, U),  # NG136 severe: diastolic 120 or higher
        (121, U),
    ],
)
def test_blood_pressure_diastolic_edges(diastolic: int, level: Level) -> None:
    band = banding.blood_pressure(130, diastolic)  # systolic 130 is normal on its own
    assert band.level is level
    assert band.urgent is (level is U)


@pytest.mark.parametrize(
    ("systolic", "diastolic", "level"),
    [
        (185, 70, U),  # systolic alone
        (135, 125, U),  # diastolic alone
        (150, 55, R),  # a high number outranks a low one (isolated systolic hypertension)
        (165, 95, H),  # the higher band of the two
        (145, 105, H),
        (85, 50, L),
        (120, 80, N),
    ],
)
def test_blood_pressure_either_number_decides(systolic: int, diastolic: int, level: Level) -> None:
    assert banding.blood_pressure(systolic, diastolic).level is level


@pytest.mark.parametrize(
    ("systolic", "diastolic", "level"),
    [
        (139.4, 80, N),  # shown as 139
        (139.5, 80, R),  # shown as 140: banded as shown, half up
        (179.5, 80, U),
        (130, 119.5, U),
        (130, 89.49, N),
        (89.5, 70, N),  # shown as 90
        (89.4, 70, L),
    ],
)
def test_blood_pressure_is_banded_as_shown(systolic: float, diastolic: float, level: Level) -> None:
    assert banding.blood_pressure(systolic, diastolic).level is level


@FAST
@given(
    st.integers(41, 300),
    st.integers(20, 250),
    st.integers(1, 60),
)
def test_blood_pressure_level_never_falls_as_either_number_rises(
    systolic: int, diastolic: int, step: int
) -> None:
    assume(systolic > diastolic)
    before = banding.blood_pressure(systolic, diastolic).level.rank
    if systolic + step <= 300:
        assert banding.blood_pressure(systolic + step, diastolic).level.rank >= before
    if diastolic + step < systolic and diastolic + step <= 250:
        assert banding.blood_pressure(systolic, diastolic + step).level.rank >= before


@FAST
@given(st.integers(41, 300), st.integers(20, 250))
def test_blood_pressure_is_urgent_exactly_from_180_or_120(systolic: int, diastolic: int) -> None:
    assume(systolic > diastolic)
    band = banding.blood_pressure(systolic, diastolic)
    assert band.urgent is (systolic >= 180 or diastolic >= 120)


def test_raised_blood_pressure_says_one_reading_is_not_a_diagnosis() -> None:
    for band in (banding.blood_pressure(145, 80), banding.blood_pressure(165, 80)):
        assert banding.BP_ONE_READING in band.cautions
    # reassurance is never attached to a reading that needs a clinician today
    assert banding.blood_pressure(190, 80).cautions == ()


# --------------------------------------------------------------------------- BMI

STANDARD_EDGES = [
    (15.0, L, "underweight"),
    (18.4, L, "underweight"),
    (18.5, N, "healthy_weight"),
    (24.9, N, "healthy_weight"),
    (25.0, R, "overweight"),
    (29.9, R, "overweight"),
    (30.0, H, "obesity_class_1"),
    (34.9, H, "obesity_class_1"),
    (35.0, H, "obesity_class_2"),
    (39.9, H, "obesity_class_2"),
    (40.0, H, "obesity_class_3"),
    (60.0, H, "obesity_class_3"),
]

LOWER_EDGES = [
    (18.4, L, "underweight"),  # NICE does not move the underweight edge
    (18.5, N, "healthy_weight"),
    (22.9, N, "healthy_weight"),
    (23.0, R, "overweight"),  # NG246 1.9.11: overweight from 23
    (27.4, R, "overweight"),
    (27.5, H, "obesity_class_1"),  # NG246 1.9.11: obesity from 27.5
    (32.4, H, "obesity_class_1"),
    (32.5, H, "obesity_class_2"),  # classes 2 and 3 lowered by 2.5
    (37.4, H, "obesity_class_2"),
    (37.5, H, "obesity_class_3"),
]


@pytest.mark.parametrize(("value", "level", "category"), STANDARD_EDGES)
@pytest.mark.parametrize("background", [FamilyBackground.OTHER, FamilyBackground.NOT_SAID])
def test_bmi_standard_edges(
    value: float, level: Level, category: str, background: FamilyBackground
) -> None:
    band = banding.bmi(value, background)
    assert (band.level, band.category) == (level, category)
    assert "1.9.11" not in band.source


@pytest.mark.parametrize(("value", "level", "category"), LOWER_EDGES)
def test_bmi_lower_thresholds_edges(value: float, level: Level, category: str) -> None:
    band = banding.bmi(value, FamilyBackground.HIGHER_RISK)
    assert (band.level, band.category) == (level, category)
    assert banding.BMI_LOWER_USED in band.cautions


@pytest.mark.parametrize(
    ("value", "standard", "lower"),
    [(23.0, N, R), (24.9, N, R), (27.5, R, H), (29.9, R, H)],
)
def test_bmi_background_changes_the_band(value: float, standard: Level, lower: Level) -> None:
    assert banding.bmi(value, FamilyBackground.OTHER).level is standard
    assert banding.bmi(value, FamilyBackground.NOT_SAID).level is standard
    assert banding.bmi(value, FamilyBackground.HIGHER_RISK).level is lower


def test_bmi_not_said_uses_standard_thresholds_and_says_lower_ones_exist() -> None:
    not_said = banding.bmi(24.0, FamilyBackground.NOT_SAID)
    other = banding.bmi(24.0, FamilyBackground.OTHER)
    assert not_said.level is other.level is N
    assert banding.BMI_SOME_LOWER in not_said.cautions
    assert banding.BMI_SOME_LOWER not in other.cautions
    assert banding.BMI_LOWER_USED not in not_said.cautions


@FAST
@given(st.floats(5, 250), st.sampled_from(list(FamilyBackground)))
def test_bmi_is_never_urgent_and_always_says_it_is_for_adults(
    value: float, background: FamilyBackground
) -> None:
    band = banding.bmi(value, background)
    assert not band.urgent
    assert band.level is not U
    assert banding.BMI_FOR_ADULTS in band.cautions
    assert banding.BMI_NOT_FOR_EVERYONE in band.cautions


@FAST
@given(st.floats(5, 250))
def test_bmi_lower_thresholds_are_never_less_cautious(value: float) -> None:
    lower = banding.bmi(value, FamilyBackground.HIGHER_RISK)
    standard = banding.bmi(value, FamilyBackground.OTHER)
    assert lower.level.rank >= standard.level.rank


@FAST
@given(st.floats(5, 249), st.floats(0.01, 1))
def test_bmi_level_never_falls_as_bmi_rises_above_healthy(value: float, step: float) -> None:
    assume(value >= 18.5)
    for background in FamilyBackground:
        before = banding.bmi(value, background).level.rank
        assert banding.bmi(value + step, background).level.rank >= before


@pytest.mark.parametrize(
    ("weight", "height", "expected"),
    [
        (70, 175, 22.9),  # 22.857...
        (100, 200, 25.0),
        (81, 180, 25.0),
        (58, 176.3, 18.7),  # 18.660...
        (57.9, 176.3, 18.6),
        (50, 100, 50.0),
    ],
)
def test_body_mass_index(weight: float, height: float, expected: float) -> None:
    assert banding.body_mass_index(weight, height) == expected


@FAST
@given(st.floats(20, 300), st.floats(100, 230))
def test_body_mass_index_is_weight_over_height_squared_to_one_decimal(
    weight: float, height: float
) -> None:
    value = banding.body_mass_index(weight, height)
    assert abs(value - weight / (height / 100) ** 2) <= 0.05 + 1e-9
    assert value == round(value, 1)


@pytest.mark.parametrize(
    ("weight", "height"),
    [(0, 170), (-70, 170), (70, 0), (70, -170), (math.nan, 170), (70, math.inf)],
)
def test_body_mass_index_refuses_impossible_inputs(weight: float, height: float) -> None:
    with pytest.raises(ValueError):
        banding.body_mass_index(weight, height)


def test_family_background_question_offers_every_answer_once() -> None:
    answers = [answer for answer, _ in banding.FAMILY_BACKGROUND_OPTIONS]
    assert sorted(answers) == sorted(FamilyBackground)
    labels = [label for _, label in banding.FAMILY_BACKGROUND_OPTIONS]
    assert all(labels)
    assert len(set(labels)) == len(labels)
    higher = dict(banding.FAMILY_BACKGROUND_OPTIONS)[FamilyBackground.HIGHER_RISK]
    for group in (
        "South Asian",
        "Chinese",
        "other Asian",
        "Middle Eastern",
        "Black African",
        "African-Caribbean",
    ):
        assert group in higher  # the groups NICE NG246 1.9.11 names, all of them
    assert banding.FAMILY_BACKGROUND_QUESTION.endswith("?")


# --------------------------------------------------------------------------- oxygen


@pytest.mark.parametrize(
    ("spo2", "level"),
    [
        (30, U),
        (88, U),
        (92, U),  # NHS England: 92% or less
        (92.4, U),  # shown as 92
        (92.5, R),  # shown as 93
        (93, R),  # 93-94%: urgent advice the same day
        (94, R),
        (94.5, N),  # shown as 95
        (95, N),  # 95% or more
        (96, N),
        (100, N),
    ],
)
def test_oxygen_edges(spo2: float, level: Level) -> None:
    band = banding.oxygen_saturation(spo2)
    assert band.level is level
    assert band.urgent is (level is U)


@FAST
@given(st.floats(30, 100))
def test_every_oxygen_band_carries_the_skin_tone_caution(spo2: float) -> None:
    cautions = banding.oxygen_saturation(spo2).cautions
    assert banding.OXIMETER_SKIN in cautions
    assert banding.OXIMETER_FEEL in cautions


@FAST
@given(st.floats(30, 99), st.floats(0.01, 5))
def test_oxygen_concern_never_rises_as_oxygen_rises(spo2: float, step: float) -> None:
    higher = min(spo2 + step, 100)
    assert banding.concern(banding.oxygen_saturation(higher)) <= banding.concern(
        banding.oxygen_saturation(spo2)
    )


# --------------------------------------------------------------------------- pulse


@pytest.mark.parametrize(
    ("beats", "level", "category"),
    [
        (20, U, "news2_pulse_3_low"),
        (40, U, "news2_pulse_3_low"),  # NEWS2: 40 or less scores 3
        (41, L, "news2_pulse_1_low"),
        (50, L, "news2_pulse_1_low"),
        (51, N, "news2_pulse_0"),
        (90, N, "news2_pulse_0"),
        (91, R, "news2_pulse_1_high"),
        (110, R, "news2_pulse_1_high"),
        (111, H, "news2_pulse_2_high"),
        (130, H, "news2_pulse_2_high"),
        (130.4, H, "news2_pulse_2_high"),  # shown as 130
        (130.5, U, "news2_pulse_3_high"),  # shown as 131
        (131, U, "news2_pulse_3_high"),  # NEWS2: 131 or more scores 3
        (300, U, "news2_pulse_3_high"),
    ],
)
def test_pulse_edges(beats: float, level: Level, category: str) -> None:
    band = banding.pulse(beats)
    assert (band.level, band.category) == (level, category)
    assert band.urgent is (level is U)


# --------------------------------------------------------------------------- temperature


@pytest.mark.parametrize(
    ("celsius", "level"),
    [
        (25.0, U),
        (35.0, U),  # NEWS2: 35.0 or less scores 3
        (35.04, U),  # shown as 35.0
        (35.05, L),  # shown as 35.1
        (35.1, L),
        (36.0, L),
        (36.1, N),
        (37.0, N),
        (37.9, N),
        (37.95, R),  # shown as 38.0
        (38.0, R),  # NHS: a high temperature is 38C or above
        (39.0, R),
        (39.1, H),  # NEWS2: 39.1 or more scores 2
        (45.0, H),
    ],
)
def test_temperature_edges(celsius: float, level: Level) -> None:
    band = banding.body_temperature(celsius)
    assert band.level is level
    assert band.urgent is (level is U)


def test_normal_temperature_still_says_what_to_do_if_you_feel_feverish() -> None:
    assert banding.TEMP_FEEL in banding.body_temperature(37.2).cautions


@FAST
@given(st.floats(20, 300), st.floats(0.01, 20))
def test_pulse_concern_grows_away_from_normal(beats: float, step: float) -> None:
    nearer, farther = (beats, beats + step) if beats >= 70 else (beats, beats - step)
    assume(20 <= farther <= 300)
    assert banding.concern(banding.pulse(farther)) >= banding.concern(banding.pulse(nearer))


@FAST
@given(st.floats(25, 45), st.floats(0.01, 3))
def test_temperature_concern_grows_away_from_normal(celsius: float, step: float) -> None:
    nearer, farther = (celsius, celsius + step) if celsius >= 37 else (celsius, celsius - step)
    assume(25 <= farther <= 45)
    assert banding.concern(banding.body_temperature(farther)) >= banding.concern(
        banding.body_temperature(nearer)
    )


# --------------------------------------------------------------------------- every measure

ONE_VALUE: dict[str, Callable[[float], Band]] = {
    "blood_pressure_systolic": lambda v: banding.blood_pressure(v, 70),
    "blood_pressure_diastolic": lambda v: banding.blood_pressure(130, v),
    "bmi": lambda v: banding.bmi(v, FamilyBackground.OTHER),
    "oxygen_saturation": banding.oxygen_saturation,
    "pulse": banding.pulse,
    "body_temperature": banding.body_temperature,
}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("measure", sorted(ONE_VALUE))
def test_non_finite_values_are_refused(measure: str, value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        ONE_VALUE[measure](value)


@pytest.mark.parametrize(
    ("call", "value"),
    [
        ("oxygen_saturation", 101),
        ("oxygen_saturation", 0),
        ("body_temperature", 98.6),  # Fahrenheit is not degC
        ("pulse", 5),
        ("bmi", 300),
        ("blood_pressure_systolic", 350),
        ("blood_pressure_diastolic", 10),
    ],
)
def test_impossible_values_are_refused(call: str, value: float) -> None:
    with pytest.raises(ValueError, match="not a real measurement"):
        ONE_VALUE[call](value)


def test_blood_pressure_with_diastolic_above_systolic_is_refused() -> None:
    with pytest.raises(ValueError, match="systolic must be above diastolic"):
        banding.blood_pressure(80, 120)


@pytest.mark.parametrize("value", [True, "120", None])
def test_values_that_are_not_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        banding.pulse(value)  # type: ignore[arg-type]


@FAST
@given(
    st.sampled_from(["oxygen_saturation", "pulse", "body_temperature"]),
    st.floats(25, 300),
)
def test_a_value_has_the_band_of_the_number_shown(measure: str, value: float) -> None:
    call = ONE_VALUE[measure]
    try:
        band = call(value)
    except ValueError:
        return  # outside this measure's possible range
    shown = banding.as_shown(measure, value)
    assert call(float(shown)) == band


def test_as_shown_rounds_half_up_like_a_person() -> None:
    assert str(banding.as_shown("blood_pressure", 138.5)) == "139"  # not banker's 138
    assert str(banding.as_shown("bmi", 24.95)) == "25.0"
    assert str(banding.as_shown("body_temperature", 37.25)) == "37.3"
    assert str(banding.as_shown("oxygen_saturation", 97)) == "97"


# --------------------------------------------------------------------------- worst


def test_worst_puts_urgent_first_then_concern() -> None:
    normal = banding.pulse(70)
    low = banding.blood_pressure(85, 55)
    high = banding.blood_pressure(170, 80)
    urgent = banding.oxygen_saturation(90)
    assert banding.worst([normal, low, urgent, high]) is urgent
    assert banding.worst([normal, high, low]) is high
    assert banding.worst([normal, low]) is low  # a LOW is more worrying than a NORMAL
    assert banding.worst([normal]) is normal
    assert banding.worst([]) is None
    assert banding.worst(iter([low, banding.pulse(100)])) is low  # ties: the first given


@FAST
@given(st.lists(st.sampled_from(banding.all_bands()), min_size=1, max_size=8))
def test_worst_is_one_of_the_bands_and_none_is_worse(bands: list[Band]) -> None:
    chosen = banding.worst(bands)
    assert chosen in bands
    assert all(
        (b.urgent, banding.concern(b)) <= (chosen.urgent, banding.concern(chosen)) for b in bands
    )
    assert chosen.urgent is any(b.urgent for b in bands)


# --------------------------------------------------------------------------- the bands themselves


def test_every_urgent_band_sends_the_patient_to_reception_now() -> None:
    bands = banding.all_bands()
    assert {b.measure for b in bands if b.urgent} == {
        "blood_pressure",
        "oxygen_saturation",
        "pulse",
        "body_temperature",
    }
    for band in bands:
        says_now = "speak to reception now" in band.advice
        assert says_now is band.urgent, band
        assert (band.symbol == "urgent") is band.urgent


def test_meaning_is_never_carried_by_colour_alone() -> None:
    for band in banding.all_bands():
        assert band.symbol in banding.SYMBOLS
    assert banding.pulse(70).symbol == "tick"
    assert banding.pulse(100).symbol == "attention"
    assert banding.pulse(45).symbol == "info"
    assert banding.pulse(150).symbol == "urgent"


def test_a_band_cannot_be_urgent_without_the_urgent_level() -> None:
    with pytest.raises(ValueError, match="urgent exactly when"):
        Band("pulse", Level.HIGH, "t", "a", "s", urgent=True)
    with pytest.raises(ValueError, match="urgent exactly when"):
        Band("pulse", Level.URGENT, "t", "a", "s", urgent=False)
    with pytest.raises(ValueError, match="unknown symbol"):
        Band("pulse", Level.NORMAL, "t", "a", "s", urgent=False, symbol="red")


def test_every_band_cites_a_published_source() -> None:
    for band in banding.all_bands():
        assert re.search(r"\b(NICE|NHS|RCP|MHRA)\b", band.source), band
        assert re.search(r"\b(19|20)\d\d\b|NHS:", band.source), band  # a year, or an NHS page
        assert band.category


# --------------------------------------------------------------------------- texts


def _marked_texts(path: Path) -> set[str]:
    """Every N_ literal in a source file; fails if N_ is called with anything else."""
    marked: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_":
            assert len(node.args) == 1, ast.unparse(node)
            assert not node.keywords, ast.unparse(node)
            (arg,) = node.args
            assert isinstance(arg, ast.Constant), ast.unparse(node)
            assert isinstance(arg.value, str), ast.unparse(node)
            marked.add(arg.value)
    return marked


def _patient_texts() -> set[str]:
    texts: set[str] = set()
    backgrounds = list(FamilyBackground)
    bands = [*banding.all_bands(), *(banding.bmi(v, b) for v in (17, 22, 28) for b in backgrounds)]
    for band in bands:
        texts |= {band.title, band.advice, *band.cautions}
    texts |= {banding.FAMILY_BACKGROUND_QUESTION, banding.FAMILY_BACKGROUND_WHY}
    texts |= {label for _, label in banding.FAMILY_BACKGROUND_OPTIONS}
    return texts


def test_every_patient_text_is_marked_for_translation() -> None:
    marked = _marked_texts(SOURCE)
    missing = _patient_texts() - marked
    assert not missing


JARGON = re.compile(
    r"hypertens|hypotens|hypox|saturation|tachy|brady|pyrex|hypotherm|obese\b|mmhg|spo2|"
    r"diagnos|clinic(al)?\b|!",
    re.IGNORECASE,
)


def test_patient_texts_are_short_plain_and_calm() -> None:
    for text in _patient_texts():
        assert len(text) <= 90, text
        assert not JARGON.search(text), text
        assert text == text.strip(), text
        assert "  " not in text, text
        for sentence in filter(None, re.split(r"(?<=[.?])\s+", text)):
            assert len(sentence.split()) <= 16, sentence


# --------------------------------------------------------------------------- documents


@pytest.mark.parametrize(
    "document", ["docs/clinical-safety/banding.md", "docs/clinical-safety/hazard-log.md"]
)
def test_documents_name_tests_that_exist(document: str) -> None:
    text = (REPO / document).read_text()
    cited = re.findall(r"tests/ui/(test_banding|test_identity)\.py::(\w+)", text)
    if document.endswith("banding.md"):
        assert cited
    for module, name in cited:
        tree = ast.parse((REPO / "tests" / "ui" / f"{module}.py").read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert name in names, f"{document} cites tests/ui/{module}.py::{name}"


def test_banding_document_shows_the_exact_wording() -> None:
    document = " ".join((REPO / "docs" / "clinical-safety" / "banding.md").read_text().split())
    missing = sorted(text for text in _patient_texts() if text not in document)
    assert not missing
