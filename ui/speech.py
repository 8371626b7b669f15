"""Read screens aloud with espeak-ng, without ever blocking the UI.

Why: many kiosk patients read with difficulty, or not in English; a "read aloud" button
on every screen (WCAG 2.2 guideline 3.1 Readable; NHS accessibility guidance) lets them
hear the instructions in their language. espeak-ng is small, offline and has voices for
all eight UI languages (``espeak-ng --voices``: en-gb, pl, ro, pa, ur, pt, es, bn).

Rules this module keeps:

- ``speak`` returns at once: it starts espeak-ng with ``subprocess.Popen`` and a daemon
  thread feeds it the text and reaps it, so the Kivy thread never waits on a pipe or a
  process. A new ``speak`` or ``stop`` terminates the utterance still running; the
  thread that waits for it reaps it.
- The text goes on stdin (``--stdin``), NEVER on the command line: every local user can
  read any process's command line (``ps``, ``/proc/<pid>/cmdline``), and screens can hold
  a patient's readings and details. For the same reason nothing spoken is logged; log
  lines name only the language and the outcome.
- ``output_dir`` (headless units, tests) writes each utterance to a WAV file there
  (``-w``) instead of playing it.
- A missing espeak-ng is a typed error (:class:`SpeechUnavailable`) that names the
  install step; :meth:`Speaker.available` lets a screen hide the button instead.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import subprocess
import threading
from pathlib import Path
from typing import IO, Final

log = logging.getLogger(__name__)

INSTALL_HINT: Final = "run `make setup` (apt-get install espeak-ng)"

#: UI language code -> espeak-ng voice. Portuguese is European Portuguese (``pt`` is
#: pt-PT in espeak-ng); English is British English.
VOICES: Final[dict[str, str]] = {
    "en": "en-gb",
    "pl": "pl",
    "ro": "ro",
    "pa": "pa",
    "ur": "ur",
    "pt": "pt",
    "es": "es",
    "bn": "bn",
}
DEFAULT_VOICE: Final = VOICES["en"]

#: espeak-ng accepts 80..450 words per minute; slower is kinder to most listeners.
MIN_RATE_WPM: Final = 80
MAX_RATE_WPM: Final = 450


class SpeechUnavailable(RuntimeError):
    """espeak-ng cannot be run."""


def voice_for(language: str) -> str:
    """The espeak-ng voice for a UI language code; unknown codes get English."""
    return VOICES.get(language.split("-", maxsplit=1)[0].lower(), DEFAULT_VOICE)


class Speaker:
    """One voice for the kiosk: at most one utterance at a time, never blocking the caller.

    Call ``speak`` and ``stop`` from one thread (the UI thread); ``speaking`` may be read
    from any thread.
    """

    def __init__(
        self,
        *,
        executable: str = "espeak-ng",
        output_dir: Path | None = None,
        rate_wpm: int = 150,
    ) -> None:
        if not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
            raise ValueError(f"rate_wpm must be {MIN_RATE_WPM}..{MAX_RATE_WPM}, got {rate_wpm}")
        self.executable = executable
        self.output_dir = output_dir
        self.rate_wpm = rate_wpm
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._counter = itertools.count(1)

    def available(self) -> bool:
        """Whether espeak-ng can be found (a screen may hide its "read aloud" button)."""
        return self._resolve() is not None

    def _resolve(self) -> str | None:
        return shutil.which(self.executable)

    def check(self) -> None:
        """Raise :class:`SpeechUnavailable` unless espeak-ng can be found."""
        if self._resolve() is None:
            raise SpeechUnavailable(f"{self.executable} not found; {INSTALL_HINT}")

    @property
    def speaking(self) -> bool:
        """True while an utterance is being spoken (or written to its WAV file)."""
        with self._lock:
            return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The process id of the utterance being spoken, if any (for diagnostics)."""
        with self._lock:
            process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def speak(self, text: str, language: str) -> Path | None:
        """Start speaking ``text`` in ``language`` and return at once.

        Stops whatever is still being spoken. Returns the WAV file being written when
        ``output_dir`` is set, else None. Raises :class:`SpeechUnavailable`.
        """
        executable = self._resolve()
        if executable is None:
            raise SpeechUnavailable(f"{self.executable} not found; {INSTALL_HINT}")
        self.stop()
        voice = voice_for(language)
        # -b 1: the input is UTF-8; --stdin: read all of stdin, then speak.
        argv = [executable, "-v", voice, "-s", str(self.rate_wpm), "-b", "1", "--stdin"]
        wav: Path | None = None
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            wav = self.output_dir / f"speech-{next(self._counter):04d}-{voice}.wav"
            argv += ["-w", str(wav)]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeechUnavailable(f"cannot run {executable}: {exc}; {INSTALL_HINT}") from exc
        with self._lock:
            self._process = process
        threading.Thread(
            target=self._feed_and_reap,
            args=(process, text.encode("utf-8"), voice),
            name="espeak-ng",
            daemon=True,
        ).start()
        return wav

    def stop(self) -> None:
        """Stop the utterance being spoken, if any; returns at once (the feeder reaps it)."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current utterance ends; True if it did. Not for the UI thread."""
        with self._lock:
            process = self._process
        if process is None:
            return True
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    @staticmethod
    def _feed_and_reap(process: subprocess.Popen[bytes], data: bytes, voice: str) -> None:
        stdin: IO[bytes] | None = process.stdin
        try:
            if stdin is not None:
                stdin.write(data)
                stdin.close()
        except (BrokenPipeError, OSError):
            pass  # stopped before it read everything
        stderr = process.stderr.read() if process.stderr is not None else b""
        code = process.wait()  # speaking aloud takes as long as the speech: no timeout
        if code not in (0, -15):  # -15: terminated by stop()
            # espeak-ng's messages name the voice or device, never the text.
            log.warning(
                "espeak-ng (voice %s) exited with %s: %s",
                voice,
                code,
                stderr.decode(errors="replace").strip()[-300:],
            )
