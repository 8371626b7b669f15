"""The screens of the patient UI, as the view-models name them (each a ``.kv`` screen)."""

from __future__ import annotations

import enum


class Screen(enum.StrEnum):
    ATTRACT = "attract"
    IDENTIFY = "identify"
    HOME = "home"
    MEASURE = "measure"
    BACKGROUND = "background"  # the family-background question BMI needs
    RESULT = "result"
    SEND = "send"
    FINISHED = "finished"
    FORMS = "forms"  # the questionnaires on offer
    FORM = "form"  # a page of a form
    SIGNPOST = "signpost"  # where to get help now (crisis, 999, 111, reception, pharmacy)
    FORM_DONE = "form_done"
    INFO = "info"  # health information pages
    PAGE = "page"  # one information page
    SERVICES = "services"  # community groups and services
    SUPPORT = "support"  # digital health support sessions
