"""The patient UI (`healthhub-kiosk`): Kivy screens bound to plain-Python view-models.

It talks only to its agent, over the local API (:mod:`healthhub.protocol.local_api`);
it never touches a driver or the broker, and it writes nothing about a patient to
disk or to a log.
"""
