"""A small FHIR R4 server for tests: the transaction interaction, done honestly.

A real HTTP server (``ThreadingHTTPServer`` on a free loopback port, in a thread; HTTPS when
given a certificate) that takes ``POST [base]`` of a transaction Bundle:

- checks the media type and, when it has a token, ``Authorization: Bearer`` (401 otherwise);
- validates the whole Bundle with ``fhir.resources`` (R4B); an invalid one is answered 400
  with an OperationOutcome whose issues carry the FHIRPath of each fault and, like real
  servers, ``diagnostics`` that echo the offending value (so tests can show the client never
  repeats them);
- resolves every conditional reference (``Patient?identifier=SYSTEM|VALUE&birthdate=D``)
  against the patients it was given to the one Patient matching every parameter, as a
  transaction SHALL (FHIR R4 http.html#trules); none answers 404 and several 412 (as HAPI
  does), and the transaction fails whole;
- takes only ``PUT Type/id`` entries (the id in the URL must be the resource's), files the
  whole transaction or nothing (references resolved), and answers a ``transaction-response``
  Bundle: ``201 Created`` for a new resource, ``200 OK`` for an update, keeping the version
  when the resource is identical (as HAPI does) and adding one when it changed; ``location``
  ``Type/id/_history/N``.

Faults on demand, to test the client's retries: :meth:`fail_next` (a status, with
``Retry-After``), :meth:`drop_next` (closes the connection without an answer),
:meth:`stall_next` (answers nothing for a while), :meth:`short_next` (a response missing its
last entry), and :meth:`unavailable_for` (503 for every bundle holding a resource id).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

BASE_PATH = "/fhir"
FHIR_JSON = "application/fhir+json"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"


@dataclass
class Stored:
    version: int
    resource: dict[str, Any]


@dataclass
class Seen:
    """One request as the server saw it."""

    headers: dict[str, str]
    ids: list[str]
    status: int = 0


@dataclass
class _Faults:
    fail: list[tuple[int, str]] = field(default_factory=list)
    drop: int = 0
    stall: list[float] = field(default_factory=list)
    short: int = 0
    unavailable: set[str] = field(default_factory=set)


def _issue(code: str, expression: str, diagnostics: str) -> dict[str, Any]:
    return {
        "severity": "error",
        "code": code,
        "expression": [expression],
        "diagnostics": diagnostics,
    }


def _outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def _fhirpath(loc: tuple[int | str, ...]) -> str:
    path = "Bundle"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validation_issues(error: ValidationError) -> list[dict[str, Any]]:
    codes = {"missing": "required", "extra_forbidden": "structure"}
    return [
        _issue(
            codes.get(e["type"], "value"),
            _fhirpath(e["loc"]),
            f"{e['msg']}: {json.dumps(e.get('input'), default=str)}",  # echoes, as servers do
        )
        for e in error.errors()
    ]


class FhirServer:
    """Start with ``with FhirServer() as server:``; post to :attr:`base_url`."""

    def __init__(
        self,
        *,
        token: str | None = None,
        tls: ssl.SSLContext | None = None,
        patients: Iterable[dict[str, str]] = (),
    ) -> None:
        """``patients``: the record's patients, each ``{"nhs_number", "birth_date"}``."""
        self.token = token
        #: Patient id -> (identifier "system|value", birth date)
        self.patients = {
            f"patient-{n}": (f"{NHS_NUMBER}|{p['nhs_number']}", p["birth_date"])
            for n, p in enumerate(patients, 1)
        }
        self.resources: dict[tuple[str, str], Stored] = {}
        self.seen: list[Seen] = []
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._httpd.server_address[1]}{BASE_PATH}"

    def __enter__(self) -> FhirServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def fail_next(self, n: int, status: int = 503, retry_after: str = "0") -> None:
        with self._lock:
            self._faults.fail += [(status, retry_after)] * n

    def drop_next(self, n: int) -> None:
        with self._lock:
            self._faults.drop += n

    def stall_next(self, seconds: float) -> None:
        with self._lock:
            self._faults.stall.append(seconds)

    def short_next(self, n: int) -> None:
        with self._lock:
            self._faults.short += n

    def unavailable_for(self, resource_id: str) -> None:
        with self._lock:
            self._faults.unavailable.add(resource_id)

    def versions(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {key: stored.version for key, stored in self.resources.items()}

    def statuses(self) -> Counter[int]:
        return Counter(seen.status for seen in self.seen)

    def transaction(self, posted: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The answer to a posted Bundle that passed validation: all or nothing."""
        if posted.get("type") != "transaction":
            issue = _issue("not-supported", "Bundle.type", "only transactions are taken")
            return 400, _outcome([issue])
        entries, keys = posted.get("entry") or [], set()
        for index, entry in enumerate(entries):
            resource, request = entry["resource"], entry.get("request") or {}
            key = (resource["resourceType"], resource.get("id", ""))
            where = f"Bundle.entry[{index}].request"
            if request.get("method") != "PUT" or request.get("url") != "/".join(key):
                return 400, _outcome([_issue("not-supported", where, "only PUT Type/id")])
            if key in keys:
                return 400, _outcome([_issue("duplicate", where, "the same resource twice")])
            keys.add(key)
        refused = self._resolve(entries)
        if refused is not None:
            return refused
        replies = []
        with self._lock:
            for entry in entries:
                resource = entry["resource"]
                key = (resource["resourceType"], resource["id"])
                held = self.resources.get(key)
                if held is None:
                    held, status = Stored(1, resource), "201 Created"
                else:
                    if held.resource != resource:
                        held = Stored(held.version + 1, resource)
                    status = "200 OK"
                self.resources[key] = held
                location = f"{key[0]}/{key[1]}/_history/{held.version}"
                replies.append(
                    {"response": {"status": status, "location": location,
                                  "etag": f'W/"{held.version}"'}}
                )  # fmt: skip
        answer = {"resourceType": "Bundle", "id": str(uuid.uuid4()),
                  "type": "transaction-response", "entry": replies}  # fmt: skip
        Bundle.model_validate(answer)  # the server's own answer is valid FHIR too
        return 200, answer

    def resolved(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``resource`` as this server files it (conditional references resolved)."""
        copy = json.loads(json.dumps(resource))
        assert self._resolve([{"resource": copy}]) is None
        return copy

    def _resolve(self, entries: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
        """Replace each conditional reference by the one Patient it matches; the refusal if
        one matches none or several."""
        for index, entry in enumerate(entries):
            where = f"Bundle.entry[{index}].resource"
            for path, reference in _references(entry["resource"], where):
                target, _, query = reference["reference"].partition("?")
                if not query:
                    continue
                found = self._matches(target, dict(urllib.parse.parse_qsl(query)))
                if len(found) != 1:
                    status, code = (404, "not-found") if not found else (412, "multiple-matches")
                    # like real servers, the diagnostics echo the search (patient data)
                    return status, _outcome([_issue(code, path, f"no single match: {reference}")])
                reference["reference"] = f"Patient/{found[0]}"
        return None

    def _matches(self, target: str, wanted: dict[str, str]) -> list[str]:
        if target != "Patient" or not wanted or set(wanted) - {"identifier", "birthdate"}:
            return []  # a search this server does not know matches nothing
        return [
            pid
            for pid, (identifier, born) in self.patients.items()
            if wanted.get("identifier", identifier) == identifier
            and wanted.get("birthdate", born) == born
        ]


def _references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Reference in a resource (a dict with ``reference``), with its FHIRPath."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node
        for key, value in node.items():
            yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, f"{path}[{index}]")


def _handler(server: FhirServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            seen = Seen(dict(self.headers.items()), [])
            server.seen.append(seen)
            try:
                posted = json.loads(body)
            except ValueError:
                posted = None
            if isinstance(posted, dict) and isinstance(posted.get("entry"), list):
                seen.ids = [str((e.get("resource") or {}).get("id")) for e in posted["entry"]]
            if self._fault(seen):
                return
            if self.path.rstrip("/") != BASE_PATH:
                self._answer(seen, 404, _outcome([_issue("not-found", "Bundle", self.path)]))
            elif server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                self._answer(seen, 401, _outcome([_issue("login", "Bundle", "no valid token")]))
            elif not self.headers.get("Content-Type", "").startswith(FHIR_JSON):
                self._answer(seen, 415, _outcome([_issue("not-supported", "Bundle", "type")]))
            elif not isinstance(posted, dict):
                self._answer(seen, 400, _outcome([_issue("structure", "Bundle", "not JSON")]))
            else:
                self._transaction(seen, posted)

        def _transaction(self, seen: Seen, posted: dict[str, Any]) -> None:
            try:
                Bundle.model_validate(posted)
            except ValidationError as exc:
                self._answer(seen, 400, _outcome(validation_issues(exc)))
                return
            status, answer = server.transaction(posted)
            with server._lock:
                short = server._faults.short > 0
                server._faults.short -= short
            if short:
                answer["entry"] = answer["entry"][:-1]
            self._answer(seen, status, answer)

        def _fault(self, seen: Seen) -> bool:
            """Play the next fault asked for, one a request; True if it took the answer's place."""
            with server._lock:
                faults = server._faults
                stall = faults.stall.pop(0) if faults.stall else None
                drop = stall is None and faults.drop > 0
                faults.drop -= drop
                failing = faults.fail.pop(0) if faults.fail and stall is None and not drop else None
                unavailable = bool(faults.unavailable.intersection(seen.ids))
            if stall is not None:
                time.sleep(stall)  # the client has given up by now
            if stall is not None or drop:
                self.close_connection = True  # no answer at all
                return True
            if failing is not None or unavailable:
                status, retry_after = failing or (503, "0")
                issue = _issue("transient", "Bundle", "try later")
                self._answer(seen, status, _outcome([issue]), {"Retry-After": retry_after})
                return True
            return False

        def _answer(
            self,
            seen: Seen,
            status: int,
            body: dict[str, Any],
            headers: dict[str, str] | None = None,
        ) -> None:
            seen.status = status
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", FHIR_JSON)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
