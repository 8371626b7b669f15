"""What a FHIR server answered a transaction, read without keeping any patient data.

Pure functions over the bytes of an answer, kept apart from the HTTP of
:mod:`healthhub.fleet.fhir_post` so that each rule is plain to read and test.

- A transaction-response must answer every request entry, in order (FHIR requires it), with a
  2xx at the resource's own ``Type/id``; anything else makes the bundle failed (a server that
  files an entry under an id of its own would file it twice when posted again). FHIR answers a
  PUT that changed nothing ``200 OK``, as it does an update (servers keep the version), so
  "updated" counts both.
- An OperationOutcome is kept to its issues' severity, code and ``expression``/``location``
  paths (a path holding a quote or a space could carry a value: it is withheld).
  ``diagnostics`` and ``details.text`` are withheld everywhere, only their length is kept:
  servers echo the offending value in them (HAPI quotes the element, pydantic-based servers
  the whole resource, NHS number included), and the report goes to stdout, to log collectors
  and to a file, none of which may hold patient data. To see the text, validate the bundle
  that ``--out`` kept (same number) with the clinical system's own tools.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

MAX_ISSUES = 20
WITHHELD = "(withheld: not a plain path)"
_PATH = re.compile(r"[A-Za-z0-9_.\[\]()/:*-]{1,200}")
_ISSUE_CODE = re.compile(r"[a-z][a-z-]{0,39}")
_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
_STATUS = re.compile(r"\s*(\d{3})\b")


@dataclass
class BundleResult:
    """What became of one bundle: ``accepted``, ``rejected`` (the server said no, not retried),
    ``failed-after-retries`` or ``failed`` (an answer that another try would not mend)."""

    bundle: int
    entries: int
    status: str = "failed"
    attempts: int = 0
    created: int = 0
    updated: int = 0
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    http_status: int | None = None
    reason: str | None = None
    issues: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PostReport:
    base_url: str
    bundles: list[BundleResult]

    @property
    def all_accepted(self) -> bool:
        return all(b.status == "accepted" for b in self.bundles)

    def to_json(self) -> dict[str, Any]:
        by_type: dict[str, dict[str, int]] = {}
        for result in self.bundles:
            for kind, counts in result.by_type.items():
                for what, n in counts.items():
                    by_type.setdefault(kind, {"created": 0, "updated": 0})[what] += n
        statuses = [b.status for b in self.bundles]
        totals = {
            "bundles": len(self.bundles),
            "accepted": statuses.count("accepted"),
            "rejected": statuses.count("rejected"),
            "failed": len(statuses) - statuses.count("accepted") - statuses.count("rejected"),
            "entries": sum(b.entries for b in self.bundles),
            "created": sum(b.created for b in self.bundles),
            "updated": sum(b.updated for b in self.bundles),
            "by_type": by_type,
        }
        bundles = [asdict(b) for b in self.bundles]
        return {"base_url": self.base_url, "all_accepted": self.all_accepted,
                "totals": totals, "bundles": bundles}  # fmt: skip


def retry_after_s(value: str | None, now: float | None = None) -> float:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); 0 if none."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when - (time.time() if now is None else now))


def outcome_issues(answer: bytes) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome, without anything that could be patient data."""
    try:
        outcome = json.loads(answer)
    except ValueError:
        return []
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return []
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return []
    return [_issue(issue) for issue in issues[:MAX_ISSUES] if isinstance(issue, dict)]


def _issue(issue: dict[str, Any]) -> dict[str, Any]:
    severity, code = issue.get("severity"), issue.get("code")
    found: dict[str, Any] = {
        "severity": severity if severity in _SEVERITIES else None,
        "code": code if isinstance(code, str) and _ISSUE_CODE.fullmatch(code) else None,
    }
    for key in ("expression", "location"):
        paths = issue.get(key)
        if isinstance(paths, list) and paths:
            found[key] = [
                p if isinstance(p, str) and _PATH.fullmatch(p) else WITHHELD for p in paths[:5]
            ]
    details = issue.get("details")
    texts = [issue.get("diagnostics"), details.get("text") if isinstance(details, dict) else None]
    withheld = sum(len(t) for t in texts if isinstance(t, str))
    if withheld:
        found["text_withheld_chars"] = withheld
    return found


def read_transaction_response(request: dict[str, Any], answer: bytes, result: BundleResult) -> None:
    """Count what the server did with each entry; the bundle is accepted only if every entry
    was answered with a 2xx at its own ``Type/id``."""
    try:
        response = json.loads(answer)
    except ValueError:
        response = None
    if not isinstance(response, dict) or response.get("type") != "transaction-response":
        result.reason = "the answer is not a transaction-response Bundle"
        return
    asked, answered = request.get("entry", []), response.get("entry") or []
    if not isinstance(answered, list) or len(answered) != len(asked):
        result.reason = f"the answer has {len(answered)} entries for {len(asked)} requested"
        return
    by_type: dict[str, dict[str, int]] = {}
    for index, (entry, reply) in enumerate(zip(asked, answered, strict=True)):
        kind, _, rid = entry["request"]["url"].partition("/")
        what = _entry_outcome(reply, kind, rid)
        if what not in ("created", "updated"):
            result.reason = f"entry {index}: {what}"
            return
        by_type.setdefault(kind, {"created": 0, "updated": 0})[what] += 1
    result.status, result.by_type = "accepted", by_type
    result.created = sum(c["created"] for c in by_type.values())
    result.updated = sum(c["updated"] for c in by_type.values())


def _entry_outcome(reply: Any, kind: str, rid: str) -> str:
    answer = reply.get("response") if isinstance(reply, dict) else None
    status = answer.get("status") if isinstance(answer, dict) else None
    matched = _STATUS.match(status) if isinstance(status, str) else None
    if answer is None or matched is None:
        return "answered without a response status"
    code = int(matched.group(1))
    if not 200 <= code < 300:
        return f"answered {code}"
    location = answer.get("location")
    if isinstance(location, str):
        path = location.split("/_history/")[0].rstrip("/")
        if path != f"{kind}/{rid}" and not path.endswith(f"/{kind}/{rid}"):
            return "filed under another id (posting again would file it twice)"
    return "created" if code == 201 else "updated"
