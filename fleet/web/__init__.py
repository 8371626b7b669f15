"""The practice dashboard (``healthhub-fleet serve``): fleet status, alerts, reports for staff.

:mod:`.app` builds the Flask application; :mod:`.auth` is who may do what; :mod:`.guard`
runs around every request (session, CSRF, security headers); :mod:`.login`, :mod:`.views`
and :mod:`.reports` are the pages; :mod:`.store_access` is the one way to the store.
"""
