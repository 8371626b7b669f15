"""Bluetooth LE health devices over bleak: discovery, bonding, indications, RACP, reconnect.

``transport`` is the ``backend: ble`` peripheral; ``session`` one connection; ``profiles``
the GATT profiles; ``racp`` and ``battery`` pure codecs; ``dating`` when a reading was
taken; ``classify`` what a bleak/BlueZ failure means; ``api`` the bleak seam; ``scan`` the
``healthhub-agent scan`` listing. bleak is imported only when a device is used.
"""
