"""Speech really synthesises every UI language with espeak-ng, without blocking or leaking.

espeak-ng writes WAV files here (``output_dir``), so no sound card is needed.
"""

from __future__ import annotations

import logging
import shutil
import time
import wave
from pathlib import Path

import pytest

from healthhub.ui.i18n import LANGUAGES
from healthhub.ui.speech import VOICES, Speaker, SpeechUnavailable, voice_for

#: "Please sit down and rest your arm on the table."
SENTENCES = {
    "en": "Please sit down and rest your arm on the table.",
    "pl": "Proszę usiąść i położyć rękę na stole.",
    "ro": "Vă rugăm să vă așezați și să vă sprijiniți brațul pe masă.",
    "pa": "ਕਿਰਪਾ ਕਰਕੇ ਬੈਠੋ ਅਤੇ ਆਪਣੀ ਬਾਂਹ ਮੇਜ਼ 'ਤੇ ਰੱਖੋ।",
    "ur": "براہ کرم بیٹھ جائیں اور اپنا بازو میز پر رکھیں۔",
    "pt": "Sente-se e apoie o braço na mesa, por favor.",
    "es": "Siéntese y apoye el brazo en la mesa, por favor.",
    "bn": "অনুগ্রহ করে বসুন এবং আপনার হাত টেবিলের উপর রাখুন।",
}
#: Long enough that synthesis takes well over a second (about 6000 words).
LONG_TEXT = "Your blood pressure reading is one hundred and twenty eight over eighty two. " * 450
SECRET = "Your blood pressure reading"
WAIT_S = 60.0


@pytest.fixture
def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise AssertionError("espeak-ng not found: run `make setup` (apt-get install espeak-ng)")
    return path


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def test_every_ui_language_has_a_voice(espeak: str) -> None:
    import subprocess

    listing = subprocess.run([espeak, "--voices"], capture_output=True, text=True, check=True)
    installed = {line.split()[1] for line in listing.stdout.splitlines()[1:] if line.split()}
    for code in LANGUAGES:
        assert code in VOICES, f"no espeak-ng voice chosen for {code}"
        assert VOICES[code] in installed, f"espeak-ng has no voice {VOICES[code]}"
    assert set(SENTENCES) == set(LANGUAGES)


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_speaks_each_language_to_a_wav(espeak: str, language: str, tmp_path: Path) -> None:
    speaker = Speaker(output_dir=tmp_path)
    wav = speaker.speak(SENTENCES[language], language)
    assert wav is not None
    assert speaker.wait(WAIT_S), "espeak-ng did not finish"
    assert not speaker.speaking
    assert wav.exists(), f"no WAV for {language}"
    seconds = wav_seconds(wav)
    assert seconds > 0.3, f"{language}: only {seconds:.2f} s of audio"
    assert voice_for(language) in wav.name


def test_speak_returns_before_synthesis_ends_and_stop_ends_it(espeak: str, tmp_path: Path) -> None:
    speaker = Speaker(output_dir=tmp_path)
    speaker.speak(LONG_TEXT, "en")
    # speak() only started the process: synthesising this text takes seconds.
    started = speaker.speaking
    assert started
    pid = speaker.pid
    assert pid is not None
    speaker.stop()
    still = speaker.speaking
    assert not still
    assert speaker.pid is None
    # The feeder thread reaps it: the pid disappears (no zombie left behind).
    deadline = time.monotonic() + WAIT_S
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "espeak-ng was not reaped after stop()"
        time.sleep(0.02)


def test_a_new_utterance_stops_the_previous_one(espeak: str, tmp_path: Path) -> None:
    speaker = Speaker(output_dir=tmp_path)
    speaker.speak(LONG_TEXT, "en")
    first = speaker.pid
    assert first is not None
    wav = speaker.speak(SENTENCES["pl"], "pl")
    assert speaker.pid != first
    deadline = time.monotonic() + WAIT_S
    while Path(f"/proc/{first}").exists():
        assert time.monotonic() < deadline, "the first utterance was not stopped"
        time.sleep(0.02)
    assert speaker.wait(WAIT_S)
    assert wav is not None
    assert wav_seconds(wav) > 0.3


def test_text_is_not_on_the_command_line(espeak: str, tmp_path: Path) -> None:
    speaker = Speaker(output_dir=tmp_path)
    speaker.speak(LONG_TEXT, "en")
    try:
        pid = speaker.pid
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert "espeak-ng" in cmdline
        assert "--stdin" in cmdline.split("\0")
        assert SECRET not in cmdline
        assert "blood" not in cmdline
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        assert "blood" not in environ
    finally:
        speaker.stop()


def test_nothing_spoken_is_logged(
    espeak: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    speaker = Speaker(output_dir=tmp_path)
    speaker.speak(LONG_TEXT, "en")
    speaker.stop()
    speaker.speak(SENTENCES["ur"], "ur")
    assert speaker.wait(WAIT_S)
    time.sleep(0.2)  # let the feeder thread log, if it were to
    assert SECRET not in caplog.text
    assert SENTENCES["ur"] not in caplog.text


def test_unknown_language_falls_back_to_english(espeak: str, tmp_path: Path) -> None:
    assert voice_for("xx") == "en-gb"
    assert voice_for("pt-BR") == "pt"
    speaker = Speaker(output_dir=tmp_path)
    wav = speaker.speak("Please sit down.", "tlh")
    assert wav is not None
    assert "en-gb" in wav.name
    assert speaker.wait(WAIT_S)
    assert wav_seconds(wav) > 0.3


def test_missing_executable_is_a_typed_error_with_the_install_step(tmp_path: Path) -> None:
    speaker = Speaker(executable="espeak-ng-not-installed", output_dir=tmp_path)
    assert not speaker.available()
    with pytest.raises(SpeechUnavailable, match=r"make setup.*apt-get install espeak-ng"):
        speaker.speak("Please sit down.", "en")
    with pytest.raises(SpeechUnavailable, match="make setup"):
        speaker.check()
    assert not speaker.speaking


def test_rate_is_checked() -> None:
    with pytest.raises(ValueError, match="rate_wpm"):
        Speaker(rate_wpm=10)
