"""GPIO parts on the Pi through gpiozero: PIR, help button, status LED, ultrasonic height.

Each family registers a ``gpio`` backend (gpiozero's pin factories: lgpio on a Pi) and a
simulator that runs the same device code on gpiozero's ``MockFactory`` (``simulator``; for
the height measure ``gpio_simulator``, since ``simulator`` is the measurement-level one of
:mod:`healthhub.drivers.simulator`). gpiozero is imported inside ``run()`` only.
"""
