"""Pure decoders of the Bluetooth GATT health characteristics: bytes in, a reading out.

Source: Bluetooth SIG, *GATT Specification Supplement* (GSS, v8, 2023): 3.31 Blood Pressure
Measurement (0x2A35), 3.252 Weight Measurement (0x2A9D), 3.225 Temperature Measurement
(0x2A1C), 3.168 PLX Spot-Check Measurement (0x2A5E), 3.167 PLX Continuous Measurement
(0x2A5F), 3.113 Heart Rate Measurement (0x2A37); the medical number formats SFLOAT and FLOAT
are IEEE 11073-20601 (GSS 2.3). No I/O here: the transports (bleak) live apart, and every
decoder is fuzzed (tests/drivers/test_gatt.py).
"""
