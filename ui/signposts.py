"""Where a patient is sent when a form's answers call for help now.

A form names a signpost (``signpost: crisis``, :data:`healthhub.protocol.forms.SIGNPOSTS`);
the words are here, in the UI's catalogues, so that they are translated into every language
the unit offers and reviewed once, not re-typed in every form. Sources:

- crisis: NHS England, "Where to get urgent help for mental health" (nhs.uk/nhs-services/
  mental-health-services/where-to-get-urgent-help-for-mental-health/): call 999 or go to
  A&E if a life is at risk now; NHS 111 and choose the mental health option (option 2),
  24 hours a day; Samaritans, free on 116 123, any time (samaritans.org).
- emergency: nhs.uk "When to call 999" (chest pain, breathing, stroke signs, heavy bleeding).
- urgent: nhs.uk "When to use 111".
- pharmacy: NHS Pharmacy Stop Smoking Service (NHS England, 2024) and NICE NG209.

The practice and its clinical safety officer own this wording (hazard log, H43).
"""

from __future__ import annotations

from dataclasses import dataclass

from healthhub.ui.i18n import N_


@dataclass(frozen=True)
class Signpost:
    name: str
    title: str
    lines: tuple[str, ...]
    urgent: bool  # shown in the urgent colour, with the urgent symbol


SIGNPOSTS: dict[str, Signpost] = {
    signpost.name: signpost
    for signpost in (
        Signpost(
            "crisis",
            N_("You do not have to cope alone. Help is available now."),
            (
                N_("If your life is at risk right now, call 999 or tell reception now."),
                N_("Call NHS 111 and choose option 2 for mental health help, day or night."),
                N_("Samaritans: call 116 123, free, at any time."),
                N_("You can speak to someone at reception now."),
            ),
            urgent=True,
        ),
        Signpost(
            "emergency",
            N_("This could be an emergency."),
            (
                N_("Tell reception now, or call 999."),
                N_("Do not wait for an appointment."),
            ),
            urgent=True,
        ),
        Signpost(
            "urgent",
            N_("You need advice today."),
            (
                N_("Please speak to reception now, or call NHS 111."),
                N_("If it gets worse, call 999."),
            ),
            urgent=True,
        ),
        Signpost(
            "reception",
            N_("Please speak to reception."),
            (N_("The team at reception can help you with this."),),
            urgent=False,
        ),
        Signpost(
            "pharmacy",
            N_("Help to stop smoking is free."),
            (
                N_("Many pharmacies give free support and medicines to help you stop."),
                N_("Ask a pharmacist, or ask at reception about the local stop smoking service."),
            ),
            urgent=False,
        ),
    )
}

#: Said under a signpost when a form's action told staff.
STAFF_TOLD = N_("We have told the staff. Someone will come to see you.")
