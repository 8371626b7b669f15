"""Clinical banding of one measured value: what it means and what the patient should do next.

Pure Python (no Kivy): the screens show a :class:`Band`'s ``title``, ``advice`` and
``cautions`` (each marked with ``N_`` and translated where shown), draw its ``symbol`` so
that meaning is never carried by colour alone, and raise a staff alert when ``urgent``.

Every table below cites the published source it follows, next to the numbers. The same
thresholds, the exact wording and the test that proves each edge are listed in
``docs/clinical-safety/banding.md``; the hazards they control are H8-H13 in
``docs/clinical-safety/hazard-log.md``.

Rules that apply to every measure:

- **Adults only.** Every table is for adults (18 and over). NEWS2 is not validated in
  pregnancy or under 16; NICE's BMI categories are for adults; children's BMI uses centiles.
- **One reading is not a diagnosis.** The bands say what to do next; they never diagnose.
- **Banded as shown.** A value is first rounded half up to the precision the thresholds are
  published in (whole mmHg, beats/min and %, one decimal for degC and kg/m2), and the band
  is chosen for that rounded value. :func:`as_shown` gives the same rounding to the screen,
  so the number the patient sees and the band beside it can never disagree (139.6 mmHg is
  shown as 140 and banded as 140).
- **No band for an impossible value.** A value that is not a finite number, or lies
  outside the plausibility limits of :mod:`healthhub.protocol.measurements` (the same
  limits that refuse it at the driver and the bridge, hazard H4), raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from healthhub.protocol.measurements import KINDS
from healthhub.ui.i18n import N_

__all__ = [
    "DECIMALS",
    "FAMILY_BACKGROUND_OPTIONS",
    "FAMILY_BACKGROUND_QUESTION",
    "FAMILY_BACKGROUND_WHY",
    "MEASURES",
    "SYMBOLS",
    "Band",
    "FamilyBackground",
    "Level",
    "all_bands",
    "as_shown",
    "blood_pressure",
    "bmi",
    "body_mass_index",
    "body_temperature",
    "concern",
    "oxygen_saturation",
    "pulse",
    "worst",
]


class Level(enum.StrEnum):
    """Where a value lies on its measure's scale, from the low end to the high end.

    The member order is the *scale* (LOW lies below NORMAL); how worrying a level is,
    is :func:`concern` (a LOW is more worrying than a NORMAL).
    """

    LOW = "low"
    NORMAL = "normal"
    RAISED = "raised"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Position on the scale: LOW 0 ... URGENT 4 (used to state monotonicity)."""
        return list(Level).index(self)


#: How worrying each level is, for :func:`worst`. LOW ranks with RAISED: in NEWS2 both
#: the first step below and the first step above normal score 1.
_CONCERN: Mapping[Level, int] = MappingProxyType(
    {Level.NORMAL: 0, Level.LOW: 1, Level.RAISED: 1, Level.HIGH: 2, Level.URGENT: 3}
)

MEASURES = frozenset({"blood_pressure", "bmi", "oxygen_saturation", "pulse", "body_temperature"})

#: Non-colour symbols the UI draws beside a band (meaning is never carried by colour alone).
SYMBOLS = frozenset({"tick", "attention", "urgent", "info"})

_DEFAULT_SYMBOL: Mapping[Level, str] = MappingProxyType(
    {
        Level.LOW: "info",
        Level.NORMAL: "tick",
        Level.RAISED: "attention",
        Level.HIGH: "attention",
        Level.URGENT: "urgent",
    }
)

#: Decimal places each measure is published, banded and shown in.
DECIMALS: Mapping[str, int] = MappingProxyType(
    {
        "blood_pressure": 0,
        "pulse": 0,
        "oxygen_saturation": 0,
        "body_temperature": 1,
        "bmi": 1,
    }
)


@dataclass(frozen=True)
class Band:
    """What one measured value means for the patient.

    ``title``, ``advice`` and ``cautions`` are English texts marked with ``N_``; translate
    them where they are shown. ``source`` and ``category`` are for staff and documents.
    ``urgent`` is true exactly when ``level`` is URGENT: the UI then shows "please speak to
    reception now" and raises a staff alert.
    """

    measure: str
    level: Level
    title: str
    advice: str
    source: str
    urgent: bool
    cautions: tuple[str, ...] = ()
    symbol: str = ""  # empty: the level's default ("tick", "info", "attention", "urgent")
    category: str = ""  # staff-facing name, e.g. "stage_2_hypertension", "obesity_class_2"

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ValueError(f"unknown measure {self.measure!r}")
        if self.urgent != (self.level is Level.URGENT):
            raise ValueError("a band is urgent exactly when its level is URGENT")
        if not self.symbol:
            object.__setattr__(self, "symbol", _DEFAULT_SYMBOL[self.level])
        if self.symbol not in SYMBOLS:
            raise ValueError(f"unknown symbol {self.symbol!r}")
        if not self.title or not self.advice or not self.source:
            raise ValueError("a band needs a title, advice and a source")


def concern(band: Band) -> int:
    """How worrying a band is: 0 (normal) to 3 (urgent)."""
    return _CONCERN[band.level]


def worst(bands: Iterable[Band]) -> Band | None:
    """The most concerning band: an urgent one first, then by :func:`concern`.

    Ties go to the band given first; ``None`` when there are no bands.
    """
    chosen: Band | None = None
    for band in bands:
        if chosen is None or (band.urgent, concern(band)) > (chosen.urgent, concern(chosen)):
            chosen = band
    return chosen


# --------------------------------------------------------------------------- values


def as_shown(measure: str, value: float) -> Decimal:
    """``value`` rounded half up to the precision ``measure`` is published, banded and shown in.

    The decimal text of the number is rounded (``Decimal(repr(value))``), as a person would
    round it: 24.95 kg/m2 is shown and banded as 25.0, 139.5 mmHg as 140.
    """
    number = _finite(measure, value)
    places = Decimal(1).scaleb(-DECIMALS[measure])
    return Decimal(repr(number)).quantize(places, rounding=ROUND_HALF_UP)


def _finite(what: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what}: {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what}: {number!r} is not a finite number")
    return number


def _plausible(kind: str, code: str, value: float) -> float:
    """``value`` as a float if it is finite and inside the protocol's plausibility limits."""
    number = _finite(code, value)
    spec = next(spec for spec in KINDS[kind] if spec.code == code)
    if not spec.low <= number <= spec.high:
        raise ValueError(
            f"{code} {number:g} {spec.unit} is outside the possible range "
            f"{spec.low:g}-{spec.high:g}: not a real measurement"
        )
    return number


def _d(text: str) -> Decimal:
    return Decimal(text)


_INFINITY = Decimal("Infinity")


def _pick(value: Decimal, table: tuple[tuple[Decimal, Band], ...]) -> Band:
    """The band of the first row whose inclusive upper edge ``value`` does not exceed."""
    for upper, band in table:
        if value <= upper:
            return band
    raise AssertionError("every table ends with an infinite upper edge")  # pragma: no cover


# Texts shared by several bands.
_NOTHING_TODAY = N_("You do not need to do anything else today.")
_SEE_YOU_NOW = N_("Please speak to reception now, so a nurse or doctor can check you.")


# --------------------------------------------------------------------------- blood pressure
#
# NICE NG136, Hypertension in adults: diagnosis and management (published 28 August 2019,
# last updated 21 November 2023), https://www.nice.org.uk/guidance/ng136
#   - rec 1.2.3: clinic blood pressure between 140/90 and 180/120 mmHg: offer ambulatory
#     (ABPM; or home, HBPM, 1.2.4) monitoring to confirm hypertension;
#   - "Terms used in this guideline": stage 1 = clinic BP 140/90 to 159/99 mmHg; stage 2 =
#     clinic BP 160/100 mmHg or higher but less than 180/120 mmHg; stage 3 or severe =
#     clinic systolic 180 mmHg or higher OR clinic diastolic 120 mmHg or higher;
#   - recs 1.5.1 and 1.5.2: severe hypertension (clinic BP 180/120 mmHg or higher) needs
#     investigations for target organ damage as soon as possible, and same-day specialist
#     assessment with retinal haemorrhage, papilloedema or life-threatening symptoms. A kiosk
#     cannot look for those, so every reading at or above 180 systolic or 120 diastolic is
#     URGENT: reception now, and a clinician decides the same day;
#   - rec 1.2.10: if hypertension is not diagnosed, measure clinic BP at least every 5 years.
#   Either number decides ("systolic ... or diastolic ..."): the higher band of the two wins.
#   Edges are inclusive as published ("140/90 mmHg or higher").
# NHS, Low blood pressure (hypotension),
#   https://www.nhs.uk/conditions/low-blood-pressure-hypotension/
#   "Low blood pressure is a reading of less than 90/60mmHg. It does not always cause
#   symptoms": read as systolic below 90 OR diastolic below 60 (the wider reading; it only
#   adds gentle advice). LOW is never urgent here: see banding.md on NEWS2 and low systolic.

_NG136 = "NICE NG136 (2019, updated 2023)"

BP_ONE_READING = N_("One reading is not enough to know if you have high blood pressure.")
BP_CAN_BE_HIGHER = N_("It can be higher if you have just walked here or feel nervous.")

BP_LOW = Band(
    "blood_pressure",
    Level.LOW,
    N_("Your blood pressure is low"),
    N_("This is often normal. If you feel dizzy or faint, please tell reception now."),
    "NHS: low blood pressure (hypotension), less than 90/60 mmHg",
    urgent=False,
    category="low_blood_pressure",
)
BP_NORMAL = Band(
    "blood_pressure",
    Level.NORMAL,
    N_("Your blood pressure is in the normal range"),
    N_("You do not need to do anything today. Have it checked at least every 5 years."),
    f"{_NG136}, 1.2.3 and 1.2.10: below 140/90 mmHg",
    urgent=False,
    category="below_hypertension_threshold",
)
BP_RAISED = Band(
    "blood_pressure",
    Level.RAISED,
    N_("Your blood pressure is higher than normal"),
    N_("Please ask reception to book a blood pressure check with a nurse."),
    f"{_NG136}, 1.2.3 and terms used: stage 1 range, 140/90 to 159/99 mmHg",
    urgent=False,
    cautions=(BP_ONE_READING, BP_CAN_BE_HIGHER),
    category="stage_1_hypertension_range",
)
BP_HIGH = Band(
    "blood_pressure",
    Level.HIGH,
    N_("Your blood pressure is high"),
    N_("Please ask reception for an appointment with a nurse or GP before you leave."),
    f"{_NG136}, 1.2.3 and terms used: stage 2 range, 160/100 to 179/119 mmHg",
    urgent=False,
    cautions=(BP_ONE_READING, BP_CAN_BE_HIGHER),
    category="stage_2_hypertension_range",
)
BP_URGENT = Band(
    "blood_pressure",
    Level.URGENT,
    N_("Your blood pressure is very high"),
    N_("Please speak to reception now. A nurse or doctor needs to check it today."),
    f"{_NG136}, 1.5.1-1.5.2 and terms used: severe, 180 systolic or 120 diastolic or more",
    urgent=True,
    category="severe_hypertension_range",
)

# (systolic from, diastolic from, band), most severe first: the first row that either number
# reaches decides (NG136 "or"). Edges in whole mmHg, inclusive.
_BP_FROM: tuple[tuple[int, int, Band], ...] = (
    (180, 120, BP_URGENT),
    (160, 100, BP_HIGH),
    (140, 90, BP_RAISED),
)
_BP_LOW_BELOW = (90, 60)  # NHS: "less than 90/60mmHg", either number


def blood_pressure(systolic: float, diastolic: float) -> Band:
    """Band a seated clinic blood pressure reading (mmHg) by NICE NG136 and the NHS."""
    raw_systolic = _plausible("blood_pressure", "systolic", systolic)
    raw_diastolic = _plausible("blood_pressure", "diastolic", diastolic)
    if raw_systolic <= raw_diastolic:
        raise ValueError("systolic must be above diastolic: not a real measurement")
    shown_systolic = as_shown("blood_pressure", raw_systolic)
    shown_diastolic = as_shown("blood_pressure", raw_diastolic)
    for systolic_from, diastolic_from, band in _BP_FROM:
        if shown_systolic >= systolic_from or shown_diastolic >= diastolic_from:
            return band
    systolic_low, diastolic_low = _BP_LOW_BELOW
    if shown_systolic < systolic_low or shown_diastolic < diastolic_low:
        return BP_LOW
    return BP_NORMAL


# --------------------------------------------------------------------------- BMI
#
# NICE NG246, Overweight and obesity management (published 14 January 2025; replaces CG189
# and PH46 among others), https://www.nice.org.uk/guidance/ng246
#   Section 1.9, "Identifying and assessing overweight and obesity in adults", the
#   recommendations on classifying overweight and obesity in adults:
#   - adult BMI classes (kg/m2): healthy weight 18.5 to 24.9; overweight 25 to 29.9;
#     obesity class 1 30 to 34.9; class 2 35 to 39.9; class 3 40 or more. Below 18.5 is
#     underweight (NHS: "under 18.5 - underweight").
#   - rec 1.9.11: people with a South Asian, Chinese, other Asian, Middle Eastern, Black
#     African or African-Caribbean family background are prone to central adiposity and
#     their cardiometabolic risk occurs at lower BMI: overweight 23 to 27.4, obesity 27.5 or
#     above; obesity classes 2 and 3 are usually identified by lowering the class thresholds
#     by 2.5 (to 32.5 and 37.5). The underweight threshold (18.5) is not changed.
#   - interpret BMI with caution in adults with high muscle mass.
#   Earlier sources of the lower thresholds: NICE PH46 (2013), CG189 (2014, updated 2022).
# NHS inform, Body mass index (BMI),
#   https://www.nhsinform.scot/healthy-living/food-and-nutrition/healthy-eating-and-weight-loss/body-mass-index-bmi/
#   "a BMI calculation is not a suitable measure for some people including children and
#   young people under 18, pregnant women and athletes".
# BMI is never URGENT: it is a risk marker, not a sign of acute illness.


class FamilyBackground(enum.StrEnum):
    """The patient's answer to :data:`FAMILY_BACKGROUND_QUESTION`; never assumed."""

    # South Asian, Chinese, other Asian, Middle Eastern, Black African or African-Caribbean
    # (the groups NICE NG246 rec 1.9.11 names)
    HIGHER_RISK = "higher_risk"
    OTHER = "other"
    # the patient preferred not to say: standard thresholds, and a caution that lower ones
    # apply to some family backgrounds
    NOT_SAID = "not_said"


FAMILY_BACKGROUND_QUESTION = N_("Which of these best describes your family background?")
FAMILY_BACKGROUND_WHY = N_("We ask because the healthy BMI range is lower for some families.")
FAMILY_BACKGROUND_OPTIONS: tuple[tuple[FamilyBackground, str], ...] = (
    (
        FamilyBackground.HIGHER_RISK,
        N_("South Asian, Chinese, other Asian, Middle Eastern, Black African or African-Caribbean"),
    ),
    (FamilyBackground.OTHER, N_("Any other family background")),
    (FamilyBackground.NOT_SAID, N_("I would rather not say")),
)

BMI_FOR_ADULTS = N_("BMI ranges are for adults.")
BMI_NOT_FOR_EVERYONE = N_("BMI may not be right for you if you are pregnant or very muscular.")
BMI_LOWER_USED = N_("For your family background, doctors use a lower healthy BMI range.")
BMI_SOME_LOWER = N_("Some family backgrounds have a lower healthy BMI range. Ask your GP.")

_NG246 = "NICE NG246 (2025), 1.9"
_NG246_LOWER = "NICE NG246 (2025), 1.9.11 lower thresholds"

BMI_UNDERWEIGHT = Band(
    "bmi",
    Level.LOW,
    N_("Your BMI is below the healthy range"),
    N_("A GP or practice nurse can help. You can ask reception for an appointment."),
    f"{_NG246}: underweight, below 18.5 kg/m2",
    urgent=False,
    category="underweight",
)
BMI_HEALTHY = Band(
    "bmi",
    Level.NORMAL,
    N_("Your BMI is in the healthy range"),
    _NOTHING_TODAY,
    f"{_NG246}: healthy weight, 18.5 to 24.9 kg/m2",
    urgent=False,
    category="healthy_weight",
)
BMI_OVERWEIGHT = Band(
    "bmi",
    Level.RAISED,
    N_("Your BMI is above the healthy range"),
    N_("If you would like help to reach a healthier weight, please ask reception."),
    f"{_NG246}: overweight, 25 to 29.9 kg/m2",
    urgent=False,
    category="overweight",
)
BMI_OBESITY_1 = Band(
    "bmi",
    Level.HIGH,
    N_("Your BMI is in the obesity range"),
    N_("If you would like support with your weight, please ask reception or your GP."),
    f"{_NG246}: obesity class 1, 30 to 34.9 kg/m2",
    urgent=False,
    category="obesity_class_1",
)
BMI_OBESITY_2 = dataclasses.replace(
    BMI_OBESITY_1,
    source=f"{_NG246}: obesity class 2, 35 to 39.9 kg/m2",
    category="obesity_class_2",
)
BMI_OBESITY_3 = dataclasses.replace(
    BMI_OBESITY_1,
    source=f"{_NG246}: obesity class 3, 40 kg/m2 or more",
    category="obesity_class_3",
)


def _lower(band: Band, source: str) -> Band:
    return dataclasses.replace(band, source=f"{_NG246_LOWER}: {source}")


# Inclusive upper edges on the value rounded to one decimal, as NICE publishes them
# ("18.5 to 24.9"): 24.9 is healthy, 25.0 overweight.
_BMI_STANDARD: tuple[tuple[Decimal, Band], ...] = (
    (_d("18.4"), BMI_UNDERWEIGHT),
    (_d("24.9"), BMI_HEALTHY),
    (_d("29.9"), BMI_OVERWEIGHT),
    (_d("34.9"), BMI_OBESITY_1),
    (_d("39.9"), BMI_OBESITY_2),
    (_INFINITY, BMI_OBESITY_3),
)
_BMI_LOWER: tuple[tuple[Decimal, Band], ...] = (
    (_d("18.4"), BMI_UNDERWEIGHT),
    (_d("22.9"), _lower(BMI_HEALTHY, "healthy weight, 18.5 to 22.9 kg/m2")),
    (_d("27.4"), _lower(BMI_OVERWEIGHT, "overweight, 23 to 27.4 kg/m2")),
    (_d("32.4"), _lower(BMI_OBESITY_1, "obesity class 1, 27.5 to 32.4 kg/m2")),
    (_d("37.4"), _lower(BMI_OBESITY_2, "obesity class 2, 32.5 to 37.4 kg/m2")),
    (_INFINITY, _lower(BMI_OBESITY_3, "obesity class 3, 37.5 kg/m2 or more")),
)


def body_mass_index(weight_kg: float, height_cm: float) -> float:
    """Body mass index in kg/m2, rounded half up to one decimal (as shown and banded)."""
    weight = _finite("weight", weight_kg)
    height = _finite("height", height_cm)
    if weight <= 0 or height <= 0:
        raise ValueError("weight and height must be positive")
    return float(as_shown("bmi", weight / (height / 100) ** 2))


def bmi(value: float, background: FamilyBackground) -> Band:
    """Band an adult BMI (kg/m2) by NICE NG246, with the thresholds for the stated background."""
    shown = as_shown("bmi", _plausible("bmi", "bmi", value))
    background = FamilyBackground(background)
    if background is FamilyBackground.HIGHER_RISK:
        band = _pick(shown, _BMI_LOWER)
        extra: tuple[str, ...] = (BMI_LOWER_USED,)
    elif background is FamilyBackground.NOT_SAID:
        band = _pick(shown, _BMI_STANDARD)
        extra = (BMI_SOME_LOWER,)
    else:
        band = _pick(shown, _BMI_STANDARD)
        extra = ()
    cautions = (*band.cautions, BMI_FOR_ADULTS, BMI_NOT_FOR_EVERYONE, *extra)
    return dataclasses.replace(band, cautions=cautions)


# --------------------------------------------------------------------------- oxygen (SpO2)
#
# NHS England, Pulse oximetry to detect early deterioration of patients with COVID-19 in
# primary and community care settings (C0445, version 1.1, 12 January 2021),
#   https://www.england.nhs.uk/coronavirus/documents/c0445-pulse-oximetry-to-detect-early-deterioration-of-patients-with-covid-19-in-primary-and-community-care-settings-12-january-2021
#   with its patient advice (NHS, "How to use a pulse oximeter"): 95% or more is normal;
#   93% or 94% (and staying there on a re-check): get urgent advice from a GP or NHS 111
#   the same day; 92% or less: go to A&E or call 999. Not COVID-only in spirit: the BTS
#   guideline for oxygen use in adults in healthcare and emergency settings (O'Driscoll et
#   al., Thorax 2017;72:i1-i90) gives 94-98% as the target for most adults, and NEWS2 (RCP
#   2017) scores SpO2 94-95 as 1, 92-93 as 2, 91 or less as 3.
#   At the kiosk: 92% or less is URGENT (reception now; a clinician the same day); 93-94%
#   is RAISED (tell reception before leaving, to be checked today); 95% or more NORMAL.
# MHRA, The use and regulation of pulse oximeters (information for healthcare
#   professionals), 2021,
#   https://www.gov.uk/guidance/the-use-and-regulation-of-pulse-oximeters-information-for-healthcare-professionals
#   (skin pigmentation is one of the factors that affect accuracy); NHS website update of
#   July 2021: oximeters "may be less accurate if you have brown or black skin. They may
#   show readings higher than the level of oxygen in your blood"; DHSC independent review
#   "Equity in medical devices" (March 2024): they can over-estimate oxygen levels in people
#   with darker skin. So every oxygen band, whatever the number, carries OXIMETER_SKIN and
#   OXIMETER_FEEL: act on how you feel, not only on the number.

OXIMETER_SKIN = N_("On brown or black skin, oxygen readers can show a number that is too high.")
OXIMETER_FEEL = N_("If you feel breathless or unwell, tell reception, whatever the number says.")
_OXIMETER_CAUTIONS = (OXIMETER_SKIN, OXIMETER_FEEL)
_C0445 = "NHS England C0445 (2021)"
_MHRA = "MHRA pulse oximeter guidance (2021)"

SPO2_URGENT = Band(
    "oxygen_saturation",
    Level.URGENT,
    N_("Your oxygen level is low"),
    _SEE_YOU_NOW,
    f"{_C0445}: 92% or less; {_MHRA}",
    urgent=True,
    cautions=_OXIMETER_CAUTIONS,
    category="spo2_92_or_less",
)
SPO2_RAISED = Band(
    "oxygen_saturation",
    Level.RAISED,
    N_("Your oxygen level is a little low"),
    N_("Please tell reception before you leave, so a nurse or doctor can check it today."),
    f"{_C0445}: 93-94%; BTS oxygen guideline (2017) target 94-98%; {_MHRA}",
    urgent=False,
    cautions=_OXIMETER_CAUTIONS,
    category="spo2_93_to_94",
)
SPO2_NORMAL = Band(
    "oxygen_saturation",
    Level.NORMAL,
    N_("Your oxygen level is in the normal range"),
    _NOTHING_TODAY,
    f"{_C0445}: 95% or more; {_MHRA}",
    urgent=False,
    cautions=_OXIMETER_CAUTIONS,
    category="spo2_95_or_more",
)
_SPO2: tuple[tuple[Decimal, Band], ...] = (
    (_d("92"), SPO2_URGENT),
    (_d("94"), SPO2_RAISED),
    (_INFINITY, SPO2_NORMAL),
)


def oxygen_saturation(spo2: float) -> Band:
    """Band a resting SpO2 reading (%, breathing room air)."""
    shown = as_shown("oxygen_saturation", _plausible("oxygen_saturation", "spo2", spo2))
    return _pick(shown, _SPO2)


# --------------------------------------------------------------------------- pulse
#
# Royal College of Physicians, National Early Warning Score (NEWS) 2: Standardising the
# assessment of acute-illness severity in the NHS. Updated report of a working party (2017),
#   chart 1, https://www.rcp.ac.uk/improving-care/resources/national-early-warning-score-news-2/
#   Pulse (per minute): 40 or less scores 3; 41-50 scores 1; 51-90 scores 0; 91-110 scores 1;
#   111-130 scores 2; 131 or more scores 3. NEWS2 asks for an urgent clinical response when
#   any single parameter scores 3, so 40 or less and 131 or more are URGENT here. Scores 1
#   and 2 alone are not urgent: LOW, RAISED or HIGH, with advice to rest and re-measure and
#   to tell reception before leaving if it is still fast. NICE NG51 (Suspected sepsis,
#   2016, updated 2024) also counts a heart rate above 130 a minute as a high-risk criterion.
#   (The NHS gives 60 to 100 beats a minute as a normal resting adult pulse; NEWS2 is the
#   scored, published table and decides every edge here.)

_NEWS2 = "RCP NEWS2 (2017), chart 1"

PULSE_URGENT_SLOW = Band(
    "pulse",
    Level.URGENT,
    N_("Your pulse is very slow"),
    _SEE_YOU_NOW,
    f"{_NEWS2}: pulse 40 or less scores 3",
    urgent=True,
    category="news2_pulse_3_low",
)
PULSE_SLOW = Band(
    "pulse",
    Level.LOW,
    N_("Your pulse is slow"),
    N_("This can be normal if you are very fit. If you feel dizzy or faint, tell reception now."),
    f"{_NEWS2}: pulse 41-50 scores 1",
    urgent=False,
    category="news2_pulse_1_low",
)
PULSE_NORMAL = Band(
    "pulse",
    Level.NORMAL,
    N_("Your pulse is in the normal range"),
    _NOTHING_TODAY,
    f"{_NEWS2}: pulse 51-90 scores 0",
    urgent=False,
    category="news2_pulse_0",
)
PULSE_A_LITTLE_FAST = Band(
    "pulse",
    Level.RAISED,
    N_("Your pulse is a little fast"),
    N_("This is common after walking. Please sit still for 5 minutes, then measure it again."),
    f"{_NEWS2}: pulse 91-110 scores 1",
    urgent=False,
    category="news2_pulse_1_high",
)
PULSE_FAST = Band(
    "pulse",
    Level.HIGH,
    N_("Your pulse is fast"),
    N_("Please rest for 5 minutes and measure again. If it is still fast, tell reception."),
    f"{_NEWS2}: pulse 111-130 scores 2",
    urgent=False,
    category="news2_pulse_2_high",
)
PULSE_URGENT_FAST = Band(
    "pulse",
    Level.URGENT,
    N_("Your pulse is very fast"),
    _SEE_YOU_NOW,
    f"{_NEWS2}: pulse 131 or more scores 3; NICE NG51 high risk above 130",
    urgent=True,
    category="news2_pulse_3_high",
)
_PULSE: tuple[tuple[Decimal, Band], ...] = (
    (_d("40"), PULSE_URGENT_SLOW),
    (_d("50"), PULSE_SLOW),
    (_d("90"), PULSE_NORMAL),
    (_d("110"), PULSE_A_LITTLE_FAST),
    (_d("130"), PULSE_FAST),
    (_INFINITY, PULSE_URGENT_FAST),
)


def pulse(beats_per_minute: float) -> Band:
    """Band a resting adult pulse (beats a minute) by NEWS2."""
    shown = as_shown("pulse", _plausible("heart_rate", "pulse", beats_per_minute))
    return _pick(shown, _PULSE)


# --------------------------------------------------------------------------- temperature
#
# RCP NEWS2 (2017), chart 1 (as above), temperature (degC): 35.0 or less scores 3;
#   35.1-36.0 scores 1; 36.1-38.0 scores 0; 38.1-39.0 scores 1; 39.1 or more scores 2.
#   A score of 3 (35.0 or less) is URGENT. (NHS, Hypothermia: below 35C.)
# NHS, High temperature (fever) in adults, https://www.nhs.uk/conditions/fever-in-adults/
#   "A high temperature is usually considered to be 38C or above": so 38.0 is RAISED
#   (NEWS2 scores 38.0 as 0; the NHS edge is the more cautious one and is used). "If you
#   feel hot or shivery, you may have a high temperature even if a thermometer says your
#   temperature is below 38C": carried as TEMP_FEEL on the LOW and NORMAL bands.
#   39.1 or more (NEWS2 2) is HIGH, not urgent on its own: tell reception before leaving.

TEMP_FEEL = N_("If you feel hot, shivery or unwell, tell reception, whatever the number says.")
_FEVER = "NHS: high temperature (fever) in adults, 38C or above"

TEMP_URGENT = Band(
    "body_temperature",
    Level.URGENT,
    N_("Your temperature is very low"),
    _SEE_YOU_NOW,
    f"{_NEWS2}: 35.0C or less scores 3",
    urgent=True,
    category="news2_temperature_3",
)
TEMP_LOW = Band(
    "body_temperature",
    Level.LOW,
    N_("Your temperature is a little low"),
    N_("This can happen if you have been out in the cold."),
    f"{_NEWS2}: 35.1-36.0C scores 1",
    urgent=False,
    cautions=(TEMP_FEEL,),
    category="news2_temperature_1_low",
)
TEMP_NORMAL = Band(
    "body_temperature",
    Level.NORMAL,
    N_("Your temperature is in the normal range"),
    _NOTHING_TODAY,
    f"{_NEWS2}: 36.1-38.0C scores 0, ending at 37.9C as {_FEVER}",
    urgent=False,
    cautions=(TEMP_FEEL,),
    category="temperature_normal",
)
TEMP_RAISED = Band(
    "body_temperature",
    Level.RAISED,
    N_("You have a high temperature"),
    N_("Please tell reception before you leave. Rest and drink plenty of water."),
    f"{_FEVER}; {_NEWS2}: 38.1-39.0C scores 1",
    urgent=False,
    category="fever",
)
TEMP_HIGH = Band(
    "body_temperature",
    Level.HIGH,
    N_("Your temperature is very high"),
    N_("Please tell reception before you leave. A nurse or doctor may want to see you today."),
    f"{_NEWS2}: 39.1C or more scores 2; {_FEVER}",
    urgent=False,
    category="news2_temperature_2",
)
_TEMPERATURE: tuple[tuple[Decimal, Band], ...] = (
    (_d("35.0"), TEMP_URGENT),
    (_d("36.0"), TEMP_LOW),
    (_d("37.9"), TEMP_NORMAL),
    (_d("39.0"), TEMP_RAISED),
    (_INFINITY, TEMP_HIGH),
)


def body_temperature(celsius: float) -> Band:
    """Band an adult body temperature (degC) by NEWS2 and the NHS fever threshold."""
    shown = as_shown("body_temperature", _plausible("body_temperature", "temperature", celsius))
    return _pick(shown, _TEMPERATURE)


def all_bands() -> tuple[Band, ...]:
    """Every band this module returns (BMI bands without their per-background cautions)."""
    tables = (_BMI_STANDARD, _BMI_LOWER, _SPO2, _PULSE, _TEMPERATURE)
    bands = [band for table in tables for _, band in table]
    bands += [BP_LOW, BP_NORMAL, BP_RAISED, BP_HIGH, BP_URGENT]
    return tuple(dict.fromkeys(bands))
