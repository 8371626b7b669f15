"""The utilisation and equity report's figures, computed from the practice store (issue 8).

Pure computation, no output: :func:`gather` reads the ``usage`` (one message per visit),
``readings``, ``submissions`` and ``alerts`` streams and the devices' status history, and
counts per device, per site and for the whole Primary Care Network (the sites reported).
Patient identity is never read: of a reading only its kind, of a submission only its kind,
of an alert its reason, level and times; whether a visit was *identified* comes from the
visit's own usage flag (``identified``, else ``sent_to_record``), never from a
submission's ``patient``.

Time zone: UK practices think in local time, so days and hours of day are Europe/London
(GMT in winter, BST in summer) and a period ``--from D --to D`` runs from local midnight
starting D to local midnight ending the last day. A visit is counted at its usage
message's ``at``: when the visit ended, on the unit's clock. On the day the clocks go back
the hour 01:00-01:59 happens twice and both count in hour 1.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from healthhub.fleet.registry import DeviceRegistry
from healthhub.fleet.report_practices import Practice
from healthhub.fleet.report_uptime import Uptime, device_uptime, status_changes
from healthhub.fleet.store import PracticeStore
from healthhub.protocol.clock import format_utc, parse_utc
from healthhub.protocol.errors import HealthHubError, MalformedMessage
from healthhub.protocol.usage import TALLY_FIELDS, check_usage

TIME_ZONE: Final = "Europe/London"
LONDON: Final = ZoneInfo(TIME_ZONE)
#: What a visit's accessibility tally can show; "any" is a visit that used at least one.
ACCESSIBILITY: Final = ("larger_text", "high_contrast", "read_aloud", "language_change", "any")
FORM_OUTCOMES: Final = ("started", "completed", "abandoned", "stopped", "unfinished")
#: What small-number suppression hides, in words (the report's footer; report_rows.py
#: marks the cells): NHS practice for published statistics, applied to what says
#: something about who came rather than about the units.
SUPPRESSION_RULE: Final = (
    "In per-site and per-device figures, counts from 1 to 4 of what says something about "
    "who came (languages, accessibility features, identified or anonymous visits, forms, "
    "submissions, alerts and urgent results), and shares made from such counts, are shown "
    "as <5. Totals for the whole PCN are not suppressed, and a suppressed cell can "
    "sometimes be worked out from the totals beside it: apply full disclosure control "
    "before publishing beyond the PCN."
)


#: A language tag as the UI sends it (``en``, ``pa``, ``pt-br``): anything else a unit sent
#: is counted as "unrecognised", never shown, since it is the one free text of a visit.
_LANGUAGE_TAG: Final = re.compile(r"^[a-z]{2,3}(?:[-_][a-z0-9]{2,8}){0,3}$")


def _language(value: object) -> str:
    spoken = value.strip().lower() if isinstance(value, str) else ""
    if not spoken:
        return "unrecorded"
    return spoken if _LANGUAGE_TAG.match(spoken) else "unrecognised"


class ReportError(HealthHubError):
    """The report cannot be made as asked (a period that ends before it starts)."""


def is_small(count: int) -> bool:
    """A count that could point at a person in a published table (1 to 4; 0 is safe)."""
    return 1 <= count <= 4


@dataclass(frozen=True)
class Period:
    """Whole local (Europe/London) days, ``start`` to ``end`` inclusive."""

    start: date
    end: date

    @property
    def begin(self) -> datetime:
        return datetime.combine(self.start, time(0), LONDON).astimezone(UTC)

    @property
    def finish(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(0), LONDON).astimezone(UTC)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def local(self, at: object) -> datetime | None:
        """``at`` in London time if it falls in the period; None if not or unreadable."""
        try:
            moment = parse_utc(at)
        except MalformedMessage:
            return None
        return moment.astimezone(LONDON) if self.begin <= moment < self.finish else None


#: Alerts about the unit itself, for IT (``protocol/device_health.py``): kept out of the
#: clinical alert figures, whose times to acknowledge are about patients waiting.
UNIT_HEALTH: Final = "device_health"
#: The clinical alert reasons each given their own time to acknowledge.
CLINICAL_REASONS: Final = ("urgent_result", "form_action", "help_requested")


def _minutes(start: object, end: object) -> float | None:
    try:
        waited = parse_utc(end) - parse_utc(start)
    except MalformedMessage:
        return None
    return max(0.0, waited.total_seconds() / 60)


@dataclass
class AckTimes:
    """Minutes from the bridge receiving an alert to staff acknowledging it."""

    minutes: list[float] = field(default_factory=list)
    unacknowledged: int = 0

    def add(self, alert: dict[str, Any]) -> None:
        acknowledged = alert.get("acknowledged_at")
        waited = _minutes(alert.get("received_at"), acknowledged) if acknowledged else None
        if waited is None:
            self.unacknowledged += 1
        else:
            self.minutes.append(waited)

    @property
    def median(self) -> float | None:
        return statistics.median(self.minutes) if self.minutes else None

    @property
    def p90(self) -> float | None:
        """The 90th percentile by nearest rank: 9 in 10 were acknowledged within it."""
        if not self.minutes:
            return None
        ranked = sorted(self.minutes)
        return ranked[math.ceil(0.9 * len(ranked)) - 1]


@dataclass
class Activity:
    """Everything counted for one scope: a device, a site, or the whole PCN."""

    sessions: int = 0
    per_day: Counter[date] = field(default_factory=Counter)
    per_hour: Counter[int] = field(default_factory=Counter)
    end_reasons: Counter[str] = field(default_factory=Counter)
    minutes: list[float] = field(default_factory=list)
    readings: Counter[str] = field(default_factory=Counter)
    forms: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, outcome)
    abandoned_at: Counter[tuple[str, str]] = field(default_factory=Counter)  # (form, page)
    submissions: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    accessibility: Counter[str] = field(default_factory=Counter)
    identified: int = 0
    sessions_with_form_sent: int = 0
    #: Visits whose UI tally the protocol's checker refused (counted without it).
    refused_tallies: int = 0
    #: Registered patients (a site's list size; the PCN's if every site has one).
    list_size: int | None = None
    alerts: Counter[str] = field(default_factory=Counter)  # clinical, by reason
    alert_levels: Counter[str] = field(default_factory=Counter)
    #: Clinical alerts: all, and per reason (CLINICAL_REASONS).
    ack: AckTimes = field(default_factory=AckTimes)
    ack_by_reason: dict[str, AckTimes] = field(
        default_factory=lambda: {reason: AckTimes() for reason in CLINICAL_REASONS}
    )
    #: Clinical alerts that escalated (at least one level) because nobody acknowledged them.
    escalated: int = 0
    #: Minutes from the unit raising a clinical alert to the practice receiving it.
    delivery_minutes: list[float] = field(default_factory=list)
    #: The units' own health alerts, for IT (not in the figures above).
    unit_health_alerts: int = 0
    uptime: Uptime = field(default_factory=Uptime)

    def add_session(self, local: datetime, envelope: dict[str, Any]) -> None:
        body = envelope["body"] if isinstance(envelope.get("body"), dict) else {}
        self.sessions += 1
        self.per_day[local.date()] += 1
        self.per_hour[local.hour] += 1
        self.end_reasons[str(body.get("reason") or "unrecorded")] += 1
        minutes = body.get("minutes")
        if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes >= 0:
            self.minutes.append(float(minutes))
        self.languages[_language(body.get("language"))] += 1
        # `identified` since issue 8 (readings or a form with the patient's details); older
        # units only say whether readings went to the record
        self.identified += bool(body.get("identified", body.get("sent_to_record")))
        forms_sent = body.get("forms_submitted")
        self.sessions_with_form_sent += isinstance(forms_sent, int) and forms_sent > 0
        try:
            tally = check_usage({k: v for k, v in body.items() if k in TALLY_FIELDS})
        except MalformedMessage:
            self.refused_tallies += 1
            return
        self._add_tally(tally)

    def _add_tally(self, tally: dict[str, Any]) -> None:
        for entry in tally.get("forms", []):
            form, outcome = entry["form"], entry["outcome"]
            self.forms[form, "started"] += 1
            self.forms[form, "unfinished" if outcome == "started" else outcome] += 1
            if outcome == "abandoned":
                self.abandoned_at[form, entry["page"] or "unrecorded"] += 1
        access = tally.get("accessibility", {})
        used = {
            "larger_text": access.get("text_size", 0) > 0,
            "high_contrast": access.get("high_contrast", False),
            "read_aloud": access.get("read_aloud", 0) > 0,
            "language_change": access.get("language_changes", 0) > 0,
        }
        used["any"] = any(used.values())
        self.accessibility.update(name for name, yes in used.items() if yes)

    def add_reading(self, local: datetime, envelope: dict[str, Any]) -> None:
        self.readings[str(envelope["kind"])] += 1  # the kind only, never the values

    def add_submission(self, local: datetime, envelope: dict[str, Any]) -> None:
        self.submissions[str(envelope["kind"])] += 1  # the kind only, never the body

    def add_alert(self, alert: dict[str, Any]) -> None:
        reason = str(alert.get("reason") or "unrecorded")
        if reason == UNIT_HEALTH:
            self.unit_health_alerts += 1
            return
        self.alerts[reason] += 1
        if alert.get("level"):
            self.alert_levels[str(alert["level"])] += 1
        self.ack.add(alert)
        if reason in self.ack_by_reason:
            self.ack_by_reason[reason].add(alert)
        self.escalated += bool(alert.get("escalations"))
        delivered = _minutes(alert.get("at"), alert.get("received_at"))
        if delivered is not None:
            self.delivery_minutes.append(delivered)

    @property
    def urgent_ack(self) -> AckTimes:
        return self.ack_by_reason["urgent_result"]

    @property
    def delivery_median(self) -> float | None:
        return statistics.median(self.delivery_minutes) if self.delivery_minutes else None

    # -- what the equity comparison shows ----------------------------------------

    def per_thousand(self, count: int) -> float | None:
        """``count`` per 1,000 registered patients (None without a list size)."""
        return None if not self.list_size else count * 1000 / self.list_size

    @property
    def anonymous(self) -> int:
        return self.sessions - self.identified

    @property
    def days_open(self) -> int:
        """Days with at least one visit (the store holds no opening hours)."""
        return sum(1 for n in self.per_day.values() if n)

    @property
    def non_english(self) -> int:
        return sum(
            n for code, n in self.languages.items()
            if code != "unrecorded" and code.split("-")[0] != "en"
        )  # fmt: skip

    def form_count(self, outcome: str) -> int:
        return sum(n for (_, done), n in self.forms.items() if done == outcome)

    def share(self, part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def sessions_per_day_open(self) -> float | None:
        return self.share(self.sessions, self.days_open)

    @property
    def form_completion(self) -> float | None:
        return self.share(self.form_count("completed"), self.form_count("started"))

    @property
    def median_minutes(self) -> float | None:
        return statistics.median(self.minutes) if self.minutes else None

    @property
    def mean_minutes(self) -> float | None:
        return statistics.fmean(self.minutes) if self.minutes else None


@dataclass
class SiteFigures:
    activity: Activity = field(default_factory=Activity)
    devices: dict[str, Activity] = field(default_factory=dict)


@dataclass
class ReportFigures:
    period: Period
    #: When the figures were made: no minute after it is counted.
    now: datetime
    #: Whether the fleet's enrolments were read (so idle devices are listed with zeros).
    enrolled: bool
    pcn: Activity = field(default_factory=Activity)
    sites: dict[str, SiteFigures] = field(default_factory=dict)
    #: Each site's practice (list size, name) when the report was given them.
    practices: dict[str, Practice] = field(default_factory=dict)

    def practice_name(self, site: str) -> str:
        """The site as the report names it: the practice's name beside its id, if known."""
        known = self.practices.get(site)
        return f"{known.name} ({site})" if known and known.name else site

    def scopes(self, site: str, device: str) -> tuple[Activity, Activity, Activity]:
        """The device's, its site's and the PCN's figures (created when first seen)."""
        if site not in self.sites:  # not setdefault: that would build one every call
            self.sites[site] = SiteFigures()
        figures = self.sites[site]
        if device not in figures.devices:
            figures.devices[device] = Activity()
        return figures.devices[device], figures.activity, self.pcn


Add = Callable[[Activity, datetime, dict[str, Any]], None]
_STREAMS: Final[tuple[tuple[str, str | None, Add], ...]] = (
    ("usage", "session", Activity.add_session),
    ("readings", None, Activity.add_reading),
    ("submissions", None, Activity.add_submission),
)


def gather(
    store: PracticeStore,
    *,
    start: date,
    end: date,
    sites: set[str] | None = None,
    registry: DeviceRegistry | None = None,
    now: datetime | None = None,
    practices: dict[str, Practice] | None = None,
) -> ReportFigures:
    """The report's figures for local days ``start``..``end``, for ``sites`` (all if None).

    ``registry`` adds every enrolled device, so one nobody used is listed with zeros;
    ``practices`` (each site's registered list size) adds rates per 1,000 patients.
    """
    if end < start:
        raise ReportError(f"the period ends ({end}) before it starts ({start})")
    period = Period(start, end)
    figures = ReportFigures(period, now or datetime.now(UTC), enrolled=registry is not None)

    def wanted(site: str) -> bool:
        return sites is None or site in sites

    places: dict[str, str] = {}  # device -> the site it reports under
    for device, site in sorted((registry.devices() if registry else {}).items()):
        places[device] = site
        if wanted(site):
            figures.scopes(site, device)
    # A day either side: the store orders and compares ``at`` as text; each envelope's
    # time is then checked against the period itself.
    since = format_utc(period.begin - timedelta(days=1))
    until = format_utc(period.finish + timedelta(days=1))
    for stream, kind, add in _STREAMS:
        for envelope in store.envelopes(stream, kind=kind, since=since):
            if envelope["at"] > until:
                break  # oldest first: the rest are later still
            local = period.local(envelope["at"])
            if local is None or not wanted(envelope["site"]):
                continue
            places.setdefault(envelope["device"], envelope["site"])
            for scope in figures.scopes(envelope["site"], envelope["device"]):
                add(scope, local, envelope)
    for alert in store.alerts():
        if period.local(alert.get("at")) is not None and wanted(alert["site"]):
            places.setdefault(alert["device"], alert["site"])
            for scope in figures.scopes(alert["site"], alert["device"]):
                scope.add_alert(alert)
    _add_uptime(store, figures, places, wanted)
    if practices:
        _add_practices(figures, practices, wanted)
    return figures


def _add_practices(
    figures: ReportFigures, practices: dict[str, Practice], wanted: Callable[[str], bool]
) -> None:
    """List sizes for the sites' rates; a practice nobody visited is listed too. The PCN's
    is the sum when every site shown has one."""
    figures.practices = practices
    for site in sorted(practices):
        if wanted(site):
            figures.sites.setdefault(site, SiteFigures())  # a practice nobody visited
    for site, site_figures in figures.sites.items():
        known = practices.get(site)
        site_figures.activity.list_size = known.list_size if known else None
    sizes = [practices[site].list_size for site in figures.sites if site in practices]
    whole = bool(sizes) and len(sizes) == len(figures.sites)
    figures.pcn.list_size = sum(sizes) if whole else None


def _add_uptime(
    store: PracticeStore,
    figures: ReportFigures,
    places: dict[str, str],
    wanted: Callable[[str], bool],
) -> None:
    """Each device's minutes online, offline and unknown, counted once, under its site."""
    period = figures.period
    stop = min(period.finish, figures.now)
    changes = status_changes(store.status_history())
    reports = store.reports()
    for device, seen in changes.items():
        status = reports.get(device, {}).get("status") or {}
        site = places.setdefault(device, str(status.get("site") or "")) or None
        if site is not None and wanted(site) and seen[0][0] < period.finish:
            figures.scopes(site, device)  # a device that was there, even if nobody used it
    for site, site_figures in figures.sites.items():
        for device, activity in site_figures.devices.items():
            if places.get(device, site) != site:
                continue  # a device that moved site: its minutes count once, where it is now
            uptime = device_uptime(changes.get(device, []), period.begin, stop)
            for scope in (activity, site_figures.activity, figures.pcn):
                scope.uptime.add(uptime)
