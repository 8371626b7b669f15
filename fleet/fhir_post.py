"""Filing the FHIR export in the practice's FHIR server: ``healthhub-fleet fhir --post``.

Each transaction Bundle of :mod:`healthhub.fleet.fhir_export` is POSTed to the server's base
URL as a transaction of its own (FHIR R4 RESTful API, "transaction"): the server files all of
its entries or none, and a bundle that fails never stops the others. Every entry is a PUT to
an id made from the envelope id, so posting again, after a failure or by mistake, creates
nothing new.

- HTTPS, with the certificate and host name checked, always; ``--ca FILE`` trusts a private CA
  instead of the system's. Plain ``http://`` only to this machine (loopback) unless
  ``--insecure-http``: patient data never crosses a network in clear by accident. Redirects are
  refused (one would take the data and the token somewhere the command line did not name);
  proxies from the environment are used for other machines, never for loopback.
- The bearer token is read from a file, never from the command line (``ps`` shows that to
  every user), and is never logged nor reported.
- Retries (tenacity: exponential backoff with jitter) only where another try can help: no
  answer (refused, dropped, timed out) and HTTP 408, 429, 500, 502, 503, 504, waiting at least
  what ``Retry-After`` asks. Bounded by ``max_attempts`` and by ``max_wait_s``, the seconds
  waited between tries of one bundle: a wait that would pass it ends the tries at once. Any
  other 3xx/4xx is final: the bundle is rejected. A certificate that does not verify is final
  too (another try meets the same certificate).
- What the server answered is read by :mod:`healthhub.fleet.fhir_answers`: a bundle is
  accepted only if every entry was answered at its own id, and nothing a server says that
  could hold patient data (``diagnostics``) reaches the report or the log.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from healthhub.fleet.fhir_answers import (
    BundleResult,
    PostReport,
    outcome_issues,
    read_transaction_response,
    retry_after_s,
)
from healthhub.protocol.errors import HealthHubError

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 10
#: A transaction-response of 500 entries with ``return=minimal`` is well under 1 MiB.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_TOKEN = re.compile(r"[\x21-\x7e]{1,8192}")


class FhirPostError(HealthHubError):
    """Posting cannot start: the CA file or the token file cannot be used."""


class TargetRefused(FhirPostError):
    """The base URL is refused: not https (or http to loopback), or it carries credentials."""


@dataclass(frozen=True)
class RetryLimits:
    max_attempts: int = 5
    max_wait_s: float = 60.0
    backoff_s: float = 1.0
    timeout_s: float = 60.0


class _Retryable(Exception):
    def __init__(self, reason: str, http_status: int | None = None, retry_after: float = 0.0):
        super().__init__(reason)
        self.reason, self.http_status, self.retry_after = reason, http_status, retry_after


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(base_url: str, *, insecure_http: bool = False) -> str:
    """The base URL to post to; :class:`TargetRefused` unless it is safe to send patient data."""
    try:
        parts = urlsplit(base_url)
        host, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError:
        raise TargetRefused("--post: not a URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise TargetRefused("--post: give the FHIR server's base URL, https://HOST/PATH")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("--post: credentials in the URL are refused; use --token-file")
    if parts.query or parts.fragment:
        raise TargetRefused("--post: a FHIR base URL has no query or fragment")
    if parts.scheme == "http" and not insecure_http and not is_loopback(host):
        raise TargetRefused(
            f"--post: plain http:// to {host} would send patient data across the network in "
            "clear; use https://, or --insecure-http only over a link protected another way"
        )
    return base_url.rstrip("/")


def read_token(path: Path) -> str:
    """The bearer token in ``path`` (its value never appears in a message)."""
    try:
        raw, mode = path.read_bytes()[:16384], path.stat().st_mode
    except OSError as exc:
        raise FhirPostError(f"--token-file {path}: cannot read it ({exc.strerror})") from None
    token = raw.decode("ascii", errors="replace").strip()
    if not _TOKEN.fullmatch(token):
        raise FhirPostError(f"--token-file {path}: expected one token, printable ASCII, no spaces")
    if mode & 0o077:
        log.warning("--token-file %s can be read by other users: chmod 600 it", path)
    return token


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise FhirPostError(f"--ca {ca_file}: not a readable PEM CA certificate ({exc})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx: a rejection, not retried


class BundlePoster:
    """Posts transaction Bundles to one FHIR server (the module docstring says how)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path | None = None,
        token: str | None = None,
        insecure_http: bool = False,
        limits: RetryLimits | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = check_target(base_url, insecure_http=insecure_http)
        self.limits = limits or RetryLimits()
        self._sleep = sleep
        self._token = token
        loopback = is_loopback(urlsplit(self.base_url).hostname or "")
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({} if loopback else None),
            urllib.request.HTTPSHandler(context=tls_context(ca_file)),
            _RefuseRedirects(),
        )
        self._backoff = wait_exponential_jitter(
            multiplier=self.limits.backoff_s,
            max=max(self.limits.backoff_s, 30.0),
            jitter=self.limits.backoff_s,
        )

    def post_all(self, bundles: Sequence[dict[str, Any]]) -> PostReport:
        """Each bundle in turn, whatever became of the ones before."""
        results = [self.post(number, b) for number, b in enumerate(bundles, start=1)]
        return PostReport(self.base_url, results)

    def post(self, number: int, bundle: dict[str, Any]) -> BundleResult:
        result = BundleResult(number, entries=len(bundle.get("entry", [])))
        body = json.dumps(bundle).encode()
        retrying = Retrying(
            sleep=self._sleep,
            wait=self._wait,
            stop=self._stop,
            retry=retry_if_exception_type(_Retryable),
            before_sleep=lambda state: self._log_retry(number, state),
            reraise=True,
        )
        try:
            retrying(self._attempt, bundle, body, result)
        except _Retryable as exc:
            result.status, result.http_status = "failed-after-retries", exc.http_status
            bound = (
                "--max-attempts" if result.attempts >= self.limits.max_attempts else "--max-wait"
            )
            result.reason = f"{exc.reason}; stopped at {bound}"
        log.info(
            "bundle %d: %s after %d attempt(s): %d created, %d updated of %d%s",
            number, result.status, result.attempts, result.created, result.updated,
            result.entries, f" ({result.reason})" if result.reason else "",
        )  # fmt: skip
        return result

    def _attempt(self, bundle: dict[str, Any], body: bytes, result: BundleResult) -> None:
        result.attempts += 1
        # S310: check_target allowed only https (or http to loopback) for base_url
        request = urllib.request.Request(self.base_url, data=body, method="POST")  # noqa: S310
        request.add_header("Content-Type", FHIR_JSON)
        request.add_header("Accept", FHIR_JSON)
        request.add_header("Prefer", "return=minimal")
        if self._token is not None:
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with self._opener.open(request, timeout=self.limits.timeout_s) as response:
                status, answer = response.status, response.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            result.http_status, answer = exc.code, _body(exc)
            if exc.code in RETRY_STATUSES:
                wait = retry_after_s(exc.headers.get("Retry-After"))
                raise _Retryable(f"HTTP {exc.code}", exc.code, wait) from None
            result.status, result.reason = "rejected", f"HTTP {exc.code}{_hint(exc.code)}"
            result.issues = outcome_issues(answer)
            return
        except (OSError, http.client.HTTPException) as exc:
            cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            if isinstance(cause, ssl.SSLCertVerificationError):
                result.reason = f"TLS: {cause.verify_message}; for a private CA give --ca FILE"
                return
            raise _Retryable(f"no answer: {_describe(cause)}") from None
        result.http_status = status
        if len(answer) > MAX_ANSWER_BYTES:
            result.reason = f"an answer of more than {MAX_ANSWER_BYTES} bytes"
            return
        read_transaction_response(bundle, answer, result)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = error.retry_after if isinstance(error, _Retryable) else 0.0
        return max(self._backoff(state), asked)

    def _stop(self, state: RetryCallState) -> bool:
        limits = self.limits
        waited = state.idle_for + state.upcoming_sleep
        return state.attempt_number >= limits.max_attempts or waited > limits.max_wait_s

    def _log_retry(self, number: int, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "bundle %d: %s (attempt %d of %d); trying again in %.2f s",
            number, error, state.attempt_number, self.limits.max_attempts,
            state.upcoming_sleep,
        )  # fmt: skip


def _hint(code: int) -> str:
    if 300 <= code < 400:
        return ": redirects are refused, give the server's own base URL"
    if code in (401, 403):
        return ": check --token-file"
    if code in (404, 412):
        # a transaction's conditional reference matched no Patient, or several
        return ": no single Patient in the record has the NHS number and date of birth given"
    return ""


def _body(error: urllib.error.HTTPError) -> bytes:
    try:
        return error.read(MAX_ANSWER_BYTES)
    except (OSError, http.client.HTTPException):
        return b""


def _describe(error: BaseException | str) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"give a whole number from {low} to {high}")
        return value

    return parse


def _seconds(low: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= 3600:
            raise argparse.ArgumentTypeError(f"give seconds from {low:g} to 3600")
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--post`` and what goes with it, on the ``fhir`` sub-command."""
    parser.add_argument(
        "--max-entries", type=_count(1, 5000), default=500, metavar="N",
        help="entries per Bundle (default 500); a server files a transaction whole or not at all",
    )  # fmt: skip
    group = parser.add_argument_group("posting to a FHIR server")
    group.add_argument(
        "--post", metavar="BASE_URL",
        help="POST each Bundle as a transaction to this FHIR R4 base (https://; http:// only to "
        "this machine). Bundles are independent transactions: one rejected or failing does "
        "not stop the others. Prints a JSON report; exits 1 unless every bundle was accepted",
    )  # fmt: skip
    group.add_argument(
        "--ca", type=Path, metavar="FILE", help="trust this CA (PEM), not the system's"
    )
    group.add_argument(
        "--token-file", type=Path, metavar="FILE",
        help="a file holding a bearer token, sent as Authorization (never on the command line)",
    )  # fmt: skip
    group.add_argument(
        "--insecure-http", action="store_true",
        help="allow http:// to another machine: only over a link protected another way",
    )  # fmt: skip
    group.add_argument("--report", type=Path, metavar="FILE", help="also write the report here")
    group.add_argument(
        "--max-attempts", type=_count(1, MAX_ATTEMPTS), default=5, metavar="N",
        help=f"tries per bundle, 1 to {MAX_ATTEMPTS} (default 5)",
    )  # fmt: skip
    group.add_argument(
        "--max-wait", type=_seconds(0), default=60.0, metavar="S",
        help="seconds waited between the tries of one bundle, in all (default 60)",
    )  # fmt: skip
    group.add_argument(
        "--backoff", type=_seconds(0.001), default=1.0, metavar="S",
        help="the first wait between tries, then doubling, with jitter (default 1)",
    )  # fmt: skip
    group.add_argument("--timeout", type=_seconds(0.01), default=60.0, metavar="S",
                       help="seconds to wait for each answer (default 60)")  # fmt: skip


def poster_from_args(args: argparse.Namespace) -> BundlePoster:
    """The poster ``--post`` asks for: URL, CA and token checked before anything is exported."""
    token = None if args.token_file is None else read_token(args.token_file)
    limits = RetryLimits(args.max_attempts, args.max_wait, args.backoff, args.timeout)
    return BundlePoster(
        args.post, ca_file=args.ca, token=token, insecure_http=args.insecure_http, limits=limits
    )
