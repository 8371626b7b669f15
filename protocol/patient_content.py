"""Patient content: what a device's content folder holds for patients, read and checked.

A content folder (pushed by ``healthhub-fleet content push``) may hold::

    forms/*.yaml      forms (healthhub.protocol.forms); a form's id is its file's name
    info/*.yaml       one health information page each; its id is its file's name
    services.yaml     the signposting directory (healthhub.protocol.services_directory)
    support.yaml      the digital health support team's sessions
    notices.yaml      the practice's notices for the attract screen
    anything else     pictures, audio, leaflets: used when a document names them

The folder has two readers with opposite duties, and both go through :func:`_read`, so what
the console accepts is exactly what a device shows:

- a device (:func:`load_patient_content`) must never stop serving patients because one file
  is wrong: a broken file is left out and described in ``problems`` for the staff screen,
  and every good file still loads;
- the console (:func:`check_content_folder`) must stop a broken file before any device sees
  it, and names every fault at once so IT staff fix them in one pass.

Information pages carry the date they were last clinically reviewed and the date the next
review is due. A page past its due date is still shown (withdrawing advice overnight would
leave patients with less, not safer, information) but is listed as a problem on the staff
screen and warned about at every push until it is reviewed.

A device serves the union of its fleet, site and device folders, but each push is checked
alone: a page, picture or form named in a document must be in the same folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from healthhub.protocol.content import ContentRejected
from healthhub.protocol.content_fields import (
    ContentInvalid,
    content_faults,
    media_path,
    one_line,
    parse_date,
    parse_language,
    parse_url,
    plain_string,
    read_document,
    require_unique,
)
from healthhub.protocol.services_directory import (
    Category,
    Directory,
    Service,
    Support,
    SupportSession,
    parse_directory,
    parse_support,
)
from healthhub.protocol.texts import (
    DocumentInvalid,
    Text,
    identifier,
    mapping,
    parse_text,
    sequence,
)

if TYPE_CHECKING:
    from healthhub.protocol.forms import Form

__all__ = [
    "Category",
    "ContentInvalid",
    "Directory",
    "InfoPage",
    "Notice",
    "PatientContent",
    "Service",
    "Support",
    "SupportSession",
    "check_content_folder",
    "current_notices",
    "load_patient_content",
    "parse_info_page",
    "parse_notices",
]

#: Documents of one kind (forms, pages) in a folder: a kiosk lists them on one screen.
MAX_DOCUMENTS: Final = 200
MAX_PARAGRAPHS: Final = 40
MAX_TITLE_CHARS: Final = 120
#: A summary is the one line under a page's title in the list.
MAX_SUMMARY_CHARS: Final = 200
MAX_SOURCE_CHARS: Final = 300
MAX_NOTICES: Final = 20
#: A notice scrolls past on the attract screen: longer than this is not read.
MAX_NOTICE_CHARS: Final = 300
#: Faults listed in one rejection; the count says how many more there were.
MAX_REPORTED: Final = 50

DIRECTORY_FILE: Final = "services.yaml"
SUPPORT_FILE: Final = "support.yaml"
NOTICES_FILE: Final = "notices.yaml"

_T = TypeVar("_T")


@dataclass(frozen=True)
class InfoPage:
    id: str
    title: Text
    summary: Text
    category: str
    body: tuple[Text, ...]  # paragraphs
    picture: str | None  # relative to the content folder
    audio: Mapping[str, str]  # language -> spoken version, relative to the content folder
    url: str | None  # the fuller page, for a QR code or a printout
    source: str | None  # citation
    reviewed: date  # last clinical review
    review_due: date

    @property
    def file(self) -> str:
        return f"info/{self.id}.yaml"


@dataclass(frozen=True)
class Notice:
    id: str
    text: Text
    starts: date | None  # first day shown (``from`` in the file)
    ends: date | None  # last day shown (``until``)

    def shown_on(self, today: date) -> bool:
        return (self.starts is None or self.starts <= today) and (
            self.ends is None or today <= self.ends
        )


def current_notices(notices: tuple[Notice, ...] | list[Notice], today: date) -> list[Notice]:
    """The notices to show on ``today``, in the order the practice wrote them."""
    return [notice for notice in notices if notice.shown_on(today)]


@dataclass(frozen=True)
class PatientContent:
    forms: Mapping[str, Form]  # by id
    pages: tuple[InfoPage, ...]  # by id
    directory: Directory | None
    support: Support | None
    notices: tuple[Notice, ...]
    problems: tuple[str, ...] = ()  # for the staff screen: what was left out, and why

    def current_notices(self, today: date) -> list[Notice]:
        return current_notices(self.notices, today)

    def pages_due_review(self, today: date) -> list[InfoPage]:
        """Pages whose clinical review is due on or before ``today``."""
        return [page for page in self.pages if page.review_due <= today]

    def page(self, page_id: str) -> InfoPage | None:
        return next((page for page in self.pages if page.id == page_id), None)


EMPTY: Final = PatientContent(
    forms=MappingProxyType({}), pages=(), directory=None, support=None, notices=()
)


# -- info/*.yaml ---------------------------------------------------------------------------

_PAGE_KEYS = frozenset(
    {
        "id",
        "title",
        "summary",
        "category",
        "body",
        "picture",
        "audio",
        "url",
        "source",
        "reviewed",
        "review_due",
    }
)
_PAGE_REQUIRED = frozenset({"id", "title", "summary", "category", "body", "reviewed", "review_due"})


@content_faults
def parse_info_page(document: Any, file: str, folder: Path) -> InfoPage:
    """The information page in ``document``, read from ``file`` (``info/bmi.yaml``) of
    ``folder``, where its picture and audio must be."""
    top = mapping(document, file, allowed=_PAGE_KEYS, required=_PAGE_REQUIRED)
    page_id = _id_is_stem(top["id"], file)
    body = sequence(top["body"], f"{file}: body", min_items=1, max_items=MAX_PARAGRAPHS)
    reviewed = parse_date(top["reviewed"], f"{file}: reviewed")
    review_due = parse_date(top["review_due"], f"{file}: review_due")
    if review_due <= reviewed:
        raise ContentInvalid(
            f"{file}: review_due", f"{review_due} is not after reviewed, {reviewed}"
        )
    return InfoPage(
        id=page_id,
        title=one_line(top["title"], f"{file}: title", max_chars=MAX_TITLE_CHARS),
        summary=one_line(top["summary"], f"{file}: summary", max_chars=MAX_SUMMARY_CHARS),
        category=identifier(top["category"], f"{file}: category"),
        body=tuple(
            parse_text(paragraph, f"{file}: body[{index}]") for index, paragraph in enumerate(body)
        ),
        picture=_optional(top, "picture", lambda v, p: media_path(v, p, folder, "picture"), file),
        audio=_audio(top.get("audio"), f"{file}: audio", folder),
        url=_optional(top, "url", parse_url, file),
        source=_optional(
            top, "source", lambda v, p: plain_string(v, p, max_chars=MAX_SOURCE_CHARS), file
        ),
        reviewed=reviewed,
        review_due=review_due,
    )


def _id_is_stem(value: Any, file: str) -> str:
    stem = PurePosixPath(file).stem
    found = identifier(value, f"{file}: id")
    if found != stem:
        raise ContentInvalid(
            f"{file}: id",
            f"is {found!r}, but the id must be the file's name without .yaml: {stem!r} "
            f"(or rename the file {found}.yaml)",
        )
    return found


def _optional(
    top: Mapping[str, Any], key: str, parse: Callable[[Any, str], _T], file: str
) -> _T | None:
    value = top.get(key)
    return None if value is None else parse(value, f"{file}: {key}")


def _audio(value: Any, path: str, folder: Path) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ContentInvalid(path, "must map language codes to audio files: {en: audio/bp-en.ogg}")
    return {
        parse_language(code, path): media_path(recording, f"{path}.{code}", folder, "audio")
        for code, recording in value.items()
    }


# -- notices.yaml --------------------------------------------------------------------------

_NOTICE_KEYS = frozenset({"id", "text", "from", "until"})


@content_faults
def parse_notices(document: Any, file: str) -> tuple[Notice, ...]:
    """The notices in ``document`` (``notices.yaml``): a list; an empty file has none."""
    if document is None:
        return ()
    seen: set[str] = set()
    notices: list[Notice] = []
    for index, item in enumerate(sequence(document, file, max_items=MAX_NOTICES)):
        path = f"{file}: [{index}]"
        entry = mapping(item, path, allowed=_NOTICE_KEYS, required=frozenset({"id", "text"}))
        starts = None if entry.get("from") is None else parse_date(entry["from"], f"{path}.from")
        ends = None if entry.get("until") is None else parse_date(entry["until"], f"{path}.until")
        if starts is not None and ends is not None and ends < starts:
            raise ContentInvalid(f"{path}.until", f"{ends} is before from, {starts}")
        notices.append(
            Notice(
                id=require_unique(identifier(entry["id"], f"{path}.id"), seen, f"{path}.id"),
                text=parse_text(entry["text"], f"{path}.text", max_chars=MAX_NOTICE_CHARS),
                starts=starts,
                ends=ends,
            )
        )
    return tuple(notices)


# -- the folder ----------------------------------------------------------------------------


def load_patient_content(folder: Path | None, *, today: date | None = None) -> PatientContent:
    """What a device shows from ``folder``; never raises for bad content. No folder (nothing
    pushed yet) is empty content. A broken file is left out and described in ``problems``,
    as is a page whose review was due by ``today`` (it is still shown)."""
    if folder is None or not folder.is_dir():
        return EMPTY
    found, faults = _read(folder)
    due = found.pages_due_review(today or date.today())
    return replace(found, problems=(*faults, *(_review_due(page) for page in due)))


def check_content_folder(folder: Path, *, today: date | None = None) -> list[str]:
    """Check ``folder`` before it is pushed: :class:`ContentRejected` listing every fault if
    any file is invalid; else warnings to show (pages past review, notices already over). A
    folder with no recognised document (leaflets, pictures) is fine."""
    if not folder.is_dir():
        raise ContentRejected(f"{folder} is not a folder")
    found, faults = _read(folder)
    if faults:
        listed = "".join(f"\n - {fault}" for fault in faults[:MAX_REPORTED])
        more = len(faults) - MAX_REPORTED
        raise ContentRejected(
            f"{len(faults)} problem(s) in {folder}:{listed}"
            + (f"\n - ... and {more} more" if more > 0 else "")
        )
    today = today or date.today()
    warnings = [_review_due(page) for page in found.pages_due_review(today)]
    warnings.extend(
        f"{NOTICES_FILE}: {notice.id} ended on {notice.ends} and will not be shown"
        for notice in found.notices
        if notice.ends is not None and notice.ends < today
    )
    return warnings


def _review_due(page: InfoPage) -> str:
    return (
        f"{page.file}: review was due on {page.review_due}; the page is still shown until it "
        "is reviewed and pushed with new reviewed and review_due dates"
    )


def _read(folder: Path) -> tuple[PatientContent, list[str]]:
    """Everything in ``folder`` that reads, and one fault per file that does not (plus any
    reference to a form that is not there)."""
    faults: list[str] = []
    for name in (DIRECTORY_FILE, SUPPORT_FILE, NOTICES_FILE):
        misnamed = name.removesuffix(".yaml") + ".yml"
        if (folder / misnamed).exists():
            faults.append(f"{misnamed}: is never read: rename it {name}")
    forms = _load_forms(folder, faults)
    pages: list[InfoPage] = []
    for name in _documents(folder, "info", faults):
        page = _parse(folder, name, lambda d, f: parse_info_page(d, f, folder), faults)
        if page is not None:
            pages.append(page)
    directory = support = None
    notices: tuple[Notice, ...] = ()
    if (folder / DIRECTORY_FILE).exists():
        directory = _parse(
            folder, DIRECTORY_FILE, lambda d, f: parse_directory(d, f, folder), faults
        )
    if (folder / SUPPORT_FILE).exists():
        support = _parse(folder, SUPPORT_FILE, parse_support, faults)
    if (folder / NOTICES_FILE).exists():
        notices = _parse(folder, NOTICES_FILE, parse_notices, faults) or ()
    if support is not None and support.request_form is not None:
        wanted = support.request_form
        if wanted not in forms:
            there = (folder / "forms" / f"{wanted}.yaml").is_file()
            faults.append(
                f"{SUPPORT_FILE}: request_form: "
                + (
                    f"the form {wanted!r} did not load (see forms/{wanted}.yaml)"
                    if there
                    else f"{wanted!r} is not a form in this folder: add forms/{wanted}.yaml"
                )
                + "; until then patients cannot ask the team for help from the kiosk"
            )
            support = replace(support, request_form=None)
    content = PatientContent(forms, tuple(pages), directory, support, notices)
    return content, faults


def _parse(
    folder: Path, name: str, parse: Callable[[Any, str], _T], faults: list[str]
) -> _T | None:
    try:
        return parse(read_document(folder, name), name)
    except DocumentInvalid as exc:
        faults.append(str(exc))
        return None


def _documents(folder: Path, kind: str, faults: list[str]) -> list[str]:
    """The documents in ``folder/kind`` as staff name them (``info/bmi.yaml``), sorted. A
    ``.yml`` file is a fault: left unread in silence, a page would just never appear."""
    directory = folder / kind
    if not directory.is_dir():
        return []
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError as exc:
        faults.append(f"{kind}/: cannot be read: {exc.strerror or exc}")
        return []
    documents: list[str] = []
    for name in names:
        if name.endswith(".yml"):
            faults.append(f"{kind}/{name}: is never read: rename it {name[:-4]}.yaml")
        elif name.endswith(".yaml") and not name.startswith("."):
            documents.append(f"{kind}/{name}")
    if len(documents) > MAX_DOCUMENTS:
        faults.append(
            f"{kind}/: holds {len(documents)} documents; at most {MAX_DOCUMENTS} are read "
            f"(the first {MAX_DOCUMENTS} by name)"
        )
        del documents[MAX_DOCUMENTS:]
    return documents


def _load_forms(folder: Path, faults: list[str]) -> dict[str, Form]:
    """The forms in ``folder/forms`` that load, by id; each one that does not is a fault."""
    names = _documents(folder, "forms", faults)
    if not names:
        return {}
    from healthhub.protocol.forms import load_form  # its engine is only needed for forms

    forms: dict[str, Form] = {}
    for name in names:
        source = folder / name
        try:
            form = load_form(source)
        except (DocumentInvalid, OSError, ValueError, RecursionError) as exc:
            faults.append(_form_fault(name, source, exc))
            continue
        if form.id != source.stem:
            faults.append(
                f"{name}: id: is {form.id!r}, but the id must be the file's name without "
                f".yaml: {source.stem!r} (or rename the file {form.id}.yaml)"
            )
            continue
        forms[form.id] = form
    return forms


def _form_fault(name: str, source: Path, exc: Exception) -> str:
    """``exc`` from the forms engine, as ``forms/x.yaml: path: message`` however it named the
    file (the full path, the folder's name for it, or the bare file name)."""
    text = str(exc) if not isinstance(exc, OSError) else f"cannot be read: {exc.strerror or exc}"
    for prefix in (str(source), name, source.name):
        if text.startswith(prefix):
            return name + text[len(prefix) :]
    return f"{name}: {text}"
