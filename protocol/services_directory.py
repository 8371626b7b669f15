"""The practice's signposting directory (``services.yaml``) and its digital health support
team's timetable (``support.yaml``): local help a kiosk points patients to.

``services.yaml`` lists categories first and services after, each service in one declared
category, so the patient's first screen is a short list of kinds of help and no service
hides under a misspelt category. A service may sit on the map picture at ``x``, ``y`` (shares
of its width and height from the top left), so the kiosk can show where it is without
knowing any street names::

    categories:
      - {id: carers, title: {en: Carers, pl: Opiekunowie}}
    map: {picture: pictures/map.png, caption: Around the practice}
    services:
      - id: carers-circle
        name: Carers' Circle
        category: carers
        description: {en: ..., pl: ...}
        when: First Monday of the month, 13:00 to 15:00
        where: Hillside Community Centre, Mill Street
        phone: "0113 496 0412"
        map: {x: 0.62, y: 0.35}
        languages: [en, pl]

``support.yaml`` gives the team's sessions, weekly or on one date, in the practice's wall
clock time; :meth:`Support.upcoming` answers "when can I next get help?".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from healthhub.protocol.content_fields import (
    ContentInvalid,
    content_faults,
    media_path,
    one_line,
    parse_clock,
    parse_date,
    parse_fraction,
    parse_language,
    parse_phone,
    parse_url,
    require_unique,
)
from healthhub.protocol.texts import Text, identifier, mapping, parse_text, sequence

MAX_CATEGORIES: Final = 30
MAX_SERVICES: Final = 300
MAX_SESSIONS: Final = 60
MAX_LANGUAGES: Final = 40
#: A name or title fits on one line of a kiosk button.
MAX_NAME_CHARS: Final = 120
#: Where and when: a line or two under a service's name.
MAX_DETAIL_CHARS: Final = 400
MAX_DESCRIPTION_CHARS: Final = 1500

WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SessionKind = Literal["session", "drop_in"]


@dataclass(frozen=True)
class Category:
    id: str
    title: Text


@dataclass(frozen=True)
class Service:
    id: str
    name: Text
    category: str
    description: Text
    when: Text
    where: Text
    phone: str | None
    url: str | None
    x: float | None  # on the map picture: share of its width from the left
    y: float | None  # share of its height from the top
    languages: tuple[str, ...]  # languages the service offers help in

    def matches(self, query: str) -> bool:
        """Whether every word of ``query`` is in the name, description or place, in any
        language, case-blind (``"ćwiczenia park"`` finds the walks in the park)."""
        texts = (self.name, self.description, self.where)
        return all(any(text.matches(word) for text in texts) for word in query.split())


@dataclass(frozen=True)
class Directory:
    categories: tuple[Category, ...]
    services: tuple[Service, ...]
    map_picture: str | None
    map_caption: Text | None

    def search(self, *, category: str | None = None, query: str = "") -> list[Service]:
        """The services in ``category`` (all when None) that match ``query`` (all when
        blank), in the order the practice wrote them."""
        return [
            service
            for service in self.services
            if (category is None or service.category == category) and service.matches(query)
        ]

    def category(self, category_id: str) -> Category | None:
        return next((found for found in self.categories if found.id == category_id), None)


@dataclass(frozen=True)
class SupportSession:
    id: str
    kind: SessionKind
    title: Text
    where: Text
    weekday: int | None  # 0 = Monday, for a weekly session
    on: date | None  # for a session on one date
    start: time
    end: time

    def occurrences(self, now: datetime, count: int) -> list[tuple[datetime, datetime]]:
        """The next ``count`` times this session is on that have not ended at ``now``.
        Times are the practice's wall clock: an aware ``now`` gives times in its zone."""
        zone = now.tzinfo
        if self.on is not None:
            end = datetime.combine(self.on, self.end, zone)
            return [(datetime.combine(self.on, self.start, zone), end)] if end > now else []
        assert self.weekday is not None  # the parser gives every session one or the other
        first = now.date() + timedelta(days=(self.weekday - now.weekday()) % 7)
        if datetime.combine(first, self.end, zone) <= now:
            first += timedelta(days=7)
        days = (first + timedelta(weeks=week) for week in range(count))
        return [
            (datetime.combine(day, self.start, zone), datetime.combine(day, self.end, zone))
            for day in days
        ]


@dataclass(frozen=True)
class Support:
    intro: Text
    sessions: tuple[SupportSession, ...]
    request_form: str | None  # the form a patient fills to ask for a call back or a slot

    def upcoming(
        self, now: datetime, *, limit: int = 6
    ) -> list[tuple[datetime, datetime, SupportSession]]:
        """The next ``limit`` sessions from ``now``, soonest first. A session already under
        way is included (a patient can still walk in) until it ends."""
        found = [
            (start, end, session)
            for session in self.sessions
            for start, end in session.occurrences(now, max(0, limit))
        ]
        found.sort(key=lambda item: (item[0], item[1], item[2].id))
        return found[: max(0, limit)]


# -- services.yaml -------------------------------------------------------------------------

_DIRECTORY_KEYS = frozenset({"categories", "map", "services"})
_MAP_KEYS = frozenset({"picture", "caption"})
_SERVICE_KEYS = frozenset(
    {"id", "name", "category", "description", "when", "where", "phone", "url", "map", "languages"}
)
_SERVICE_REQUIRED = frozenset({"id", "name", "category", "description", "when", "where"})
_POINT_KEYS = frozenset({"x", "y"})


@content_faults
def parse_directory(document: Any, file: str, folder: Path) -> Directory:
    """The directory in ``document`` (``services.yaml`` of ``folder``)."""
    top = mapping(
        document, file, allowed=_DIRECTORY_KEYS, required=frozenset({"categories", "services"})
    )
    seen: set[str] = set()
    categories: list[Category] = []
    for index, item in enumerate(
        sequence(top["categories"], f"{file}: categories", min_items=1, max_items=MAX_CATEGORIES)
    ):
        path = f"{file}: categories[{index}]"
        entry = mapping(
            item, path, allowed=frozenset({"id", "title"}), required=frozenset({"id", "title"})
        )
        category_id = require_unique(identifier(entry["id"], f"{path}.id"), seen, f"{path}.id")
        categories.append(
            Category(
                category_id, one_line(entry["title"], f"{path}.title", max_chars=MAX_NAME_CHARS)
            )
        )
    map_picture: str | None = None
    map_caption: Text | None = None
    if top.get("map") is not None:
        where = f"{file}: map"
        entry = mapping(top["map"], where, allowed=_MAP_KEYS, required=frozenset({"picture"}))
        map_picture = media_path(entry["picture"], f"{where}.picture", folder, "picture")
        if entry.get("caption") is not None:
            map_caption = one_line(entry["caption"], f"{where}.caption", max_chars=MAX_DETAIL_CHARS)
    services: list[Service] = []
    seen = set()
    for index, item in enumerate(
        sequence(top["services"], f"{file}: services", max_items=MAX_SERVICES)
    ):
        service = _parse_service(
            item, f"{file}: services[{index}]", seen, declared={c.id for c in categories}
        )
        if service.x is not None and map_picture is None:
            raise ContentInvalid(
                f"{file}: services[{index}].map",
                "places the service on a map, but the file has no map: add "
                "map: {picture: pictures/map.png} at the top",
            )
        services.append(service)
    return Directory(tuple(categories), tuple(services), map_picture, map_caption)


def _parse_service(item: Any, path: str, seen: set[str], *, declared: set[str]) -> Service:
    entry = mapping(item, path, allowed=_SERVICE_KEYS, required=_SERVICE_REQUIRED)
    service_id = require_unique(identifier(entry["id"], f"{path}.id"), seen, f"{path}.id")
    category = identifier(entry["category"], f"{path}.category")
    if category not in declared:
        raise ContentInvalid(
            f"{path}.category",
            f"{category!r} is not a declared category; declared: {', '.join(sorted(declared))}",
        )
    x = y = None
    if entry.get("map") is not None:
        point = mapping(entry["map"], f"{path}.map", allowed=_POINT_KEYS, required=_POINT_KEYS)
        x = parse_fraction(point["x"], f"{path}.map.x")
        y = parse_fraction(point["y"], f"{path}.map.y")
    return Service(
        id=service_id,
        name=one_line(entry["name"], f"{path}.name", max_chars=MAX_NAME_CHARS),
        category=category,
        description=parse_text(
            entry["description"], f"{path}.description", max_chars=MAX_DESCRIPTION_CHARS
        ),
        when=parse_text(entry["when"], f"{path}.when", max_chars=MAX_DETAIL_CHARS),
        where=parse_text(entry["where"], f"{path}.where", max_chars=MAX_DETAIL_CHARS),
        phone=None if entry.get("phone") is None else parse_phone(entry["phone"], f"{path}.phone"),
        url=None if entry.get("url") is None else parse_url(entry["url"], f"{path}.url"),
        x=x,
        y=y,
        languages=_languages(entry.get("languages"), f"{path}.languages"),
    )


def _languages(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    codes: list[str] = []
    for index, item in enumerate(sequence(value, path, min_items=1, max_items=MAX_LANGUAGES)):
        code = parse_language(item, f"{path}[{index}]")
        if code in codes:
            raise ContentInvalid(f"{path}[{index}]", f"{code!r} is listed twice")
        codes.append(code)
    return tuple(codes)


# -- support.yaml --------------------------------------------------------------------------

_SUPPORT_KEYS = frozenset({"intro", "sessions", "request_form"})
_SESSION_KEYS = frozenset({"id", "kind", "title", "where", "weekly", "on", "start", "end"})
_SESSION_REQUIRED = frozenset({"id", "kind", "title", "where"})
_WEEKLY_KEYS = frozenset({"weekday", "start", "end"})
_KINDS: Final[Mapping[str, SessionKind]] = {"session": "session", "drop_in": "drop_in"}


@content_faults
def parse_support(document: Any, file: str) -> Support:
    """The support team's page in ``document`` (``support.yaml``). Whether ``request_form``
    names a form in the folder is checked with the forms (``patient_content``)."""
    top = mapping(document, file, allowed=_SUPPORT_KEYS, required=frozenset({"intro", "sessions"}))
    seen: set[str] = set()
    sessions = tuple(
        _parse_session(item, f"{file}: sessions[{index}]", seen)
        for index, item in enumerate(
            sequence(top["sessions"], f"{file}: sessions", max_items=MAX_SESSIONS)
        )
    )
    request_form = top.get("request_form")
    return Support(
        intro=parse_text(top["intro"], f"{file}: intro"),
        sessions=sessions,
        request_form=None
        if request_form is None
        else identifier(request_form, f"{file}: request_form"),
    )


def _parse_session(item: Any, path: str, seen: set[str]) -> SupportSession:
    entry = mapping(item, path, allowed=_SESSION_KEYS, required=_SESSION_REQUIRED)
    session_id = require_unique(identifier(entry["id"], f"{path}.id"), seen, f"{path}.id")
    kind = _KINDS.get(entry["kind"]) if isinstance(entry["kind"], str) else None
    if kind is None:
        raise ContentInvalid(f"{path}.kind", f"{entry['kind']!r} must be session or drop_in")
    weekday: int | None = None
    on: date | None = None
    if ("weekly" in entry) == ("on" in entry):
        raise ContentInvalid(
            path,
            'needs either weekly: {weekday: tuesday, start: "10:00", end: "12:00"} '
            "or on: 2026-12-01 with start and end, not both",
        )
    if "weekly" in entry:
        if "start" in entry or "end" in entry:
            raise ContentInvalid(path, "a weekly session has its start and end inside weekly:")
        times = mapping(
            entry["weekly"], f"{path}.weekly", allowed=_WEEKLY_KEYS, required=_WEEKLY_KEYS
        )
        weekday = _weekday(times["weekday"], f"{path}.weekly.weekday")
        where = f"{path}.weekly"
    else:
        on = parse_date(entry["on"], f"{path}.on")
        missing = sorted({"start", "end"} - set(entry))
        if missing:
            raise ContentInvalid(path, f"a session on a date needs {' and '.join(missing)}")
        times = entry
        where = path
    start = parse_clock(times["start"], f"{where}.start")
    end = parse_clock(times["end"], f"{where}.end")
    if end <= start:
        raise ContentInvalid(f"{where}.end", f"{end:%H:%M} is not after the start, {start:%H:%M}")
    return SupportSession(
        id=session_id,
        kind=kind,
        title=one_line(entry["title"], f"{path}.title", max_chars=MAX_NAME_CHARS),
        where=parse_text(entry["where"], f"{path}.where", max_chars=MAX_DETAIL_CHARS),
        weekday=weekday,
        on=on,
        start=start,
        end=end,
    )


def _weekday(value: Any, path: str) -> int:
    name = value.strip().casefold() if isinstance(value, str) else None
    if name not in WEEKDAYS:
        raise ContentInvalid(path, f"{value!r} is not a day: one of {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(name)
