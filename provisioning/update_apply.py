"""``healthhub-provision update-apply``: install the release the agent asked for, beside the
running one, switch to it, check it, and switch back by itself if it is not healthy.

Run as root by ``healthhub-update.service`` when ``healthhub-update.path`` sees
``/var/lib/healthhub/software/request.json`` (the agent, which can write nothing else,
writes it once a verified wheel set is in ``software/ready/{version}``). The agent's word
is not taken for anything: the manifest's signature is checked again with
``/etc/healthhub/signing.pub``, its scope against ``/etc/healthhub/device.yaml``, and every
wheel is copied into a root-only folder while it is hashed, so the bytes pip installs are
the bytes the fleet signed. In order:

1. refuse (``rejected``, nothing touched in ``/opt``): a request that does not match its
   manifest, a bad signature, another unit's or site's manifest, a manifest this unit
   already rolled back or refused, an older version unless the manifest allows a
   downgrade, a wheel that is missing or does not match its sha256, a release that does not
   build;
2. build ``/opt/healthhub/releases/{version}`` (:mod:`~.venv_release`: hidden until whole);
3. note the attempt in ``/opt/healthhub/update-state.json``, switch ``/opt/healthhub/venv``
   (one rename), restart the agent and the UI, and wait up to the manifest's
   ``health.deadline_s`` for the new agent to be healthy (:mod:`~.update_health`);
4. healthy: keep the previous release for one more rollback, delete older ones; not
   healthy: switch back, restart, remember the manifest as failed (never tried again; a new
   push is a new manifest) and delete the failed release.

``result.json`` in the agent's software folder says what happened at each step (installing,
checking, then healthy, rolled-back or rejected with the reason); the agent reports it on
``software/reported``, the restarted one at its start. Each step is atomic and the attempt
is written down before the link moves, so a power cut at any point leaves the old or the
new release in use, never a half-built one, and the next run (the request is removed only
once the outcome is written) finishes the attempt: it checks the switched release again,
or completes a rollback. The outbox is never opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from healthhub.protocol import canonical
from healthhub.protocol import software as sw
from healthhub.protocol.clock import now_utc, parse_utc
from healthhub.protocol.errors import KeyFileError, MalformedMessage
from healthhub.protocol.files import write_atomic
from healthhub.protocol.keys import read_key
from healthhub.protocol.software import SoftwareManifest, SoftwareRejected
from healthhub.provisioning import venv_release
from healthhub.provisioning.errors import ProvisioningError
from healthhub.provisioning.target_root import TargetRoot
from healthhub.provisioning.update_health import HealthCheck

log = logging.getLogger(__name__)

OPT: Final = "/opt/healthhub"
STATE_FILE: Final = f"{OPT}/update-state.json"
SIGNING_PUB: Final = "/etc/healthhub/signing.pub"
DEVICE_YAML: Final = "/etc/healthhub/device.yaml"
STATE_DIR: Final = "/var/lib/healthhub"
UNITS: Final = ("healthhub-agent.service", "healthhub-kiosk.service")
#: A unit that hit its start limit (a crash-looping release) is cleared before the restart.
DEFAULT_RESTART: Final = (
    ("systemctl", "reset-failed", *UNITS),
    ("systemctl", "restart", *UNITS),
)
RESTART_TIMEOUT_S: Final = 120
MAX_HISTORY: Final = 20
_COPY_BYTES = 1024 * 1024


class UpdateRefused(ProvisioningError):
    """The request cannot be installed; nothing in ``/opt`` was changed."""


@dataclass(frozen=True)
class Outcome:
    state: str  # one of software.FINAL_RESULTS
    version: str
    manifest: str
    detail: str


@dataclass
class Updater:
    target: TargetRoot
    state_dir: str = STATE_DIR
    restart: Sequence[Sequence[str]] = DEFAULT_RESTART
    python: str = "/usr/bin/python3"
    health: HealthCheck | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.software = self.target.path(self.state_dir) / sw.SOFTWARE_DIR
        if self.health is None:
            self.health = HealthCheck(self.software / sw.HEALTH_FILE)

    # -- the run ---------------------------------------------------------------------

    def run(self) -> Outcome | None:
        """Handle the pending request (or finish an interrupted attempt); None: none."""
        with self._locked(), self._pinned_software():
            state = self._state()
            attempt = state.get("attempt")
            if isinstance(attempt, dict):
                return self._resume(state, attempt)
            request = sw.read_small_json(self.software / sw.REQUEST_FILE)
            if request is None:
                if (self.software / sw.REQUEST_FILE).exists():  # unreadable: never again
                    self._done_with_request(None)
                    self.notes.append("request.json is not a request: removed")
                return None
            digest = str(request.get("manifest", ""))[:64]
            version = str(request.get("version", ""))[:40]
            try:
                manifest = self._verified(request)
            except UpdateRefused as exc:
                return self._finish(Outcome(sw.REJECTED, version, digest, str(exc)))
            return self._install(state, manifest, digest)

    def _install(self, state: dict[str, Any], manifest: SoftwareManifest, digest: str) -> Outcome:
        version = manifest.version
        failed = (state.get("failed") or {}).get(digest)
        if isinstance(failed, dict):
            detail = f"not tried again: {failed.get('detail', '')}"
            return self._finish(Outcome(str(failed.get("state")), version, digest, detail))
        current = venv_release.current(self.target)
        if current == version:
            return self._finish(Outcome(sw.HEALTHY, version, digest, f"running {version}"))
        reason = _refusal(state, manifest, current)
        if reason is not None:
            return self._finish(Outcome(sw.REJECTED, version, digest, reason))
        assert current is not None  # _refusal refuses when no release is in use
        self._result(sw.INSTALLING, version, digest, f"building beside {current}")
        try:
            self._build(manifest)
        except (UpdateRefused, venv_release.ReleaseError, OSError) as exc:
            self._prune(keep=_release_names(self.target))  # what the failed build left
            reason = str(exc) if not isinstance(exc, OSError) else f"cannot build: {exc}"
            return self._finish(Outcome(sw.REJECTED, version, digest, reason))
        attempt = {
            "manifest": digest,
            "version": version,
            "previous": current,
            "deadline_s": manifest.deadline_s,
            "issued_at": manifest.issued_at,
            "phase": "switching",
            "started_at": now_utc(),
        }
        self._save(state | {"attempt": attempt})
        return self._resume(state | {"attempt": attempt}, attempt)

    def _resume(self, state: dict[str, Any], attempt: dict[str, Any]) -> Outcome:
        """Switch, restart and check (again, after a power cut), or finish a rollback."""
        version, previous = str(attempt["version"]), str(attempt["previous"])
        digest, phase = str(attempt["manifest"]), attempt.get("phase")
        if phase != "rolling-back":
            try:
                venv_release.switch(self.target, version)
                self._save(state | {"attempt": attempt | {"phase": "checking"}})
                self._result(sw.CHECKING, version, digest, f"switched from {previous}")
                self._remove(self.software / sw.HEALTH_FILE)
                self._restart()
                assert self.health is not None
                healthy, detail = self.health.wait(version, float(attempt.get("deadline_s", 300)))
            except Exception as exc:  # never leave a switched release in use unchecked
                log.exception("the check of release %s could not run", version)
                healthy, detail = False, f"the check could not run: {type(exc).__name__}: {exc}"
            if healthy:
                log.info("release %s is healthy: %s", version, detail)
                self._save(
                    state
                    | {
                        "current": version,
                        "previous": previous,
                        "issued_at": attempt.get("issued_at"),
                        "attempt": None,
                        "history": _history(state, version, sw.HEALTHY, detail),
                    }
                )
                self._prune(keep={version, previous})
                return self._finish(Outcome(sw.HEALTHY, version, digest, detail))
            log.warning("release %s is not healthy, rolling back to %s: %s", version, previous,
                        detail)  # fmt: skip
            attempt = attempt | {"phase": "rolling-back", "reason": detail}
            self._save(state | {"attempt": attempt})
        reason = f"rolled back to {previous}: {attempt.get('reason', 'interrupted')}"
        venv_release.switch(self.target, previous)
        failed = dict(state.get("failed") or {})
        failed[digest] = {"version": version, "state": sw.ROLLED_BACK, "detail": reason,
                          "at": now_utc()}  # fmt: skip
        self._save(
            state
            | {
                "current": previous,
                "attempt": None,
                "failed": dict(list(failed.items())[-MAX_HISTORY:]),
                "history": _history(state, version, sw.ROLLED_BACK, reason),
            }
        )
        self._prune(keep={previous, str(state.get("previous") or previous)})
        outcome = self._finish(Outcome(sw.ROLLED_BACK, version, digest, reason))
        self._restart()  # after the result: the agent that comes back reports it at its start
        return outcome

    # -- checks ------------------------------------------------------------------------

    def _verified(self, request: dict[str, Any]) -> SoftwareManifest:
        """The signed manifest the request names, checked as the unit's own."""
        version, digest = request.get("version"), request.get("manifest")
        try:
            sw.parse_version(version)
        except SoftwareRejected as exc:
            raise UpdateRefused(f"request: {exc}") from None
        assert isinstance(version, str)
        path = self.software / sw.READY_DIR / version / sw.MANIFEST_FILE
        payload = sw.read_plain(path, sw.MAX_MANIFEST_BYTES)
        if payload is None:
            raise UpdateRefused(f"no manifest for {version} in {sw.READY_DIR}/{version}")
        if sw.digest(payload) != digest:
            raise UpdateRefused("the request does not name the manifest beside the wheels")
        try:
            verify_key = read_key(self.target.path(SIGNING_PUB))
        except KeyFileError as exc:
            raise UpdateRefused(f"cannot check the signature: {exc}") from None
        try:
            manifest = sw.decode(payload, verify_key, expected=None)
        except SoftwareRejected as exc:
            raise UpdateRefused(str(exc)) from None
        if manifest.version != version:
            raise UpdateRefused(f"the manifest is for {manifest.version}, not {version}")
        device, site = self._identity()
        scope = manifest.scope
        if (scope.level, scope.target) not in (("fleet", None), ("site", site), ("device", device)):
            raise UpdateRefused(f"the manifest is for {scope}, not this unit ({device}, {site})")
        return manifest

    def _identity(self) -> tuple[str, str]:
        try:
            config = yaml.safe_load(self.target.path(DEVICE_YAML).read_text(encoding="utf-8"))
            return str(config["device"]["id"]), str(config["device"]["site"])
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise UpdateRefused(f"cannot read this unit's id from {DEVICE_YAML}: {exc}") from None

    def _build(self, manifest: SoftwareManifest) -> None:
        """Check every wheel where the agent left it (a bad one touches nothing in ``/opt``),
        then copy each into a root-only folder hashing it again (it is another user's file:
        the bytes built are the bytes checked) and build from there."""
        ready = self.software / sw.READY_DIR / manifest.version
        for file in manifest.files:
            _copy_checked(ready / file.name, None, file.sha256, file.size)
        releases = venv_release.RELEASES
        incoming_at = f"{releases}/.incoming-{manifest.version}"
        self.target.parents(incoming_at)
        incoming = self.target.path(incoming_at)
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=0o700)
        try:
            for file in manifest.files:
                _copy_checked(ready / file.name, incoming / file.name, file.sha256, file.size)
            built = venv_release.build(self.target, incoming, python=self.python)
            if built != manifest.version:
                raise UpdateRefused(f"the wheel set built {built}, not {manifest.version}")
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    # -- files ---------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        path = self.target.path(STATE_FILE)
        try:
            state = canonical.loads(path.read_bytes(), what=STATE_FILE)
        except FileNotFoundError:
            return {}
        except (OSError, MalformedMessage) as exc:
            raise ProvisioningError(
                f"{STATE_FILE} cannot be read ({exc}): fix or move it"
            ) from None
        if not isinstance(state, dict):
            raise ProvisioningError(f"{STATE_FILE} is not a mapping: fix or move it")
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.target.file(STATE_FILE, canonical.dumps(state), mode=0o644)

    def _result(self, state: str, version: str, digest: str, detail: str) -> None:
        result = {"state": state, "version": version, "manifest": digest, "detail": detail,
                  "at": now_utc()}  # fmt: skip
        log.info("update %s: %s %s", version, state, detail)
        try:  # what the agent reports; the update itself must not stop on it (a full disk)
            write_atomic(self.software / sw.RESULT_FILE, canonical.dumps(result), mode=0o644)
        except OSError as exc:
            log.warning("result.json not written (%s): the agent reports the update later", exc)

    def _finish(self, outcome: Outcome) -> Outcome:
        self._result(outcome.state, outcome.version, outcome.manifest, outcome.detail)
        self._done_with_request(outcome.manifest)
        return outcome

    def _done_with_request(self, digest: str | None) -> None:
        """Remove the request if it is still the one handled (the agent may have written a
        newer one meanwhile: that one stays, and the path unit starts the updater again)."""
        path = self.software / sw.REQUEST_FILE
        request = sw.read_small_json(path)
        if request is None or request.get("manifest") == digest:
            self._remove(path)

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:  # a folder in its place, a failing card: the update goes on
            log.warning("cannot remove %s: %s", path.name, exc)

    def _prune(self, keep: set[str]) -> None:
        """Delete every release but ``keep`` (and what interrupted builds left)."""
        releases = self.target.path(venv_release.RELEASES)
        for entry in os.scandir(releases):
            if entry.name in keep:
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            self.target.changes.append(f"removed {venv_release.RELEASES}/{entry.name}")

    def _restart(self) -> None:
        for argv in self.restart:
            try:
                done = subprocess.run(
                    list(argv), capture_output=True, text=True, timeout=RESTART_TIMEOUT_S,
                    check=False,
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                self.notes.append(f"{' '.join(argv)}: {exc}")
                continue
            if done.returncode != 0:  # a release that fails to start: the check decides
                self.notes.append(f"{' '.join(argv)} exited {done.returncode}: "
                                  f"{done.stderr.strip()[-300:]}")  # fmt: skip

    @contextlib.contextmanager
    def _pinned_software(self) -> Iterator[None]:
        """Work in the agent's software folder through a descriptor opened without following
        a link: the agent owns ``/var/lib/healthhub`` and could swap the folder for a link
        to another place between a check and a write, where root would then write."""
        real = self.software
        try:
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except FileNotFoundError:
            yield  # no request can be there
            return
        except OSError as exc:  # a link (ELOOP) or not a folder
            raise ProvisioningError(f"{real} is not a plain folder: {exc}") from None
        pinned = Path(f"/proc/self/fd/{fd}")
        health = self.health
        try:
            self.software = pinned
            if health is not None and health.path == real / sw.HEALTH_FILE:
                health.path = pinned / sw.HEALTH_FILE
            yield
        finally:
            self.software = real
            if health is not None and health.path == pinned / sw.HEALTH_FILE:
                health.path = real / sw.HEALTH_FILE
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One updater at a time: a lock on the ``/opt/healthhub`` folder itself (no file is
        made, so a refused request leaves ``/opt`` exactly as it was)."""
        self.target.parents(f"{OPT}/releases")
        fd = os.open(self.target.path(OPT), os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ProvisioningError("another update-apply is running") from None
            yield
        finally:
            os.close(fd)


def _release_names(target: TargetRoot) -> set[str]:
    """The whole releases (hidden names are builds in progress or left by one)."""
    releases = target.path(venv_release.RELEASES)
    return {entry.name for entry in os.scandir(releases) if not entry.name.startswith(".")}


def _refusal(state: dict[str, Any], manifest: SoftwareManifest, current: str | None) -> str | None:
    """Why this verified manifest is not installed here, if it is not."""
    if current is None:
        return "no release in use to come back to: install one with `install --wheels`"
    if sw.compare_versions(manifest.version, current) < 0 and not manifest.allow_downgrade:
        return f"version {manifest.version} is older than the running {current} (no downgrade)"
    last = state.get("issued_at")
    if isinstance(last, str) and parse_utc(manifest.issued_at) < parse_utc(last):
        # An old signed manifest sent again (one that allowed a downgrade, say) must not take
        # the unit back past a release installed since.
        return f"the manifest was issued before the one installed last ({last})"
    return None


def _history(state: dict[str, Any], version: str, outcome: str, detail: str) -> list[Any]:
    history = list(state.get("history") or [])
    history.append({"version": version, "outcome": outcome, "detail": detail, "at": now_utc()})
    return history[-MAX_HISTORY:]


def _copy_checked(source: Path, destination: Path | None, sha256: str, size: int) -> None:
    """Hash ``source`` (another user's file), copying it to ``destination`` if given;
    :class:`UpdateRefused` unless the bytes read are the manifest's."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise UpdateRefused(f"wheel {source.name} is missing ({exc.strerror})") from None
    whole = hashlib.sha256()
    copied = 0
    with os.fdopen(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise UpdateRefused(f"wheel {source.name} is not a plain file")
        with contextlib.ExitStack() as stack:
            writer = None if destination is None else stack.enter_context(open(destination, "xb"))
            while piece := reader.read(_COPY_BYTES):
                copied += len(piece)
                if copied > size:
                    break
                whole.update(piece)
                if writer is not None:
                    writer.write(piece)
            if writer is not None:
                writer.flush()
                os.fsync(writer.fileno())
    if copied != size or whole.hexdigest() != sha256:
        raise UpdateRefused(f"wheel {source.name} does not match its sha256 in the manifest")
