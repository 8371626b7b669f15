"""The forms engine: every fault in a form is refused where it is, and answers are judged alike
by the kiosk and by the agent."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from healthhub.protocol.form_answers import resolve_date
from healthhub.protocol.forms import (
    ANSWER_PROBLEMS,
    MAX_FORM_BYTES,
    AllOf,
    Answered,
    AnswerInvalid,
    AnyOf,
    AtLeast,
    AtMost,
    Condition,
    Form,
    FormInvalid,
    NoneOf,
    OneOf,
    check_answer,
    load_form,
    parse_form,
)
from healthhub.protocol.texts import DocumentInvalid

TODAY = date(2025, 6, 10)
WHERE = "sample.yaml"


def sample() -> dict[str, Any]:
    """A form with every question type, a page shown by a condition, a score and actions."""
    return {
        "form": "sample",
        "version": 3,
        "purpose": "questionnaire",
        "title": {"en": "Sample", "pl": "Próbka"},
        "intro": "A form for tests.",
        "identity": "optional",
        "source": "Nobody, 2025.",
        "show_score": True,
        "pages": [
            {
                "id": "first",
                "title": "First",
                "questions": [
                    {
                        "id": "mood",
                        "type": "single",
                        "prompt": "Mood",
                        "help": "How you feel",
                        "options": [
                            {"value": "good", "label": "Good", "score": 0},
                            {"value": "low", "label": "Low", "score": 2},
                        ],
                    },
                    {
                        "id": "sleep",
                        "type": "single",
                        "prompt": "Sleep",
                        "options": [
                            {"value": "well", "label": "Well", "score": 0},
                            {"value": "badly", "label": "Badly", "score": 1},
                        ],
                    },
                    {"id": "smokes", "type": "yes_no", "prompt": "Do you smoke?"},
                    {
                        "id": "per_day",
                        "type": "number",
                        "prompt": "How many a day?",
                        "min": 0,
                        "max": 100,
                        "unit": "a day",
                        "show_if": {"question": "smokes", "equals": True},
                    },
                    {
                        "id": "weight",
                        "type": "number",
                        "prompt": "Weight",
                        "min": 20,
                        "max": 300,
                        "decimals": 1,
                        "required": False,
                    },
                    {
                        "id": "symptoms",
                        "type": "multiple",
                        "prompt": "Symptoms",
                        "required": False,
                        "options": [
                            {"value": "cough", "label": "Cough"},
                            {"value": "fever", "label": "Fever"},
                            {"value": "rash", "label": "Rash"},
                        ],
                    },
                    {
                        "id": "since",
                        "type": "date",
                        "prompt": "Since when?",
                        "earliest": "-1y",
                        "latest": "today",
                        "required": False,
                    },
                    {
                        "id": "note",
                        "type": "text",
                        "prompt": "Anything else?",
                        "max_length": 20,
                        "required": False,
                    },
                    {
                        "id": "postcode",
                        "type": "text",
                        "prompt": "Postcode",
                        "format": "uk_postcode",
                        "required": False,
                    },
                ],
            },
            {
                "id": "fever",
                "intro": "About the fever",
                "show_if": {"question": "symptoms", "equals": "fever"},
                "questions": [{"id": "measured", "type": "yes_no", "prompt": "Measured it?"}],
            },
        ],
        "scores": [
            {
                "id": "total",
                "label": "Total",
                "sum": ["mood", "sleep"],
                "bands": [
                    {"from": 0, "to": 1, "label": "Lower"},
                    {"from": 2, "to": 3, "label": "Higher"},
                ],
            }
        ],
        "actions": [
            {
                "id": "low-mood",
                "when": {"question": "mood", "equals": "low"},
                "at": "answer",
                "signpost": "crisis",
                "alert": "urgent",
            },
            {
                "id": "high-total",
                "when": {"score": "total", "at_least": 3},
                "at": "end",
                "alert": "raised",
            },
            {
                "id": "heavy-smoker",
                "when": {"question": "per_day", "at_least": 20},
                "at": "end",
                "signpost": "pharmacy",
            },
        ],
    }


FORM = parse_form(sample(), where=WHERE)
VALID = {"mood": "good", "sleep": "badly", "smokes": False}


def changed(*steps: str | int, to: Any = None, delete: bool = False) -> dict[str, Any]:
    """``sample()`` with the value at ``steps`` set ``to`` something, or deleted."""
    document = sample()
    target: Any = document
    for step in steps[:-1]:
        target = target[step]
    if delete:
        del target[steps[-1]]
    else:
        target[steps[-1]] = to
    return document


def question_path(index: int) -> tuple[str | int, ...]:
    return ("pages", 0, "questions", index)


def fault(document: Any) -> FormInvalid:
    with pytest.raises(FormInvalid) as caught:
        parse_form(document, where=WHERE)
    return caught.value


# -- reading -------------------------------------------------------------------------------


def test_every_question_type_is_read_with_its_defaults() -> None:
    form = FORM
    assert (form.id, form.version, form.purpose, form.identity) == (
        "sample",
        3,
        "questionnaire",
        "optional",
    )
    assert form.title.get("pl") == "Próbka"
    assert form.source == "Nobody, 2025."
    assert form.show_score is True
    assert [q.id for q in form.questions] == [
        "mood",
        "sleep",
        "smokes",
        "per_day",
        "weight",
        "symptoms",
        "since",
        "note",
        "postcode",
        "measured",
    ]
    mood = form.question("mood")
    assert mood.type == "single"
    assert mood.required
    assert mood.help is not None
    assert [(o.value, o.label.get("en"), o.score) for o in mood.options] == [
        ("good", "Good", 0),
        ("low", "Low", 2),
    ]
    assert mood.option("low").score == 2
    with pytest.raises(KeyError):
        mood.option("meh")
    per_day = form.question("per_day")
    assert (per_day.min, per_day.max, per_day.decimals, per_day.unit) == (0, 100, 0, "a day")
    assert per_day.show_if == OneOf("smokes", frozenset({True}))
    assert form.question("weight").decimals == 1
    assert not form.question("weight").required
    assert [o.score for o in form.question("symptoms").options] == [None, None, None]
    since = form.question("since")
    assert (since.earliest, since.latest) == ("-1y", "today")
    note = form.question("note")
    assert (note.max_length, note.format) == (20, None)
    assert form.question("postcode").max_length == 200  # the default
    assert form.question("postcode").format == "uk_postcode"
    assert form.question("smokes").type == "yes_no"
    assert form.question("smokes").options == ()
    assert form.pages[1].show_if == OneOf("symptoms", frozenset({"fever"}))
    with pytest.raises(KeyError):
        form.question("nothing")


def test_scores_and_actions_are_read() -> None:
    (total,) = FORM.scores
    assert total.items == ("mood", "sleep")
    assert total.range == (0, 3)
    assert [(b.low, b.high, b.label.get("en")) for b in total.bands] == [
        (0, 1, "Lower"),
        (2, 3, "Higher"),
    ]
    assert total.band(0) is total.bands[0]
    assert total.band(3) is total.bands[1]
    assert total.band(4) is None
    low_mood, high_total, _ = FORM.actions
    assert (low_mood.at, low_mood.signpost, low_mood.alert, low_mood.stop) == (
        "answer",
        "crisis",
        "urgent",
        False,
    )
    assert high_total.when == AtLeast("total", 3, of_score=True)


def test_a_form_is_in_the_languages_all_its_texts_are_in() -> None:
    assert FORM.languages == frozenset({"en"})  # only its title is in Polish
    both = {
        "form": "both",
        "version": 1,
        "purpose": "support_request",
        "title": {"en": "Help", "pl": "Pomoc"},
        "identity": "none",
        "pages": [
            {
                "id": "one",
                "questions": [
                    {
                        "id": "what",
                        "type": "single",
                        "prompt": {"en": "What?", "pl": "Co?", "ro": "Ce?"},
                        "options": [
                            {"value": "a", "label": {"en": "A", "pl": "A", "ro": "A"}},
                            {"value": "b", "label": {"en": "B", "pl": "B"}},
                        ],
                    }
                ],
            }
        ],
    }
    assert parse_form(both).languages == frozenset({"en", "pl"})


# -- faults --------------------------------------------------------------------------------

Q = "sample.yaml: pages[0].questions"

FAULTS = [
    # unknown keys, at every level
    pytest.param(changed("colour", to="red"), "sample.yaml", "unknown key(s) colour", id="top"),
    pytest.param(
        changed("pages", 1, "colour", to="red"), "sample.yaml: pages[1]", "colour", id="page"
    ),
    pytest.param(
        changed(*question_path(0), "options", 1, "colour", to="red"),
        f"{Q}[0].options[1]",
        "unknown key(s) colour",
        id="option",
    ),
    pytest.param(
        changed(*question_path(3), "options", to=[]),
        f"{Q}[3].options",
        "not for number questions, only multiple, single",
        id="key-of-another-type",
    ),
    pytest.param(
        changed("scores", 0, "bands", 0, "colour", to="red"),
        "sample.yaml: scores[0].bands[0]",
        "colour",
        id="band",
    ),
    pytest.param(
        changed("actions", 0, "colour", to="red"), "sample.yaml: actions[0]", "colour", id="action"
    ),
    pytest.param(
        changed("actions", 0, "when", "colour", to="red"),
        "sample.yaml: actions[0].when",
        "colour",
        id="condition",
    ),
    # missing or malformed fields
    pytest.param(changed("title", to={"pl": "Próbka"}), "sample.yaml: title", "English", id="en"),
    pytest.param(
        changed(*question_path(0), "options", 1, "label", to={"pl": "Zły"}),
        f"{Q}[0].options[1].label",
        "English",
        id="en-label",
    ),
    pytest.param(
        changed(*question_path(2), "prompt", to={"en": "  "}),
        f"{Q}[2].prompt.en",
        "not empty",
        id="blank-prompt",
    ),
    pytest.param(changed("identity", delete=True), "sample.yaml", "missing identity", id="id"),
    pytest.param(changed("version", to=0), "sample.yaml: version", "1 to", id="version-0"),
    pytest.param(changed("version", to=True), "sample.yaml: version", "whole", id="version-bool"),
    pytest.param(changed("purpose", to="survey"), "sample.yaml: purpose", "questionnaire", id="p"),
    pytest.param(changed("source", to="x" * 501), "sample.yaml: source", "at most 500", id="src"),
    pytest.param(changed("pages", to=[]), "sample.yaml: pages", "1 to 30", id="no-pages"),
    pytest.param(
        changed("pages", 1, "questions", to=[]),
        "sample.yaml: pages[1].questions",
        "1 to 30",
        id="no-questions",
    ),
    pytest.param(
        changed(*question_path(0), "id", to="Mood"), f"{Q}[0].id", "not an id", id="bad-id"
    ),
    pytest.param(
        changed(*question_path(0), "type", to="slider"), f"{Q}[0].type", "yes_no", id="type"
    ),
    pytest.param(
        changed(*question_path(0), "options", to=[{"value": "only", "label": "Only"}]),
        f"{Q}[0].options",
        "2 to 20",
        id="one-option",
    ),
    pytest.param(
        changed(*question_path(0), "options", delete=True),
        f"{Q}[0]",
        "missing options",
        id="no-options",
    ),
    pytest.param(
        changed(*question_path(0), "options", 1, "value", to="good"),
        f"{Q}[0].options[1].value",
        "given twice",
        id="option-twice",
    ),
    pytest.param(
        changed(*question_path(0), "options", 1, "value", to=False),
        f"{Q}[0].options[1].value",
        "quotes",
        id="unquoted-no",
    ),
    pytest.param(
        changed(*question_path(0), "options", 1, "score", to=1.5),
        f"{Q}[0].options[1].score",
        "whole",
        id="score-float",
    ),
    pytest.param(
        changed(*question_path(0), "required", to="yes"),
        f"{Q}[0].required",
        "true or false",
        id="required",
    ),
    pytest.param(changed(*question_path(3), "max", to=0), f"{Q}[3].max", "above min", id="min"),
    pytest.param(
        changed(*question_path(3), "min", delete=True), f"{Q}[3]", "min and max", id="no-min"
    ),
    pytest.param(
        changed(*question_path(3), "max", to=float("inf")), f"{Q}[3].max", "number", id="inf"
    ),
    pytest.param(
        changed(*question_path(3), "decimals", to=3), f"{Q}[3].decimals", "0 to 2", id="dec"
    ),
    pytest.param(
        changed(*question_path(3), "unit", to="x" * 17), f"{Q}[3].unit", "at most 16", id="unit"
    ),
    pytest.param(
        changed(*question_path(7), "max_length", to=2001),
        f"{Q}[7].max_length",
        "1 to 2000",
        id="max-length",
    ),
    pytest.param(
        changed(*question_path(8), "format", to="nhs_number"),
        f"{Q}[8].format",
        "uk_postcode",
        id="format",
    ),
    pytest.param(
        changed(*question_path(6), "earliest", to="yesterday"),
        f"{Q}[6].earliest",
        "-120y",
        id="earliest",
    ),
    pytest.param(
        changed(*question_path(6), "latest", to="-2y"),
        f"{Q}[6].latest",
        "before earliest",
        id="empty-dates",
    ),
    pytest.param(
        changed(*question_path(6), "latest", to="+201y"),
        f"{Q}[6].latest",
        "200 years",
        id="far-offset",
    ),
    # ids
    pytest.param(
        changed("pages", 1, "questions", 0, "id", to="mood"),
        "sample.yaml: pages[1].questions[0].id",
        "already the id of pages[0].questions[0]",
        id="question-twice",
    ),
    pytest.param(
        changed("pages", 1, "id", to="first"), "sample.yaml: pages[1].id", "twice", id="page-twice"
    ),
    pytest.param(
        changed("actions", 1, "id", to="low-mood"),
        "sample.yaml: actions[1].id",
        "twice",
        id="action-twice",
    ),
    # scores and bands
    pytest.param(
        changed(*question_path(1), "options", 1, "score", delete=True),
        f"{Q}[1].options[1].score",
        "summed in score total",
        id="score-missing",
    ),
    pytest.param(
        changed("scores", 0, "sum", to=["mood", "smokes"]),
        "sample.yaml: scores[0].sum[1]",
        "yes_no question",
        id="sum-yes-no",
    ),
    pytest.param(
        changed("scores", 0, "sum", to=["mood", "mood"]),
        "sample.yaml: scores[0].sum[1]",
        "twice",
        id="sum-twice",
    ),
    pytest.param(
        changed("scores", 0, "sum", to=["mood", "nothing"]),
        "sample.yaml: scores[0].sum[1]",
        "not a question",
        id="sum-unknown",
    ),
    pytest.param(
        changed("scores", 0, "bands", 1, "from", to=3),
        "sample.yaml: scores[0].bands[1].from",
        "no band",
        id="band-gap",
    ),
    pytest.param(
        changed("scores", 0, "bands", 1, "from", to=1),
        "sample.yaml: scores[0].bands[1].from",
        "overlap",
        id="band-overlap",
    ),
    pytest.param(
        changed("scores", 0, "bands", 0, "from", to=1),
        "sample.yaml: scores[0].bands[0].from",
        "as low as 0",
        id="band-from-too-high",
    ),
    pytest.param(
        changed("scores", 0, "bands", 1, "to", to=2),
        "sample.yaml: scores[0].bands[1].to",
        "as high as 3",
        id="band-short",
    ),
    pytest.param(
        changed("scores", 0, "bands", 1, "to", to=9),
        "sample.yaml: scores[0].bands[1].to",
        "as high as 3",
        id="band-long",
    ),
    pytest.param(
        changed("scores", 0, "bands", 0, "to", to=-1),
        "sample.yaml: scores[0].bands[0].to",
        "below from",
        id="band-backwards",
    ),
    # conditions
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "weight", "at_least": 50}),
        f"{Q}[3].show_if.question",
        "before this point",
        id="later-question",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "per_day", "answered": True}),
        f"{Q}[3].show_if.question",
        "before this point",
        id="itself",
    ),
    pytest.param(
        changed("pages", 0, "show_if", to={"question": "mood", "equals": "low"}),
        "sample.yaml: pages[0].show_if.question",
        "before this point",
        id="page-on-own-question",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "mood", "equals": "meh"}),
        f"{Q}[3].show_if.equals",
        "not an option of mood (good, low)",
        id="not-an-option",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "mood", "in": ["good", "bad"]}),
        f"{Q}[3].show_if.in[1]",
        "not an option",
        id="in-not-an-option",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "smokes", "equals": "yes"}),
        f"{Q}[3].show_if.equals",
        "true or false",
        id="yes-no-string",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "mood", "at_least": 1}),
        f"{Q}[3].show_if.at_least",
        "single question",
        id="at-least-on-choice",
    ),
    pytest.param(
        changed(*question_path(5), "show_if", to={"question": "per_day", "equals": 3}),
        f"{Q}[5].show_if.equals",
        "number question",
        id="equals-on-number",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"question": "mood", "equals": "low", "in": []}),
        f"{Q}[3].show_if",
        "exactly one of",
        id="two-operators",
    ),
    pytest.param(
        changed(
            *question_path(3),
            "show_if",
            to={"all": [{"question": "mood", "equals": "low"}, {"question": "sleep", "equals": 1}]},
        ),
        f"{Q}[3].show_if.all[1].equals",
        "not an option of sleep",
        id="nested",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"score": "total", "at_least": 2}),
        f"{Q}[3].show_if.score",
        "action",
        id="score-in-show-if",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to="smokes"),
        f"{Q}[3].show_if",
        "must be a condition",
        id="not-a-condition",
    ),
    pytest.param(
        changed(*question_path(3), "show_if", to={"any": []}),
        f"{Q}[3].show_if.any",
        "1 to 20",
        id="empty-any",
    ),
    # actions
    pytest.param(
        changed("actions", 0, to={"id": "idle", "when": {"question": "mood", "equals": "low"}}),
        "sample.yaml: actions[0]",
        "missing at",
        id="no-at",
    ),
    pytest.param(
        changed(
            "actions",
            0,
            to={"id": "idle", "when": {"question": "mood", "equals": "low"}, "at": "answer"},
        ),
        "sample.yaml: actions[0]",
        "does nothing",
        id="action-does-nothing",
    ),
    pytest.param(
        changed("actions", 0, "signpost", to="police"),
        "sample.yaml: actions[0].signpost",
        "crisis, emergency, pharmacy, reception, urgent",
        id="bad-signpost",
    ),
    pytest.param(
        changed("actions", 0, "alert", to="red"),
        "sample.yaml: actions[0].alert",
        "high, raised, urgent",
        id="bad-alert",
    ),
    pytest.param(
        changed("actions", 0, "at", to="start"),
        "sample.yaml: actions[0].at",
        "answer, end",
        id="bad-at",
    ),
    pytest.param(
        changed("actions", 0, "when", to={"question": "nothing", "equals": "x"}),
        "sample.yaml: actions[0].when.question",
        "not a question of this form",
        id="action-unknown-question",
    ),
    pytest.param(
        changed("actions", 1, "when", to={"score": "sum", "at_least": 2}),
        "sample.yaml: actions[1].when.score",
        "not a score",
        id="action-unknown-score",
    ),
    pytest.param([1, 2], "sample.yaml", "must be a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("document", "path", "message"), FAULTS)
def test_every_fault_is_refused_with_its_exact_place(
    document: Any, path: str, message: str
) -> None:
    error = fault(document)
    assert error.path == path
    assert message in error.message
    assert isinstance(error, DocumentInvalid)
    assert str(error) == f"{path}: {error.message}"


def test_actions_may_look_at_any_question_but_show_if_only_at_earlier_ones() -> None:
    # An action on the last question of the form is fine...
    document = changed("actions", 0, "when", to={"question": "measured", "equals": True})
    assert parse_form(document).actions[0].when == OneOf("measured", frozenset({True}))
    # ...while a show_if on a question of a later page is not.
    document = changed(*question_path(0), "show_if", to={"question": "measured", "answered": True})
    assert fault(document).path == f"{Q}[0].show_if.question"


# -- files ---------------------------------------------------------------------------------


def test_a_form_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sample.yaml"
    path.write_text(yaml.safe_dump(sample(), allow_unicode=True), encoding="utf-8")
    assert load_form(path) == FORM


def test_bad_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "form: broken\nversion: 1\npurpose: questionnaire\ntitle: [Broken\nidentity: none\n",
        encoding="utf-8",
    )
    with pytest.raises(FormInvalid) as caught:
        load_form(path)
    assert caught.value.path.startswith("broken.yaml: line ")
    assert "not valid YAML" in caught.value.message
    path.write_text("form: a\ntitle: x\n\ttab: 1\n", encoding="utf-8")
    with pytest.raises(FormInvalid, match=r"broken\.yaml: line 3"):
        load_form(path)


def test_a_key_given_twice_is_refused_rather_than_silently_replaced(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(
        "form: twice\n"
        "version: 1\n"
        "purpose: questionnaire\n"
        "title: Twice\n"
        "identity: none\n"
        "pages:\n"
        "  - id: one\n"
        "    questions:\n"
        "      - id: q1\n"
        "        type: yes_no\n"
        "        prompt: Are you well?\n"
        "        prompt: Are you unwell?\n",
        encoding="utf-8",
    )
    with pytest.raises(FormInvalid) as caught:
        load_form(path)
    assert caught.value.path == "twice.yaml: line 12"
    assert "'prompt' is given twice in one mapping" in caught.value.message


def test_a_file_over_256_kib_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    text = yaml.safe_dump(sample())
    path.write_text(text + "#" * (MAX_FORM_BYTES - len(text.encode())) + "\n", encoding="utf-8")
    with pytest.raises(FormInvalid) as caught:
        load_form(path)
    assert (caught.value.path, caught.value.message) == (
        "big.yaml",
        "is over 256 KiB, the limit for one document: split it",
    )
    path.write_text(text + "#" * (MAX_FORM_BYTES - len(text.encode()) - 1) + "\n", "utf-8")
    assert load_form(path) == FORM  # exactly 256 KiB is allowed


def test_a_file_that_is_not_utf8_or_not_there_is_a_form_fault(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Próbka\n".encode("latin-1"))
    with pytest.raises(FormInvalid, match="UTF-8"):
        load_form(path)
    with pytest.raises(FormInvalid, match="cannot be read"):
        load_form(tmp_path / "missing.yaml")


def test_deeply_nested_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("form: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(FormInvalid, match="deep"):
        load_form(path)


# -- conditions ----------------------------------------------------------------------------


def test_conditions_on_answers() -> None:
    answers = {"mood": "low", "symptoms": ["cough", "rash"], "per_day": 20, "smokes": False}

    def holds(condition: Condition) -> bool:
        return condition.holds(answers, {})

    assert holds(OneOf("mood", frozenset({"low"})))
    assert not holds(OneOf("mood", frozenset({"good"})))
    assert holds(OneOf("symptoms", frozenset({"rash", "fever"})))  # one of those chosen
    assert not holds(OneOf("symptoms", frozenset({"fever"})))
    assert holds(NoneOf("symptoms", frozenset({"fever"})))
    assert not holds(NoneOf("mood", frozenset({"low", "good"})))
    assert holds(OneOf("smokes", frozenset({False})))  # a "no" is an answer
    assert not holds(OneOf("smokes", frozenset({True})))
    assert holds(AtLeast("per_day", 20))
    assert not holds(AtLeast("per_day", 21))
    assert holds(AtMost("per_day", 20))
    assert not holds(AtMost("per_day", 19))
    assert holds(Answered("mood"))
    assert holds(Answered("sleep", answered=False))
    assert holds(AllOf((Answered("mood"), AtLeast("per_day", 1))))
    assert not holds(AllOf((Answered("mood"), Answered("sleep"))))
    assert holds(AnyOf((Answered("sleep"), Answered("mood"))))
    assert not holds(AnyOf((Answered("sleep"), AtLeast("per_day", 99))))


@pytest.mark.parametrize("blank", [None, "", "   ", []])
def test_nothing_is_known_about_an_unanswered_question(blank: Any) -> None:
    answers = {"q": blank}
    for condition in (
        OneOf("q", frozenset({"a"})),
        NoneOf("q", frozenset({"a"})),  # not "not a": nothing is known
        AtLeast("q", 0),
        AtMost("q", 0),
        Answered("q"),
    ):
        assert not condition.holds(answers, {}), condition
        assert not condition.holds({}, {}), condition
    assert Answered("q", answered=False).holds(answers, {})


def test_a_yes_is_not_a_number_and_a_score_is_not_an_answer() -> None:
    assert not AtLeast("q", 1).holds({"q": True}, {})
    assert not AtLeast("total", 1).holds({}, {"total": 5})
    assert AtLeast("total", 5, of_score=True).holds({}, {"total": 5})
    assert not AtMost("total", 4, of_score=True).holds({}, {"total": 5})
    assert not AtMost("total", 4, of_score=True).holds({}, {})


# -- what is shown -------------------------------------------------------------------------


def test_questions_and_pages_are_shown_by_earlier_answers() -> None:
    first, fever = FORM.pages

    def ids(answers: dict[str, Any]) -> list[str]:
        return [q.id for q in FORM.visible_questions(first, answers)]

    assert "per_day" not in ids({})
    assert "per_day" not in ids({"smokes": False})
    assert "per_day" in ids({"smokes": True})
    assert FORM.visible_pages({}) == [first]
    assert FORM.visible_pages({"symptoms": ["cough"]}) == [first]
    assert FORM.visible_pages({"symptoms": ["cough", "fever"]}) == [first, fever]
    assert FORM.visible_questions(fever, {}) == []
    assert [q.id for q in FORM.visible_questions(fever, {"symptoms": ["fever"]})] == ["measured"]


def chain() -> Form:
    """Three questions, each shown by a yes to the one before."""

    def question(qid: str, shown_by: str | None) -> dict[str, Any]:
        show_if = {"show_if": {"question": shown_by, "equals": True}} if shown_by else {}
        return {"id": qid, "type": "yes_no", "prompt": qid, **show_if}

    return parse_form(
        {
            "form": "chain",
            "version": 1,
            "purpose": "questionnaire",
            "title": "Chain",
            "identity": "none",
            "pages": [
                {"id": "one", "questions": [question("a", None), question("b", "a")]},
                {"id": "two", "questions": [question("c", "b")]},
            ],
            "actions": [
                {
                    "id": "c-yes",
                    "when": {"question": "c", "equals": True},
                    "at": "answer",
                    "alert": "high",
                }
            ],
        }
    )


def test_an_answer_left_behind_by_a_change_counts_for_nothing() -> None:
    form = chain()
    everything = {"a": True, "b": True, "c": True}
    assert form.shown_answers(everything) == everything
    assert [p.id for p in form.visible_pages(everything)] == ["one", "two"]
    assert [a.id for a in form.actions_due(everything, at="answer")] == ["c-yes"]
    # The patient goes back and answers "no" to a: b and then c are hidden, their answers kept
    # by the screen but ignored, so c's action does not fire.
    changed_mind = {"a": False, "b": True, "c": True}
    assert form.shown_answers(changed_mind) == {"a": False}
    assert [p.id for p in form.visible_pages(changed_mind)] == ["one"]
    assert form.actions_due(changed_mind, at="answer") == []
    with pytest.raises(AnswerInvalid) as caught:
        form.check_submission(changed_mind, today=TODAY)
    assert (caught.value.question, caught.value.code) == ("b", "not_shown")


# -- scores and actions --------------------------------------------------------------------


def test_a_score_is_given_only_when_every_item_is_answered() -> None:
    assert FORM.scores_of({}) == {}
    assert FORM.scores_of({"mood": "low"}) == {}
    assert FORM.scores_of({"mood": "low", "sleep": "badly"}) == {"total": 3}
    assert FORM.scores_of({"mood": "good", "sleep": "well"}) == {"total": 0}
    assert FORM.scores_of({"mood": "low", "sleep": "sometimes"}) == {}


def test_actions_fire_at_their_time_when_their_condition_holds() -> None:
    assert [a.id for a in FORM.actions_due({"mood": "low"}, at="answer")] == ["low-mood"]
    assert FORM.actions_due({"mood": "good"}, at="answer") == []
    assert FORM.actions_due({"mood": "low"}, at="end") == []  # the score is not known yet
    done = {"mood": "low", "sleep": "badly", "smokes": True, "per_day": 25}
    assert [a.id for a in FORM.actions_due(done, at="end")] == ["high-total", "heavy-smoker"]
    assert [a.id for a in FORM.actions_due(done | {"sleep": "well"}, at="end")] == ["heavy-smoker"]
    # per_day is hidden once smokes is "no", so its action does not fire.
    assert [a.id for a in FORM.actions_due(done | {"smokes": False}, at="end")] == ["high-total"]
    with pytest.raises(ValueError, match="answer, end"):
        FORM.actions_due(done, at="start")


# -- submissions ---------------------------------------------------------------------------


def test_a_submission_comes_back_checked_and_normalised_with_its_scores() -> None:
    answers, scores = FORM.check_submission(
        {
            "mood": "low",
            "sleep": "badly",
            "smokes": True,
            "per_day": "12",
            "weight": 72.5,
            "symptoms": ["rash", "cough"],
            "since": "2025-01-31",
            "note": "  thank you  ",
            "postcode": "sw1a1aa",
        },
        today=TODAY,
    )
    assert answers == {
        "mood": "low",
        "sleep": "badly",
        "smokes": True,
        "per_day": 12,
        "weight": 72.5,
        "symptoms": ["cough", "rash"],  # in the order of the options
        "since": "2025-01-31",
        "note": "thank you",
        "postcode": "SW1A 1AA",
    }
    assert scores == {"total": 3}


def test_blank_optional_answers_are_dropped() -> None:
    answers, _ = FORM.check_submission(
        VALID | {"note": "   ", "symptoms": [], "weight": None}, today=TODAY
    )
    assert answers == VALID


@pytest.mark.parametrize(
    ("answers", "question", "code"),
    [
        ({**VALID, "colour": "red"}, "colour", "unknown_question"),
        ({**VALID, "per_day": 3}, "per_day", "not_shown"),  # smokes is False
        ({**VALID, "measured": False}, "measured", "not_shown"),  # no fever chosen
        ({"sleep": "well", "smokes": False}, "mood", "required"),
        ({**VALID, "mood": "  "}, "mood", "required"),
        ({**VALID, "smokes": True}, "per_day", "required"),  # now shown, so needed
        ({**VALID, "symptoms": ["fever"]}, "measured", "required"),
        ({**VALID, "mood": "meh"}, "mood", "not_an_option"),
        ({**VALID, "postcode": "SW1A"}, "postcode", "bad_postcode"),
    ],
)
def test_a_submission_is_refused_at_its_first_fault(
    answers: dict[str, Any], question: str, code: str
) -> None:
    with pytest.raises(AnswerInvalid) as caught:
        FORM.check_submission(answers, today=TODAY)
    assert (caught.value.question, caught.value.code) == (question, code)
    assert caught.value.code in ANSWER_PROBLEMS
    assert str(caught.value) == f"{question}: {caught.value.message}"


def test_the_submitted_answers_decide_what_is_shown() -> None:
    answers, _ = FORM.check_submission(
        VALID | {"symptoms": ["fever"], "measured": True}, today=TODAY
    )
    assert answers["measured"] is True


# -- single answers ------------------------------------------------------------------------

CHECKS = [
    ("mood", "low", "low"),
    ("symptoms", ("fever",), ["fever"]),
    ("per_day", 0, 0),
    ("per_day", 100, 100),
    ("per_day", 12.0, 12),
    ("per_day", " 7 ", 7),
    ("weight", 72, 72.0),
    ("weight", "72.5", 72.5),
    ("weight", "72.50", 72.5),  # a trailing zero is no extra precision
    ("since", "2024-06-10", "2024-06-10"),  # exactly a year ago
    ("since", date(2025, 6, 10), "2025-06-10"),
    ("smokes", False, False),
    ("note", "x" * 20, "x" * 20),
]


@pytest.mark.parametrize(("qid", "value", "normal"), CHECKS)
def test_good_answers_come_back_normalised(qid: str, value: Any, normal: Any) -> None:
    result = check_answer(FORM.question(qid), value, today=TODAY)
    assert result == normal
    assert type(result) is type(normal)


BAD_ANSWERS = [
    ("mood", "meh", "not_an_option"),
    ("mood", ["low"], "not_an_option"),
    ("symptoms", "fever", "not_an_option"),
    ("symptoms", ["fever", "fever"], "not_an_option"),
    ("symptoms", ["flu"], "not_an_option"),
    ("smokes", "yes", "not_an_option"),
    ("smokes", 1, "not_an_option"),
    ("per_day", -1, "out_of_range"),
    ("per_day", 100.5, "out_of_range"),
    ("per_day", 2.5, "too_precise"),
    ("weight", 72.55, "too_precise"),
    ("weight", "72.55", "too_precise"),
    ("per_day", "twelve", "not_a_number"),
    ("per_day", True, "not_a_number"),
    ("per_day", float("nan"), "not_a_number"),
    ("per_day", "1e1", "not_a_number"),
    ("per_day", "inf", "not_a_number"),
    ("since", "10/06/2025", "not_a_date"),
    ("since", "2025-02-30", "not_a_date"),
    ("since", "20250101", "not_a_date"),
    ("since", 20250101, "not_a_date"),
    ("since", "2024-06-09", "too_early"),
    ("since", "2025-06-11", "too_late"),
    ("note", "x" * 21, "too_long"),
    ("note", 42, "not_an_option"),
    ("postcode", "QV1 1AA", "bad_postcode"),
    ("mood", None, "required"),
    ("symptoms", [], None),  # optional: no answer is fine
]


@pytest.mark.parametrize(("qid", "value", "code"), BAD_ANSWERS)
def test_bad_answers_are_refused_with_their_code(qid: str, value: Any, code: str | None) -> None:
    if code is None:
        assert check_answer(FORM.question(qid), value, today=TODAY) is None
        return
    with pytest.raises(AnswerInvalid) as caught:
        check_answer(FORM.question(qid), value, today=TODAY)
    assert (caught.value.question, caught.value.code) == (qid, code)


def test_phone_and_email_formats_map_to_their_codes() -> None:
    document = changed(*question_path(7), "format", to="uk_phone")
    note = parse_form(document).question("note")
    assert check_answer(note, "+44 7700 900123", today=TODAY) == "07700900123"
    with pytest.raises(AnswerInvalid, match="UK range") as caught:
        check_answer(note, "0600 123 4567", today=TODAY)
    assert caught.value.code == "bad_phone"
    document = changed(*question_path(7), "format", to="email")
    note = parse_form(document).question("note")
    with pytest.raises(AnswerInvalid) as caught:
        check_answer(note, "a@b", today=TODAY)
    assert caught.value.code == "bad_email"


@pytest.mark.parametrize(
    ("spec", "day"),
    [
        ("today", date(2025, 3, 31)),
        ("2020-01-31", date(2020, 1, 31)),
        ("-30d", date(2025, 3, 1)),
        ("+2w", date(2025, 4, 14)),
        ("-1m", date(2025, 2, 28)),  # 31 February is the last day of February
        ("+11m", date(2026, 2, 28)),
        ("-120y", date(1905, 3, 31)),
        ("+1y", date(2026, 3, 31)),
    ],
)
def test_date_limits_fall_on_the_day_they_are_checked(spec: str, day: date) -> None:
    assert resolve_date(spec, date(2025, 3, 31)) == day


def test_a_leap_day_a_year_on_is_the_last_day_of_february() -> None:
    assert resolve_date("+1y", date(2024, 2, 29)) == date(2025, 2, 28)


def test_unquoted_yaml_dates_are_read_as_dates(tmp_path: Path) -> None:
    path = tmp_path / "dates.yaml"
    text = yaml.safe_dump(sample(), sort_keys=False)
    path.write_text(text.replace("earliest: -1y", "earliest: 2020-01-01"), encoding="utf-8")
    assert load_form(path).question("since").earliest == "2020-01-01"


def test_parsing_leaves_the_document_as_it_was() -> None:
    document = sample()
    parse_form(document)
    assert document == sample()
