"""The dashboard's verbs: ``serve`` and ``staff``.

healthhub-fleet serve --fleet DIR --store STORE [--host H] [--port P] [--cert C --key K]
healthhub-fleet staff add --fleet DIR --user NAME --role ROLE [--site S ...] [--password-stdin]
healthhub-fleet staff list|disable|enable --fleet DIR [--user NAME] [--json]
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from healthhub.fleet.control_cli import fleet_layout
from healthhub.fleet.fhir_post import is_loopback
from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.staff_accounts import ROLES, StaffAccountError, StaffAccounts
from healthhub.fleet.store_db import store_target

log = logging.getLogger("healthhub.fleet.web")

SERVE_HELP = """\
Serve the practice dashboard: fleet status as last seen by the bridge, alerts (practice
staff acknowledge their site's), and utilisation reports. Staff log in with accounts made
by `healthhub-fleet staff add`; each sees only the sites of their account.

TLS: give --cert and --key (PEM) to serve HTTPS; cookies are then Secure and responses
carry HSTS. Without them the dashboard speaks plain HTTP and only on a loopback address
(127.0.0.1, ::1), for a TLS-terminating proxy on the same host or for trying it out:
passwords and session cookies would otherwise cross the network in clear text.
Runs until SIGTERM/Ctrl-C."""


def add_parsers(sub: Any) -> None:
    """``serve`` and ``staff``, added to ``healthhub-fleet``'s sub-commands."""
    serve = sub.add_parser(
        "serve",
        help="serve the practice dashboard (web) for staff",
        description=SERVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--fleet", type=Path, required=True, help="the fleet folder")
    serve.add_argument(
        "--store",
        type=store_target,
        required=True,
        help="the practice store: a SQLite file or a postgresql:// URL",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8443, help="port to listen on (8443)")
    serve.add_argument("--cert", type=Path, help="TLS certificate chain (PEM)")
    serve.add_argument("--key", type=Path, help="TLS private key (PEM)")
    serve.add_argument("--threads", type=int, default=8, help="request threads (8)")
    serve.add_argument("-v", "--verbose", action="store_true")

    staff = sub.add_parser("staff", help="staff accounts of the practice dashboard")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    add = staff_sub.add_parser(
        "add",
        help="add a staff account (asks for the password)",
        description="Roles: viewer (status and reports of their sites), practice_staff "
        "(also acknowledges their sites' alerts), fleet_admin (everything, every site; no "
        "--site). The password (at least 12 characters, not an obvious one) is asked twice "
        "on the terminal, or read as one line from standard input with --password-stdin.",
    )
    add.add_argument("--fleet", type=Path, required=True)
    add.add_argument("--user", required=True, help="the login name (lower case)")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--site", action="append", default=[], help="a site the account sees")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    listing = staff_sub.add_parser("list", help="the accounts (never their password hashes)")
    listing.add_argument("--fleet", type=Path, required=True)
    listing.add_argument("--json", action="store_true")
    for verb, what in (("disable", "log out and lock"), ("enable", "unlock")):
        change = staff_sub.add_parser(verb, help=f"{what} an account")
        change.add_argument("--fleet", type=Path, required=True)
        change.add_argument("--user", required=True)


def serve(args: argparse.Namespace) -> int:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from healthhub.fleet.web.app import DashboardError, create_app
    from healthhub.fleet.web.store_access import open_store

    layout = fleet_layout(args.fleet)
    tls = args.cert is not None or args.key is not None
    if tls and (args.cert is None or args.key is None):
        print("healthhub-fleet serve: give both --cert and --key", file=sys.stderr)
        return 2
    if not tls and not is_loopback(args.host):
        print(
            f"healthhub-fleet serve: plain HTTP only on a loopback address, not {args.host}: "
            "give --cert and --key to serve HTTPS",
            file=sys.stderr,
        )
        return 2
    open_store(args.store).close()  # a missing store is an error now, not at a login
    if not StaffAccounts(layout).all():
        log.warning("no staff accounts yet: add one with `healthhub-fleet staff add`")
    app = create_app(layout, args.store, secure_cookies=tls)
    server = wsgi.Server(
        (args.host, args.port), app, numthreads=args.threads, server_name="healthhub-dashboard"
    )
    if tls:
        try:
            adapter = BuiltinSSLAdapter(str(args.cert), str(args.key))
        except (OSError, ssl.SSLError) as exc:
            raise DashboardError(f"TLS certificate or key unusable: {exc}") from None
        adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
        server.ssl_adapter = adapter
    else:
        log.warning(
            "serving plain HTTP on %s: only for a TLS proxy on this host or a trial", args.host
        )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.prepare()  # binds: an address in use fails here, before we say we listen
    thread = threading.Thread(target=server.serve, name="dashboard", daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    log.info("dashboard on %s://%s:%d/", scheme, args.host, server.bind_addr[1])
    stop.wait()
    server.stop()
    thread.join(10)
    app.extensions["healthhub"].store.close()
    log.info("dashboard stopped")
    return 0


def staff(args: argparse.Namespace) -> int:
    layout = fleet_layout(args.fleet)
    accounts = StaffAccounts(layout)
    if args.staff_command == "list":
        found = [a.public() for a in sorted(accounts.all().values(), key=lambda a: a.username)]
        if args.json:
            print(json.dumps(found, indent=2))
        for shown in [] if args.json else found:
            state = "disabled" if shown["disabled"] else "active"
            sites = ",".join(shown["sites"]) or "all sites"
            print(f"{shown['username']:<20}{shown['role']:<16}{state:<10}{sites}")
        return 0
    if args.staff_command in ("disable", "enable"):
        changed = accounts.set_disabled(args.user, args.staff_command == "disable")
        print(json.dumps(changed.public()))
        return 0
    account = accounts.add(args.user, args.role, args.site, _password(args.password_stdin))
    print(json.dumps(account.public()))
    unknown = sorted(set(account.sites) - set(DeviceRegistry(layout).devices().values()))
    if unknown:
        print(f"note: no unit is enrolled at {', '.join(unknown)} yet", file=sys.stderr)
    return 0


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise StaffAccountError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password for the new account: ")
    if getpass.getpass("The same password again: ") != first:
        raise StaffAccountError("the two passwords differ; nothing was changed")
    return first


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"serve": serve, "staff": staff}
