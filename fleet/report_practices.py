"""The practices a report compares: each site's registered list size (and a display name).

Equity of access means use *relative to who could use it*: a practice of 12,000 patients with
the same visits as one of 4,000 reaches a third as many of its patients. A PCN knows each
practice's list size (NHS Digital publishes "Patients Registered at a GP Practice" monthly);
given it (``healthhub-fleet report --practices FILE``), the report adds visits and identified
visits per 1,000 registered patients. The file is staff-written YAML::

    practice-a:
      name: Riverside Surgery   # optional; shown beside the site id
      list_size: 8450           # registered patients, a whole number above 0

Anything else is refused with the file, the site and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthhub.protocol import topics
from healthhub.protocol.errors import ProtocolError
from healthhub.protocol.texts import DocumentInvalid
from healthhub.protocol.yaml_documents import read_yaml_document

MAX_NAME = 100
#: The largest practice in England has under 100,000 patients: more is a typo.
MAX_LIST_SIZE = 500_000


class PracticesInvalid(DocumentInvalid):
    """The practices file cannot be used; ``path`` says where."""


@dataclass(frozen=True)
class Practice:
    list_size: int
    name: str = ""


def read_practices(path: Path) -> dict[str, Practice]:
    """Each site's practice details from ``path`` (see the module's text)."""
    document = read_yaml_document(path, path.name, PracticesInvalid)
    if not isinstance(document, dict) or not document:
        raise PracticesInvalid(path.name, "must map each site id to its list_size (and name)")
    return {str(site): _practice(path.name, site, entry) for site, entry in document.items()}


def _practice(name: str, site: object, entry: object) -> Practice:
    where = f"{name}: {site}"
    try:
        topics.validate_id(str(site), what="site id")
    except ProtocolError as exc:
        raise PracticesInvalid(name, str(exc)) from None
    if not isinstance(entry, dict):
        raise PracticesInvalid(where, "must hold list_size (and optionally name)")
    unknown = sorted(set(entry) - {"list_size", "name"})
    if unknown:
        raise PracticesInvalid(where, f"unknown key {unknown[0]!r}: only list_size and name")
    size = entry.get("list_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_LIST_SIZE:
        raise PracticesInvalid(where, f"list_size must be a whole number from 1 to {MAX_LIST_SIZE}")
    shown = entry.get("name", "")
    if not isinstance(shown, str) or len(shown) > MAX_NAME or not shown.isprintable():
        raise PracticesInvalid(where, f"name must be text of at most {MAX_NAME} characters")
    return Practice(size, shown.strip())
