"""Patient content: the starter content is whole, every kind of fault is refused with its
place before a push, and a device keeps serving the good files beside a broken one."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthhub.protocol.content import ContentRejected
from healthhub.protocol.content_fields import read_document
from healthhub.protocol.patient_content import (
    ContentInvalid,
    PatientContent,
    check_content_folder,
    current_notices,
    load_patient_content,
    parse_info_page,
    parse_notices,
)
from healthhub.protocol.services_directory import parse_directory, parse_support
from healthhub.protocol.yaml_documents import MAX_DOCUMENT_BYTES

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "fleet" / "starter_content"
TODAY = date(2026, 11, 23)  # a Monday
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
SUPPORT_FORM = """\
form: digital-support-request
version: 1
purpose: support_request
identity: required
title: Ask the digital support team to call you
pages:
  - id: about
    questions:
      - id: topic
        type: text
        prompt: What would you like help with?
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The starter content with one small form of its own, so a fault test exercises the
    forms engine without depending on which forms the starter ships."""
    target = tmp_path / "content"
    shutil.copytree(STARTER, target, ignore=shutil.ignore_patterns("forms"))
    (target / "forms").mkdir()
    (target / "forms" / "digital-support-request.yaml").write_text(SUPPORT_FORM)
    return target


def edit(folder: Path, name: str, change: Callable[[Any], None]) -> None:
    """Load ``name``, let ``change`` alter it, and write it back as YAML."""
    path = folder / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def rejection(folder: Path) -> str:
    with pytest.raises(ContentRejected) as caught:
        check_content_folder(folder, today=TODAY)
    return str(caught.value)


# -- the starter content -------------------------------------------------------------------


def test_the_starter_content_loads_with_no_problem_and_passes_the_push_check() -> None:
    content = load_patient_content(STARTER, today=TODAY)

    assert content.problems == ()
    assert check_content_folder(STARTER, today=TODAY) == []
    assert "digital-support-request" in content.forms
    assert {form.id for form in content.forms.values()} == set(content.forms)
    assert [page.id for page in content.pages] == [
        "healthy-weight",
        "high-blood-pressure",
        "stop-smoking",
        "talking-therapies",
    ]
    for page in content.pages:
        texts = [page.title, page.summary, *page.body]
        assert all(text.has("pl") for text in texts), page.id
        assert page.url is not None
        assert page.url.startswith("https://www.nhs.uk/")
        assert page.source
        assert (page.reviewed, page.review_due) == (date(2026, 11, 1), date(2027, 11, 1))
        assert page.picture is not None
        assert (STARTER / page.picture).stat().st_size < 30_000
    directory = content.directory
    assert directory is not None
    assert len(directory.categories) == 6
    assert len(directory.services) == 10
    assert all(category.title.has("pl") for category in directory.categories)
    drama = re.compile(r"0113 496 0\d{3}|07700 900\d{3}")  # Ofcom's numbers for drama
    for service in directory.services:
        assert service.phone is not None
        assert drama.fullmatch(service.phone), service.id
        for text in (service.name, service.description, service.when, service.where):
            assert text.has("pl"), service.id
    assert directory.map_picture is not None
    assert (STARTER / directory.map_picture).stat().st_size < 60_000
    assert {service.category for service in directory.services} == {
        category.id for category in directory.categories
    }
    support = content.support
    assert support is not None
    assert support.request_form == "digital-support-request"
    assert [session.weekday for session in support.sessions] == [1, 3, 4]
    assert [notice.id for notice in content.current_notices(date(2026, 11, 30))] == [
        "flu-clinic-2026",
        "staff-training-2026-12",
    ]


def test_a_folder_of_plain_leaflets_is_fine_and_no_folder_is_empty_content(
    tmp_path: Path,
) -> None:
    (tmp_path / "leaflets").mkdir()
    (tmp_path / "leaflets" / "asthma.pdf").write_bytes(b"%PDF-1.7\n")
    (tmp_path / "cuff.png").write_bytes(PNG)

    assert check_content_folder(tmp_path, today=TODAY) == []
    loaded = load_patient_content(tmp_path, today=TODAY)
    assert loaded == PatientContent({}, (), None, None, ())
    assert load_patient_content(None) == loaded
    assert load_patient_content(tmp_path / "never-pushed") == loaded
    with pytest.raises(ContentRejected, match="is not a folder"):
        check_content_folder(tmp_path / "never-pushed")


# -- faults, each with its place ------------------------------------------------------------


def _set(*keys: Any, value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


def _http(data: Any) -> None:
    data["services"][5]["url"] = "http://www.example.org/money-matters"


FAULTS: list[tuple[str, str, Callable[[Any], None], str]] = [
    (
        "unknown key",
        "info/stop-smoking.yaml",
        _set("colour", value="blue"),
        "info/stop-smoking.yaml: unknown key(s) colour; allowed: ",
    ),
    (
        "undeclared category",
        "services.yaml",
        _set("services", 3, "category", value="carer"),
        "services.yaml: services[3].category: 'carer' is not a declared category",
    ),
    (
        "picture missing",
        "info/healthy-weight.yaml",
        _set("picture", value="pictures/scales.png"),
        "info/healthy-weight.yaml: picture: pictures/scales.png is not in the content folder",
    ),
    (
        "path escaping the folder",
        "info/healthy-weight.yaml",
        _set("picture", value="../outside.png"),
        "info/healthy-weight.yaml: picture: content path '../outside.png' names '..'",
    ),
    (
        "absolute path",
        "services.yaml",
        _set("map", "picture", value="/etc/map.png"),
        "services.yaml: map.picture: content path '/etc/map.png' is absolute",
    ),
    (
        "not a picture",
        "info/healthy-weight.yaml",
        _set("picture", value="README.md"),
        "info/healthy-weight.yaml: picture: README.md must be a picture: .png, .jpg, .jpeg",
    ),
    (
        "http, not https",
        "services.yaml",
        _http,
        "services.yaml: services[5].url: 'http://www.example.org/money-matters' must start "
        "with https://",
    ),
    (
        "bad weekday",
        "support.yaml",
        _set("sessions", 0, "weekly", "weekday", value="tuseday"),
        "support.yaml: sessions[0].weekly.weekday: 'tuseday' is not a day",
    ),
    (
        "end before start",
        "support.yaml",
        _set("sessions", 1, "weekly", "end", value="13:30"),
        "support.yaml: sessions[1].weekly.end: 13:30 is not after the start, 14:00",
    ),
    (
        "review due before reviewed",
        "info/stop-smoking.yaml",
        _set("review_due", value=date(2026, 10, 1)),
        "info/stop-smoking.yaml: review_due: 2026-10-01 is not after reviewed, 2026-11-01",
    ),
    (
        "page id is not the file's name",
        "info/stop-smoking.yaml",
        _set("id", value="quit-smoking"),
        "info/stop-smoking.yaml: id: is 'quit-smoking', but the id must be the file's name",
    ),
    (
        "map position off the map",
        "services.yaml",
        _set("services", 0, "map", "x", value=1.5),
        "services.yaml: services[0].map.x: 1.5 must be a number from 0 to 1",
    ),
    (
        "summary over two lines",
        "info/high-blood-pressure.yaml",
        _set("summary", "pl", value="Pierwsza linia\ndruga linia"),
        "info/high-blood-pressure.yaml: summary.pl: must be one line",
    ),
    (
        "text without English",
        "services.yaml",
        _set("categories", 2, "title", value={"pl": "Żywność"}),
        "services.yaml: categories[2].title: needs an English text (en)",
    ),
    (
        "notice too long",
        "notices.yaml",
        _set(0, "text", "en", value="Flu clinic. " * 30),
        "notices.yaml: [0].text.en: is 360 characters; at most 300",
    ),
    (
        "notice ends before it starts",
        "notices.yaml",
        _set(1, "until", value=date(2026, 11, 1)),
        "notices.yaml: [1].until: 2026-11-01 is before from, 2026-11-25",
    ),
    (
        "request form missing",
        "support.yaml",
        _set("request_form", value="call-back"),
        "support.yaml: request_form: 'call-back' is not a form in this folder: add "
        "forms/call-back.yaml",
    ),
    (
        "session id twice",
        "support.yaml",
        _set("sessions", 2, "id", value="nhs-app-help"),
        "support.yaml: sessions[2].id: 'nhs-app-help' is used twice",
    ),
    (
        "phone number as a number",
        "services.yaml",
        _set("services", 1, "phone", value=1134960245),
        "services.yaml: services[1].phone: must be in quotes",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [fault[1:] for fault in FAULTS],
    ids=[fault[0] for fault in FAULTS],
)
def test_each_kind_of_fault_stops_the_push_and_names_its_place(
    folder: Path, name: str, change: Callable[[Any], None], expected: str
) -> None:
    edit(folder, name, change)

    message = rejection(folder)

    assert message.startswith(f"1 problem(s) in {folder}:\n - ")
    assert expected in message


def test_a_form_whose_id_is_not_its_file_name_is_refused(folder: Path) -> None:
    (folder / "forms" / "call-back.yaml").write_text(SUPPORT_FORM)

    assert (
        "forms/call-back.yaml: id: is 'digital-support-request', but the id must be the "
        "file's name without .yaml: 'call-back'"
    ) in rejection(folder)


def test_a_broken_form_is_named_by_its_place_in_the_folder(folder: Path) -> None:
    broken = SUPPORT_FORM.replace("type: text", "type: essay")
    (folder / "forms" / "digital-support-request.yaml").write_text(broken)

    message = rejection(folder)

    assert "\n - forms/digital-support-request.yaml: pages[0].questions[0].type: " in message
    # The support page names the form, so it says why patients cannot ask for a call back.
    assert "support.yaml: request_form: the form 'digital-support-request' did not load" in (
        message
    )


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"categories: [\n", "services.yaml: line 2: is not valid YAML: "),
        (b"categories: []\ncategories: []\n", "line 2: is not valid YAML: the key 'categories'"),
        ("categories: [Żywność]".encode("cp1250"), "services.yaml: is not UTF-8 text (byte 13)"),
        (b"- just\n- a list\n", "services.yaml: must be a mapping"),
        (b"", "services.yaml: must be a mapping"),
    ],
    ids=["broken", "key twice", "not utf-8", "a list", "empty"],
)
def test_a_document_that_is_not_readable_yaml_is_refused(
    folder: Path, data: bytes, expected: str
) -> None:
    (folder / "services.yaml").write_bytes(data)

    assert expected in rejection(folder)


def test_a_document_over_the_size_limit_or_named_yml_is_refused(folder: Path) -> None:
    padding = "#" * 100 + "\n"
    (folder / "info" / "big.yaml").write_text(padding * (MAX_DOCUMENT_BYTES // len(padding) + 1))
    (folder / "info" / "stop-smoking.yaml").rename(folder / "info" / "stop-smoking.yml")
    (folder / "notices.yaml").rename(folder / "notices.yml")

    message = rejection(folder)

    assert message.startswith(f"3 problem(s) in {folder}:")
    assert "\n - info/big.yaml: is over 256 KiB, the limit for one document" in message
    assert "\n - info/stop-smoking.yml: is never read: rename it stop-smoking.yaml" in message
    assert "\n - notices.yml: is never read: rename it notices.yaml" in message


def test_a_picture_that_is_not_what_its_name_says_is_refused(folder: Path) -> None:
    (folder / "pictures" / "stop-smoking.png").write_bytes(b"\xff\xd8\xff\xe0 a JPEG inside")

    assert (
        "info/stop-smoking.yaml: picture: pictures/stop-smoking.png is not a PNG file inside"
    ) in rejection(folder)


def test_every_fault_in_the_folder_is_listed_at_once(folder: Path) -> None:
    edit(folder, "info/stop-smoking.yaml", _set("url", value="http://www.nhs.uk/"))
    edit(folder, "services.yaml", _set("services", 9, "category", value="polish"))
    edit(folder, "support.yaml", _set("sessions", 0, "kind", value="class"))

    message = rejection(folder)

    assert message.startswith(f"3 problem(s) in {folder}:")
    assert message.count("\n - ") == 3
    for place in (
        "info/stop-smoking.yaml: url:",
        "services.yaml: services[9].category:",
        "support.yaml: sessions[0].kind:",
    ):
        assert f"\n - {place}" in message


# -- on the device ---------------------------------------------------------------------------


def test_the_device_keeps_the_good_files_and_reports_each_broken_one(folder: Path) -> None:
    edit(folder, "info/stop-smoking.yaml", _set("body", value=[]))
    (folder / "services.yaml").write_text("categories: [\n")

    content = load_patient_content(folder, today=TODAY)

    assert [page.id for page in content.pages] == [
        "healthy-weight",
        "high-blood-pressure",
        "talking-therapies",
    ]
    assert content.directory is None
    assert content.support is not None
    assert len(content.notices) == 2
    assert "digital-support-request" in content.forms
    assert len(content.problems) == 2
    assert content.problems[0].startswith("info/stop-smoking.yaml: body: has 0 items")
    assert content.problems[1].startswith("services.yaml: line ")
    assert "is not valid YAML" in content.problems[1]


def test_a_request_form_that_did_not_load_hides_the_request_but_keeps_the_sessions(
    folder: Path,
) -> None:
    (folder / "forms" / "digital-support-request.yaml").write_text("form: [\n")

    content = load_patient_content(folder, today=TODAY)

    assert content.forms == {}
    assert content.support is not None
    assert content.support.request_form is None
    assert len(content.support.sessions) == 3
    assert content.problems[0].startswith("forms/digital-support-request.yaml: ")
    assert content.problems[1].startswith("support.yaml: request_form: the form")


def test_a_page_past_its_review_date_is_still_shown_but_listed(folder: Path) -> None:
    edit(folder, "info/stop-smoking.yaml", _set("review_due", value=date(2026, 11, 20)))

    content = load_patient_content(folder, today=TODAY)

    assert "stop-smoking" in [page.id for page in content.pages]
    assert [page.id for page in content.pages_due_review(TODAY)] == ["stop-smoking"]
    assert content.pages_due_review(date(2026, 11, 19)) == []
    assert content.problems == (
        "info/stop-smoking.yaml: review was due on 2026-11-20; the page is still shown until "
        "it is reviewed and pushed with new reviewed and review_due dates",
    )
    # At the console it is a warning, not a refusal, and so is a notice that is over.
    warnings = check_content_folder(folder, today=date(2026, 12, 6))
    assert warnings == [
        content.problems[0],
        "notices.yaml: flu-clinic-2026 ended on 2026-12-05 and will not be shown",
    ]


# -- what the kiosk asks of the content ------------------------------------------------------


@pytest.fixture(scope="module")
def starter() -> PatientContent:
    return load_patient_content(STARTER, today=TODAY)


def test_the_directory_is_searched_by_category_and_by_words_in_any_language(
    starter: PatientContent,
) -> None:
    directory = starter.directory
    assert directory is not None

    def ids(**query: Any) -> list[str]:
        return [service.id for service in directory.search(**query)]

    assert ids(category="carers") == ["carers-circle"]
    assert ids(category="food-and-money") == ["community-pantry", "money-matters"]
    assert ids(query="spacery") == ["walks-for-health"]  # Polish for "walks"
    assert ids(query="ĆWICZENIA") == ["gentle-movement"]  # case-blind, Polish capitals
    assert ids(query="biblioteka piętro") == ["library-digital-helpers"]  # every word
    assert ids(query="  ") == [service.id for service in directory.services]
    assert ids(category="digital-skills", query="Mill Street") == []
    assert ids(category="no-such-category") == []
    assert directory.category("carers") is not None
    assert directory.category("nope") is None


def test_support_sessions_come_soonest_first_across_the_week_boundary(
    starter: PatientContent,
) -> None:
    support = starter.support
    assert support is not None
    friday_after = datetime(2026, 11, 27, 15, 30)  # the Friday session ended at 15:00

    upcoming = support.upcoming(friday_after, limit=4)

    assert [(start, end, session.id) for start, end, session in upcoming] == [
        (datetime(2026, 12, 1, 10), datetime(2026, 12, 1, 12), "nhs-app-help"),
        (datetime(2026, 12, 3, 14), datetime(2026, 12, 3, 16), "digital-drop-in"),
        (datetime(2026, 12, 4, 13), datetime(2026, 12, 4, 15), "getting-online"),
        (datetime(2026, 12, 8, 10), datetime(2026, 12, 8, 12), "nhs-app-help"),
    ]
    # A session under way is still one a patient can walk into.
    under_way = support.upcoming(datetime(2026, 11, 26, 15, 59), limit=1)
    assert [(start.day, session.id) for start, _, session in under_way] == [(26, "digital-drop-in")]
    assert len(support.upcoming(friday_after)) == 6
    assert support.upcoming(friday_after, limit=0) == []


def test_dated_sessions_sit_among_the_weekly_ones_as_yaml_writers_expect(
    tmp_path: Path,
) -> None:
    # Unquoted 10:00 is a number (600) in YAML 1.1 and `on:` a boolean: staff mean neither.
    (tmp_path / "support.yaml").write_text(
        "intro: Help with the NHS App\n"
        "sessions:\n"
        "  - {id: weekly, kind: session, title: Weekly, where: Room 1,\n"
        "     weekly: {weekday: Monday, start: 9:30, end: 11:00}}\n"
        "  - id: open-day\n"
        "    kind: drop_in\n"
        "    title: {en: Open day, no: Åpen dag}\n"
        "    where: Room 2\n"
        "    on: 2026-11-25\n"
        "    start: 10:00\n"
        "    end: 12:00\n"
        "  - {id: last-year, kind: drop_in, title: Old, where: Room 2, on: 2025-11-25,\n"
        "     start: '10:00', end: '12:00'}\n"
    )

    support = load_patient_content(tmp_path, today=TODAY).support

    assert support is not None
    sessions = {session.id: session for session in support.sessions}
    assert sessions["open-day"].on == date(2026, 11, 25)
    assert sessions["open-day"].title.get("no") == "Åpen dag"
    assert sessions["weekly"].weekday == 0
    zone = timezone(timedelta(hours=0), "Europe/London in winter")
    upcoming = support.upcoming(datetime(2026, 11, 23, 12, 0, tzinfo=zone), limit=3)
    assert [(start.isoformat(), session.id) for start, _, session in upcoming] == [
        ("2026-11-25T10:00:00+00:00", "open-day"),
        ("2026-11-30T09:30:00+00:00", "weekly"),
        ("2026-12-07T09:30:00+00:00", "weekly"),
    ]


def test_a_session_is_weekly_or_on_a_date_never_both(tmp_path: Path) -> None:
    document = {
        "intro": "Help",
        "sessions": [
            {
                "id": "both",
                "kind": "session",
                "title": "Both",
                "where": "Here",
                "weekly": {"weekday": "monday", "start": "10:00", "end": "11:00"},
                "on": "2026-12-01",
            }
        ],
    }
    with pytest.raises(ContentInvalid, match=r"^support.yaml: sessions\[0\]: needs either"):
        parse_support(document, "support.yaml")
    del document["sessions"][0]["weekly"]
    with pytest.raises(ContentInvalid, match="a session on a date needs end and start"):
        parse_support(document, "support.yaml")


def test_notices_are_current_from_their_first_to_their_last_day(
    starter: PatientContent,
) -> None:
    def shown(day: date) -> list[str]:
        return [notice.id for notice in starter.current_notices(day)]

    assert shown(date(2026, 11, 15)) == []
    assert shown(date(2026, 11, 16)) == ["flu-clinic-2026"]
    assert shown(date(2026, 11, 25)) == ["flu-clinic-2026", "staff-training-2026-12"]
    assert shown(date(2026, 12, 5)) == ["flu-clinic-2026", "staff-training-2026-12"]
    assert shown(date(2026, 12, 6)) == ["staff-training-2026-12"]
    assert shown(date(2026, 12, 10)) == []
    always = parse_notices([{"id": "welcome", "text": "Welcome"}], "notices.yaml")
    assert current_notices(always, date(1999, 1, 1)) == list(always)
    assert parse_notices(None, "notices.yaml") == ()


# -- whatever staff write, the answer is content or ContentInvalid -------------------------

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.dates()
    | st.sampled_from(["", "en", "x", "10:00", "https://a.example/", "../x.png", "monday"])
    | st.text(max_size=8)
)
_KEYS = st.sampled_from(
    ["id", "title", "summary", "category", "body", "picture", "audio", "url", "reviewed",
     "review_due", "categories", "services", "map", "sessions", "intro", "weekly", "on",
     "start", "end", "kind", "where", "en", "pl", "x", "y", "text", "from", "until"]
)  # fmt: skip
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(_KEYS | st.text(max_size=4), children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=_DOCUMENTS)
def test_any_document_is_parsed_or_refused_with_content_invalid(document: Any) -> None:
    for parse in (
        lambda d: parse_info_page(d, "info/page.yaml", STARTER),
        lambda d: parse_directory(d, "services.yaml", STARTER),
        lambda d: parse_support(d, "support.yaml"),
        lambda d: parse_notices(d, "notices.yaml"),
    ):
        try:
            parse(document)
        except ContentInvalid as exc:
            refused = exc
        else:
            continue
        assert refused.path
        assert refused.message


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_any_bytes_are_a_document_or_content_invalid(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "notices.yaml").write_bytes(data)
    refused = None
    try:
        read_document(tmp_path, "notices.yaml")
    except ContentInvalid as exc:
        refused = exc
    assert refused is None or refused.path.split(": line ")[0] == "notices.yaml"
    load_patient_content(tmp_path, today=TODAY)  # never raises


def test_deeply_nested_yaml_is_refused_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "notices.yaml").write_text("[" * 20_000)

    content = load_patient_content(tmp_path, today=TODAY)

    assert len(content.problems) == 1
    assert content.problems[0].startswith("notices.yaml: ")
