"""``healthhub-fleet serve`` as a process: HTTPS with --cert/--key, refusals of unsafe setups."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Service, free_port, run_cli, script, wait_until

from tests.fleet.web.dashboard_practice import Practice


@pytest.fixture
def tls_dashboard(practice: Practice, tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    """The dashboard over TLS with a certificate of the fleet's CA (valid for 127.0.0.1)."""
    layout, port = practice.layout, free_port()
    service = Service(
        "dashboard-tls",
        [script("healthhub-fleet"), "serve", "--fleet", str(layout.root),
         "--store", str(practice.store_path), "--port", str(port),
         "--cert", str(layout.server_cert), "--key", str(layout.server_key)],
        tmp_path,
    ).start()  # fmt: skip
    trust = ssl.create_default_context(cafile=str(layout.ca_cert))

    def answers() -> bool:
        assert service.running, f"serve exited:\n{service.log()}"
        try:
            get(port, trust, "/login")
        except OSError:
            return False
        return True

    wait_until(answers, 30, "the dashboard to answer over TLS")
    yield port, trust
    assert service.stop() == 0, service.log()
    assert "plain HTTP" not in service.log()


def get(port: int, context: ssl.SSLContext, path: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_over_tls_cookies_are_secure_and_hsts_is_sent(
    tls_dashboard: tuple[int, ssl.SSLContext],
) -> None:
    port, trust = tls_dashboard
    response = get(port, trust, "/login")
    assert response.status == 200
    assert "max-age=" in (response.getheader("Strict-Transport-Security") or "")
    cookie = response.getheader("Set-Cookie") or ""
    assert cookie.startswith("__Host-healthhub=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    untrusted = ssl.create_default_context()  # the system's CAs do not know the fleet's
    with pytest.raises(ssl.SSLCertVerificationError):
        get(port, untrusted, "/login")


@pytest.mark.parametrize(
    ("extra", "code", "says"),
    [
        (["--host", "0.0.0.0"], 2, "plain HTTP only on a loopback address"),
        (["--host", "192.168.1.20"], 2, "plain HTTP only on a loopback address"),
        (["--cert", "/nonexistent.crt"], 2, "give both --cert and --key"),
        (["--cert", "/nonexistent.crt", "--key", "/nonexistent.key"], 1, "TLS certificate or key"),
    ],
)
def test_unsafe_or_broken_setups_are_refused(
    practice: Practice, extra: list[str], code: int, says: str
) -> None:
    result = run_cli(
        "healthhub-fleet", "serve", "--fleet", str(practice.layout.root),
        "--store", str(practice.store_path), "--port", str(free_port()), *extra, check=False,
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert says in result.stderr


def test_a_missing_store_is_an_error_at_start(practice: Practice, tmp_path: Path) -> None:
    result = run_cli(
        "healthhub-fleet", "serve", "--fleet", str(practice.layout.root),
        "--store", str(tmp_path / "nowhere.sqlite"), "--port", str(free_port()), check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "not found" in result.stderr
    assert not (tmp_path / "nowhere.sqlite").exists()
