"""The utilisation and equity report: exact figures, the page, the CSV, and no identity.

A store is filed as the bridge files it: two practices, three units, visits across the
night the clocks go back (Sunday 25 October 2026: 01:00-01:59 happens twice in London),
readings, submissions that carry NHS numbers, alerts acknowledged by staff and a status
history with an outage. Usage bodies are built by the UI's own tally
(``UsageTally.to_json``) plus what the agent adds in ``SessionDesk._finish``, and each one
is checked by ``protocol.usage.check_usage``.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from processes import Enrol, run_cli

from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.report import render_html
from healthhub.fleet.report_cli import period
from healthhub.fleet.report_figures import SUPPRESSION_RULE, ReportError, ReportFigures, gather
from healthhub.fleet.report_rows import COLUMNS, rows
from healthhub.fleet.report_uptime import device_uptime
from healthhub.fleet.store import Filed, PracticeStore
from healthhub.protocol.envelope import Envelope
from healthhub.protocol.fleet_layout import FleetLayout
from healthhub.protocol.ids import uuid7
from healthhub.protocol.usage import check_usage
from healthhub.ui.viewmodels.usage_tally import UsageTally

NHS_NUMBERS = ("9434765919", "9999999468", "4010232137")
SECRETS = (*NHS_NUMBERS, "1950-03-01", "SW1A 2AA", "my knee hurts on the stairs")
SITES = {"kiosk-a1": "practice-a", "wall-a2": "practice-a", "wall-b1": "practice-b"}
NOW = datetime(2026, 10, 26, 12, 0, tzinfo=UTC)  # the report is made at noon on Monday
OCT = "2026-10-"


class Filing:
    """Envelopes as the bridge files them (clear bodies), numbered per device."""

    def __init__(self, target: str | Path) -> None:
        self.store = PracticeStore(target)
        self.seqs: dict[str, int] = {}

    def file(
        self,
        device: str,
        stream: str,
        kind: str,
        body: dict[str, Any],
        at: str,
        *,
        received: str = "",
    ) -> str:
        self.seqs[device] = self.seqs.get(device, 0) + 1
        envelope = Envelope(
            id=str(uuid7()), device=device, site=SITES[device], seq=self.seqs[device],
            stream=stream, kind=kind, at=OCT + at, body={"sealed": "x"},
        )  # fmt: skip
        self.store.file([Filed(envelope, body, OCT + (received or at))])
        return envelope.id

    def visit(self, device: str, at: str, **usage: Any) -> None:
        self.file(device, "usage", "session", visit(**usage), at)

    def status(self, device: str, state: str, received: str, at: str | None = None) -> None:
        payload = {
            "state": state,
            "device": device,
            "site": SITES[device],
            "at": OCT + (at or received),
        }
        self.store.record_report(device, "status", payload, OCT + received)


def visit(
    *,
    reason: str = "finished",
    language: str | None = "en",
    minutes: float = 1.0,
    sent: bool = False,
    forms: tuple[tuple[str, str, str], ...] = (),
    text_size: int = 0,
    high_contrast: bool = False,
    read_aloud: int = 0,
    language_changes: int = 0,
    tally: bool = True,
) -> dict[str, Any]:
    """A usage body as the agent writes it: the UI's tally, then the agent's counts."""
    ui: dict[str, Any] = {}
    if tally:
        counted = UsageTally()
        counted.screen("home")
        for form, outcome, page in forms:
            counted.form(form, "started")
            counted.form(form, outcome, page)
        counted.read_aloud, counted.language_changes = read_aloud, language_changes
        ui = counted.to_json(text_size=text_size, high_contrast=high_contrast)
        assert check_usage(ui) == ui
    return {
        **ui,
        "reason": reason,
        "language": (language or "")[:16],
        "kinds": [],
        "readings": 0,
        "alerts": 0,
        "sent_to_record": sent,
        "forms_submitted": sum(1 for _, outcome, _ in forms if outcome == "completed"),
        "minutes": minutes,
    }


def patient(nhs: str) -> dict[str, str]:
    return {"nhs_number": nhs, "birth_date": "1950-03-01"}


@pytest.fixture
def filed(tmp_path: Path) -> Filing:
    return file_the_week(Filing(tmp_path / "practice.sqlite"))


def file_the_week(f: Filing) -> Filing:
    f.visit("kiosk-a1", "23T22:59:00.000Z")  # 23:59 BST on Friday 23rd: before the period
    # 23:59:59 BST on Saturday 24th (still the 24th in London, though 22:59 UTC)
    f.visit("kiosk-a1", "24T22:59:59.000Z", minutes=3.0, sent=True, text_size=1,
            forms=(("phq-9", "completed", ""),))  # fmt: skip
    # 00:30 BST on Sunday 25th, although it is still the 24th in UTC
    f.visit("kiosk-a1", "24T23:30:00.000Z", reason="idle", language="pl", minutes=5.0,
            read_aloud=2, language_changes=1, forms=(("gad-7", "abandoned", "q3"),))  # fmt: skip
    f.visit("kiosk-a1", "25T00:30:00.000Z", minutes=2.0)  # 01:30 BST
    f.visit("kiosk-a1", "25T01:30:00.000Z", reason="cancelled", language="ur", minutes=4.0,
            high_contrast=True, forms=(("phq-9", "stopped", "q9"),))  # 01:30 GMT  # fmt: skip
    f.visit("wall-a2", "25T23:30:00.000Z", sent=True)  # 23:30 GMT, Sunday 25th
    f.visit("wall-b1", "26T09:15:00.000Z", reason="replaced", language=None, minutes=0.5,
            tally=False)  # a visit cut short by the next: the agent adds no tally  # fmt: skip
    f.visit("wall-b1", "27T00:00:00.000Z")  # midnight GMT ending Monday 26th: after it

    bp = {"components": [{"code": "systolic", "value": 186, "unit": "mm[Hg]"}]}
    reading = f.file("kiosk-a1", "readings", "blood_pressure", bp, "25T00:31:00.000Z")
    f.file("kiosk-a1", "readings", "blood_pressure", bp, "25T00:31:30.000Z")
    weight = {"components": [{"code": "weight", "value": 82.4, "unit": "kg"}]}
    f.file("kiosk-a1", "readings", "body_weight", weight, "25T00:32:00.000Z")
    spo2 = {"components": [{"code": "spo2", "value": 91, "unit": "%"}]}
    f.file("wall-b1", "readings", "oxygen_saturation", spo2, "26T09:16:00.000Z")
    f.file("wall-b1", "readings", "blood_pressure", bp, "27T00:00:00.000Z")  # after

    consent = {"session": "s", "patient": patient(NHS_NUMBERS[0]), "readings": [reading],
               "derived": [], "context": {}, "consent": "file_in_gp_record"}  # fmt: skip
    f.file("kiosk-a1", "submissions", "readings_to_record", consent, "24T22:59:00.000Z")
    form = {"version": 1, "language": "en", "actions": [], "bands": {}, "session": "s",
            "scores": {}, "form": "phq-9", "purpose": "questionnaire"}  # fmt: skip
    f.file("kiosk-a1", "submissions", "questionnaire",
           {**form, "answers": {"q1": "several_days"}, "patient": patient(NHS_NUMBERS[1])},
           "24T22:59:30.000Z")  # fmt: skip
    f.file("wall-a2", "submissions", "readings_to_record",
           {**consent, "patient": patient(NHS_NUMBERS[2])}, "25T23:29:00.000Z")  # fmt: skip
    f.file("wall-b1", "submissions", "consultation_request",
           {**form, "form": "consultation-request", "purpose": "consultation_request",
            "answers": {"what": "my knee hurts on the stairs", "postcode": "SW1A 2AA"},
            "patient": patient(NHS_NUMBERS[2])}, "26T09:14:00.000Z")  # fmt: skip

    urgent = {"reason": "urgent_result", "session": "s", "route": {}, "reading": reading,
              "measure": "blood_pressure", "level": "urgent"}  # fmt: skip
    first = f.file("kiosk-a1", "alerts", "urgent_result", urgent, "25T00:31:30.000Z",
                   received="25T00:31:40.000Z")  # fmt: skip
    f.store.acknowledge_alert(first, "reception", at=OCT + "25T00:35:40.000Z")  # 4 minutes
    f.store.acknowledge_alert(first, "gp", at=OCT + "25T09:00:00.000Z")  # the first stands
    helped = f.file("kiosk-a1", "alerts", "help_requested",
                    {"reason": "help_requested", "source": "button", "route": {}},
                    "25T01:31:00.000Z")  # fmt: skip
    f.store.acknowledge_alert(helped, "reception", at=OCT + "25T01:41:00.000Z")  # 10 minutes
    f.file("wall-b1", "alerts", "urgent_result", {**urgent, "level": "high"},
           "26T09:16:30.000Z")  # never acknowledged  # fmt: skip
    f.file("wall-b1", "alerts", "urgent_result", urgent, "23T12:00:00.000Z")  # before

    # kiosk-a1: online since the 20th; its Last Will carries the time it connected (the
    # 20th), but the bridge received it at 10:00 on the 25th; back online at 10:30.
    f.status("kiosk-a1", "online", "20T08:00:00.000Z")
    f.status("kiosk-a1", "offline", "25T10:00:00.000Z", at="20T08:00:00.000Z")
    f.status("kiosk-a1", "online", "25T10:30:00.000Z")
    f.status("wall-a2", "online", "24T12:00:00.000Z")  # first seen inside the period
    f.status("wall-b1", "offline", "22T00:00:00.000Z")  # off when the period starts
    f.status("wall-b1", "online", "24T00:00:00.000Z")
    f.status("wall-b1", "offline", "26T18:00:00.000Z")  # after "now": not counted
    return f


def figures_of(f: Filing, start: str = "24", end: str = "26", **kw: Any) -> ReportFigures:
    return gather(
        f.store, start=date.fromisoformat(OCT + start), end=date.fromisoformat(OCT + end),
        now=NOW, **kw,
    )  # fmt: skip


def day(n: int) -> date:
    return date(2026, 10, n)


def test_visits_are_counted_by_london_day_and_hour_across_the_clock_change(
    filed: Filing,
) -> None:
    figures = figures_of(filed)
    pcn, a = figures.pcn, figures.sites["practice-a"]
    assert pcn.sessions == 6
    assert dict(pcn.per_day) == {day(24): 1, day(25): 4, day(26): 1}
    assert dict(pcn.per_hour) == {23: 2, 0: 1, 1: 2, 9: 1}  # 01:30 BST and 01:30 GMT: hour 1
    assert dict(a.devices["kiosk-a1"].per_day) == {day(24): 1, day(25): 3}
    assert dict(a.devices["wall-a2"].per_hour) == {23: 1}
    assert (a.activity.sessions, figures.sites["practice-b"].activity.sessions) == (5, 1)
    assert dict(pcn.end_reasons) == {"finished": 3, "idle": 1, "cancelled": 1, "replaced": 1}
    assert (pcn.median_minutes, pcn.mean_minutes) == (2.5, 15.5 / 6)
    assert (pcn.days_open, a.activity.days_open, a.activity.sessions_per_day_open) == (3, 2, 2.5)

    # The Sunday alone: 25 hours long, four visits, the repeated hour counted twice.
    sunday = figures_of(filed, "25", "25")
    assert dict(sunday.pcn.per_hour) == {0: 1, 1: 2, 23: 1}
    kiosk = sunday.sites["practice-a"].devices["kiosk-a1"].uptime
    assert (kiosk.online_minutes, kiosk.offline_minutes, kiosk.unknown_minutes) == (1470, 30, 0)


def test_what_was_used_languages_accessibility_forms_and_identity(filed: Filing) -> None:
    pcn = figures_of(filed).pcn
    assert dict(pcn.languages) == {"en": 3, "pl": 1, "ur": 1, "unrecorded": 1}
    assert pcn.non_english == 2
    assert dict(pcn.accessibility) == {
        "larger_text": 1, "read_aloud": 1, "language_change": 1, "high_contrast": 1, "any": 3,
    }  # fmt: skip
    assert dict(pcn.forms) == {
        ("phq-9", "started"): 2, ("phq-9", "completed"): 1, ("phq-9", "stopped"): 1,
        ("gad-7", "started"): 1, ("gad-7", "abandoned"): 1,
    }  # fmt: skip
    assert dict(pcn.abandoned_at) == {("gad-7", "q3"): 1}
    assert pcn.form_completion == 1 / 3
    assert (pcn.identified, pcn.anonymous, pcn.sessions_with_form_sent) == (2, 4, 1)
    assert dict(pcn.readings) == {"blood_pressure": 2, "body_weight": 1, "oxygen_saturation": 1}
    assert dict(pcn.submissions) == {
        "readings_to_record": 2, "questionnaire": 1, "consultation_request": 1,
    }  # fmt: skip


def test_alerts_and_minutes_to_acknowledge(filed: Filing) -> None:
    figures = figures_of(filed)
    pcn = figures.pcn
    assert dict(pcn.alerts) == {"urgent_result": 2, "help_requested": 1}
    assert dict(pcn.alert_levels) == {"urgent": 1, "high": 1}
    assert (sorted(pcn.ack.minutes), pcn.ack.unacknowledged) == ([4.0, 10.0], 1)
    assert (pcn.ack.median, pcn.ack.p90) == (7.0, 10.0)
    assert (pcn.urgent_ack.median, pcn.urgent_ack.p90, pcn.urgent_ack.unacknowledged) == (
        4.0, 4.0, 1,
    )  # fmt: skip
    b = figures.sites["practice-b"].activity
    assert (b.alerts["urgent_result"], b.urgent_ack.unacknowledged, b.ack.median) == (1, 1, None)


def test_unit_health_alerts_stay_out_of_the_patients_alert_figures(tmp_path: Path) -> None:
    """IT's alerts about a unit would distort how fast staff answer patients; each patient
    alert reason has its own time to acknowledge, and escalations and delivery show."""
    f = Filing(tmp_path / "practice.sqlite")
    health = {
        "reason": "device_health",
        "check": "cpu_temperature",
        "level": "critical",
        "value": 86,
        "threshold": 85,
        "unit": "Cel",
        "summary": "hot",
        "route": {},
    }
    hot = f.file("kiosk-a1", "alerts", "device_health", health, "25T08:00:00.000Z")
    f.store.acknowledge_alert(hot, "it", at=OCT + "26T08:00:00.000Z")  # a day later
    crisis = {"reason": "form_action", "form": "phq-9", "action": "item-9-crisis", "route": {}}
    phq = f.file("kiosk-a1", "alerts", "form_action", crisis, "25T09:00:00.000Z",
                 received="25T09:02:00.000Z")  # 2 minutes on the way  # fmt: skip
    f.store.acknowledge_alert(phq, "duty gp", at=OCT + "25T09:05:00.000Z")  # 3 minutes
    helped = f.file("kiosk-a1", "alerts", "help_requested",
                    {"reason": "help_requested", "source": "button", "route": {}},
                    "25T10:00:00.000Z")  # fmt: skip
    assert f.store.mark_escalated(helped, 1, OCT + "25T10:15:00.000Z")
    f.store.acknowledge_alert(helped, "reception", at=OCT + "25T10:20:00.000Z")  # 20 minutes
    figures = figures_of(f)
    f.store.close()
    pcn = figures.pcn
    assert dict(pcn.alerts) == {"form_action": 1, "help_requested": 1}
    assert pcn.unit_health_alerts == 1
    assert sorted(pcn.ack.minutes) == [3.0, 20.0], "not the day IT took"
    assert pcn.ack_by_reason["form_action"].minutes == [3.0]
    assert pcn.ack_by_reason["help_requested"].minutes == [20.0]
    assert pcn.urgent_ack.minutes == []
    assert pcn.escalated == 1
    assert pcn.delivery_median == 1.0  # 2 minutes and 0
    found = {(r.metric, r.key): r.value for r in rows(figures, suppress_small=False)
             if r.scope == "pcn"}  # fmt: skip
    assert found["form_action_ack_minutes", "median"] == "3.0"
    assert found["unit_health_alerts", ""] == "1"
    assert found["alerts_escalated", ""] == "1"


def test_uptime_from_the_status_history_as_the_bridge_received_it(filed: Filing) -> None:
    figures = figures_of(filed)  # 23:00 UTC on the 23rd to "now", noon on the 26th: 3660 min
    a, b = figures.sites["practice-a"], figures.sites["practice-b"]
    kiosk, wall_a, wall_b = (a.devices["kiosk-a1"].uptime, a.devices["wall-a2"].uptime,
                             b.devices["wall-b1"].uptime)  # fmt: skip
    assert (kiosk.online_minutes, kiosk.offline_minutes, kiosk.unknown_minutes) == (3630, 30, 0)
    assert kiosk.outages == 1
    assert (wall_a.online_minutes, wall_a.unknown_minutes, wall_a.outages) == (2880, 780, 0)
    assert (wall_b.online_minutes, wall_b.offline_minutes, wall_b.outages) == (3600, 60, 1)
    pcn = figures.pcn.uptime
    assert (pcn.online_minutes, pcn.offline_minutes, pcn.unknown_minutes) == (10110, 90, 780)
    assert kiosk.availability == 3630 / 3660


def test_the_report_is_the_same_from_a_postgresql_store(filed: Filing, postgres: str) -> None:
    on_postgres = file_the_week(Filing(postgres))
    try:
        assert list(rows(figures_of(on_postgres))) == list(rows(figures_of(filed)))
    finally:
        on_postgres.store.close()


def test_device_uptime_counts_nothing_unknown_as_known_and_nothing_after_now() -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 1, 2, tzinfo=UTC)
    never = device_uptime([], start, end)
    assert (never.unknown_minutes, never.online_minutes, never.availability) == (120, 0, None)
    assert device_uptime([(start, "online")], end, start).online_minutes == 0  # all future


def test_site_and_date_filters(filed: Filing) -> None:
    only_b = figures_of(filed, sites={"practice-b"})
    assert set(only_b.sites) == {"practice-b"}
    assert (only_b.pcn.sessions, dict(only_b.pcn.readings)) == (1, {"oxygen_saturation": 1})
    assert dict(only_b.pcn.alerts) == {"urgent_result": 1}
    saturday = figures_of(filed, "24", "24")
    assert (saturday.pcn.sessions, dict(saturday.pcn.per_hour)) == (1, {23: 1})
    assert dict(saturday.pcn.submissions) == {"readings_to_record": 1, "questionnaire": 1}
    with pytest.raises(ReportError, match="before it starts"):
        figures_of(filed, "26", "24")


def test_a_refused_tally_or_language_still_counts_the_visit_and_shows_neither(
    tmp_path: Path,
) -> None:
    f = Filing(tmp_path / "practice.sqlite")
    bad = visit() | {"forms": [{"form": "phq-9", "outcome": "finished-ish"}]}
    f.file("wall-b1", "usage", "session", bad, "26T09:00:00.000Z")
    f.visit("wall-b1", "26T09:05:00.000Z", language=NHS_NUMBERS[0])  # a faulty unit
    f.visit("wall-b1", "26T09:10:00.000Z", language="pt-BR")
    figures = figures_of(f)
    pcn = figures.pcn
    assert (pcn.sessions, pcn.refused_tallies, dict(pcn.forms)) == (3, 1, {})
    assert dict(pcn.languages) == {"en": 1, "unrecognised": 1, "pt-br": 1}
    assert not any(NHS_NUMBERS[0] in row.value + row.key for row in rows(figures))


def test_small_numbers_are_suppressed_per_site_and_shown_for_the_pcn(filed: Filing) -> None:
    figures = figures_of(filed)

    def value(suppress: bool, scope: str, site: str, metric: str, key: str = "") -> str:
        found = [
            r.value for r in rows(figures, suppress_small=suppress)
            if (r.scope, r.site, r.device, r.metric, r.key) == (scope, site, "", metric, key)
        ]  # fmt: skip
        assert len(found) == 1, (scope, site, metric, key)
        return found[0]

    assert value(True, "site", "practice-a", "language", "pl") == "<5"
    assert value(True, "site", "practice-a", "share_identified") == "<5"  # 2 of 5
    assert value(True, "site", "practice-a", "sessions") == "5"  # visits are not about who
    assert value(True, "pcn", "", "language", "pl") == "1"
    assert value(False, "site", "practice-a", "language", "pl") == "1"
    assert value(False, "site", "practice-a", "share_identified") == "0.4000"
    assert value(True, "site", "practice-a", "accessibility", "larger_text") == "<5"
    assert value(True, "site", "practice-b", "accessibility", "any") == "0"  # none is safe


class Page(HTMLParser):
    """Collects images, headings and checks that every element that opens also closes."""

    VOID = frozenset({"img", "meta", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.headings: list[str] = []
        self._heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)
        if tag in ("h1", "h2", "h3"):
            self._heading = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1]}>"
        self.stack.pop()
        self._heading = self._heading and tag not in ("h1", "h2", "h3")

    def handle_data(self, data: str) -> None:
        if self._heading:
            self.headings[-1] += data


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert page.stack == [], page.stack
    return page


def test_the_page_parses_and_every_plot_has_alt_text(filed: Filing) -> None:
    text = render_html(filed.store, None, start=day(24), end=day(26), now=NOW)
    page = parse(text)
    # Per-day and per-hour for the PCN, two practices and three units, and two comparisons.
    assert len(page.images) == 2 * (1 + 2 + 3) + 2
    assert all(img["alt"] and img["src"] and img["src"].startswith("data:image/png;base64,")
               for img in page.images)  # fmt: skip
    alts = [str(img["alt"]) for img in page.images]
    assert (
        "Bar chart of visits per day at all practices, Saturday 24 October 2026 to Monday 26 "
        "October 2026, London time: 6 in all; the busiest day was Sunday 25 October 2026 with "
        "4; 0 of 3 days had none."
    ) in alts
    assert any("busiest hour was 01:00 to 01:59 with 2" in alt for alt in alts)
    for heading in ("Equity between practices", "Practice practice-a", "Practice practice-b",
                    "Unit kiosk-a1 (practice-a)", "Unit wall-b1 (practice-b)"):  # fmt: skip
        assert heading in page.headings
    assert escape(SUPPRESSION_RULE) in text  # the footer says what was suppressed
    for outside in ("<script", "http://", "https://"):  # self-contained: nothing fetched
        assert outside not in text


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def test_cli_writes_the_page_and_a_tidy_csv_that_agree_and_hold_no_identity(
    filed: Filing, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "report.html"
    store = str(filed.store.path)
    run_cli("healthhub-fleet", "report", "--store", store, "--out", str(out),
            "--from", "2026-10-24", "--to", "2026-10-26", "--no-suppress-small")  # fmt: skip
    html, table = out.read_text(encoding="utf-8"), read_csv(out.with_suffix(".csv"))
    parse(html)
    for secret in SECRETS:
        assert secret not in html
        assert not any(secret in value for row in table for value in row.values())

    def total(scope: str, metric: str, key: str = "", **where: str) -> float:
        return sum(
            float(r["value"]) for r in table
            if (r["scope"], r["metric"], r["key"]) == (scope, metric, key)
            and all(r[k] == v for k, v in where.items())
        )  # fmt: skip

    figures = figures_of(filed)  # the same period, made here: the CSV says the same
    assert total("pcn", "sessions") == figures.pcn.sessions == total("site", "sessions") == 6
    assert total("device", "sessions", site="practice-a") == total(
        "site", "sessions", site="practice-a") == 5  # fmt: skip
    assert [total("pcn", "sessions_per_day", f"2026-10-{d}") for d in (24, 25, 26)] == [1, 4, 1]
    assert total("pcn", "sessions_per_hour", "01") == 2
    assert total("pcn", "language", "pl") == total("device", "language", "pl") == 1
    assert total("pcn", "alert_ack_minutes", "median") == figures.pcn.ack.median == 7.0
    # The period is over: wall-b1's outage from 18:00 on the 26th counts to midnight now.
    assert total("pcn", "uptime_minutes", "offline") == 90 + 360
    assert total("pcn", "share_identified") == round(2 / 6, 4)
    settings = {(r["metric"], r["key"]): r["value"] for r in table if r["scope"] == "report"}
    assert settings[("period", "from")] == "2026-10-24"
    assert settings[("time_zone", "")] == "Europe/London"
    assert settings[("suppress_small", "")] == "off"
    assert "NOT suppressed" in html
    assert "London time. 2 practices, 3 units. Made" in html

    # Suppression on (the default): no identity either, and "<5" where counts are small.
    run_cli("healthhub-fleet", "report", "--store", store, "--out", str(out),
            "--from", "2026-10-24", "--to", "2026-10-26", "--site", "practice-b")  # fmt: skip
    only_b = read_csv(out.with_suffix(".csv"))
    assert {r["site"] for r in only_b if r["scope"] in ("site", "device")} == {"practice-b"}
    values = {(r["scope"], r["metric"], r["key"]): r["value"] for r in only_b}
    assert values["site", "urgent_results", ""] == "<5"
    assert values["pcn", "urgent_results", ""] == "1"
    assert "London time. 1 practice, 1 unit. Made" in out.read_text(encoding="utf-8")


def test_cli_refuses_bad_dates_and_an_inverted_period(filed: Filing, tmp_path: Path) -> None:
    base = ["report", "--store", str(filed.store.path), "--out", str(tmp_path / "r.html")]
    for dates, message in (
        (["--from", "24/10/2026"], "write YYYY-MM-DD"),
        (["--from", "2026-02-30"], "not a day of the calendar"),
        (["--from", "2026-10-26", "--to", "2026-10-24"], "--from 2026-10-26 is after --to"),
    ):
        result = run_cli("healthhub-fleet", *base, *dates, check=False)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
    assert not (tmp_path / "r.html").exists()
    missing = [
        "report",
        "--store",
        str(tmp_path / "none.sqlite"),
        "--out",
        str(tmp_path / "r.html"),
    ]
    result = run_cli("healthhub-fleet", *missing, check=False)
    assert result.returncode == 1
    assert "not found" in result.stderr


def test_the_default_period_is_the_last_28_days_including_today() -> None:
    assert period(None, None, today=day(26)) == (date(2026, 9, 29), day(26))
    assert period(None, day(10), today=day(26)) == (date(2026, 9, 13), day(10))
    assert period(day(1), None, today=day(26)) == (day(1), day(26))


def test_enrolled_units_nobody_used_are_listed_with_zeros(
    filed: Filing, fleet: FleetLayout, enrol: Enrol, tmp_path: Path
) -> None:
    for device, site in (*SITES.items(), ("wall-b2", "practice-b")):
        enrol(device, site=site)
    figures = figures_of(filed, registry=DeviceRegistry(fleet))
    idle = figures.sites["practice-b"].devices["wall-b2"]
    assert (idle.sessions, sum(idle.per_day.values()), idle.uptime.unknown_minutes) == (0, 0, 3660)
    assert figures.sites["practice-b"].activity.uptime.unknown_minutes == 3660  # wall-b2 only
    assert "wall-b2" not in figures_of(filed).sites["practice-b"].devices

    out = tmp_path / "report.html"
    run_cli("healthhub-fleet", "report", "--store", str(filed.store.path), "--out", str(out),
            "--from", "2026-10-24", "--to", "2026-10-26", "--fleet", str(fleet.root))  # fmt: skip
    table = read_csv(out.with_suffix(".csv"))
    idle_rows = {(r["metric"], r["key"]): r["value"] for r in table if r["device"] == "wall-b2"}
    assert idle_rows["sessions", ""] == "0"
    assert idle_rows["sessions_per_day", "2026-10-25"] == "0"
    assert "Unit wall-b2 (practice-b)" in parse(out.read_text(encoding="utf-8")).headings


def test_a_visit_is_identified_by_its_own_flag_else_by_readings_sent(tmp_path: Path) -> None:
    """A form sent with the patient's details makes the visit identified (``identified``,
    since issue 8); a message from an older unit only says whether readings were sent."""
    f = Filing(tmp_path / "practice.sqlite")
    f.file("kiosk-a1", "usage", "session", {**visit(), "identified": True}, "24T10:00:00.000Z")
    f.file("kiosk-a1", "usage", "session", {**visit(sent=True), "identified": False},
           "24T11:00:00.000Z")  # fmt: skip
    f.visit("kiosk-a1", "24T12:00:00.000Z", sent=True)  # older unit: no flag
    f.visit("kiosk-a1", "24T13:00:00.000Z")
    pcn = figures_of(f).pcn
    assert (pcn.identified, pcn.anonymous) == (2, 2)


def test_list_sizes_give_visits_per_thousand_registered_patients(
    filed: Filing, tmp_path: Path
) -> None:
    """practice-a: 5 visits, 2 identified, 2,500 patients; practice-b: 1 visit, 500; a third
    practice with no unit used is listed with zeros."""
    practices = tmp_path / "practices.yaml"
    practices.write_text(
        "practice-a:\n  name: Riverside Surgery\n  list_size: 2500\n"
        "practice-b:\n  list_size: 500\n"
        "practice-c:\n  name: Hill Lane\n  list_size: 1000\n"
    )
    out = tmp_path / "report.html"
    run_cli("healthhub-fleet", "report", "--store", str(filed.store.path), "--out", str(out),
            "--from", "2026-10-24", "--to", "2026-10-26", "--no-suppress-small",
            "--practices", str(practices))  # fmt: skip
    table = read_csv(out.with_suffix(".csv"))
    found = {(r["scope"], r["site"], r["metric"]): r["value"] for r in table if not r["key"]}
    assert found["site", "practice-a", "visits_per_1000_registered"] == "2.0"
    assert found["site", "practice-b", "visits_per_1000_registered"] == "2.0"
    assert found["site", "practice-c", "visits_per_1000_registered"] == "0.0"
    assert found["pcn", "", "list_size"] == "4000"
    assert found["pcn", "", "visits_per_1000_registered"] == "1.5"  # 6 visits of 4,000
    html = out.read_text(encoding="utf-8")
    parse(html)
    assert "Visits per 1,000 registered" in html
    assert "Riverside Surgery (practice-a)" in html

    practices.write_text("practice-a:\n  list_size: 0\n")
    refused = run_cli("healthhub-fleet", "report", "--store", str(filed.store.path),
                      "--out", str(out), "--practices", str(practices), check=False)  # fmt: skip
    assert refused.returncode == 2
    assert "practices.yaml: practice-a: list_size must be a whole number" in refused.stderr
