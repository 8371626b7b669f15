"""The unit's system files: systemd units, sysusers and tmpfiles, udev and polkit rules.

Not code: a package only so that the wheel carries them and ``healthhub-provision install``
finds them (``importlib.resources``) wherever the package is installed.
"""
