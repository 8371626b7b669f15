"""Record Access Control Point (0x2A52): the requests we write and the responses we read.

Source: Bluetooth SIG, *GATT Specification Supplement* (GSS), 3.178 Record Access Control
Point: Op Code (uint8), Operator (uint8), Operand (variable).

===========  ==========================================  ==================================
op code      meaning                                     operand
===========  ==========================================  ==================================
0x01         Report stored records                       (filter; none with "All records")
0x02         Delete stored records                       (filter; none with "All records")
0x03         Abort operation                             none, operator Null
0x04         Report number of stored records             (filter)
0x05         Number of stored records response           uint16 count, operator Null
0x06         Response code                               request op code, response code
===========  ==========================================  ==================================

Operators: 0x00 Null, 0x01 All records (the only one the Pulse Oximeter Service allows),
0x02 <=, 0x03 >=, 0x04 within range, 0x05 first record, 0x06 last record.

Response code values (GSS 3.178, "Response Code Values"): 0x01 success, 0x02 op code not
supported, 0x03 invalid operator, 0x04 operator not supported, 0x05 invalid operand,
0x06 no records found, 0x07 abort unsuccessful, 0x08 procedure not completed, 0x09 operand
not supported; other values are reserved.

:func:`parse` is pure and raises only :class:`~healthhub.drivers.errors.FrameError`
(fuzzed in tests/drivers/test_ble_racp.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from healthhub.drivers.errors import NotAValue, TruncatedFrame

NAME = "ble.racp"

REPORT_STORED = 0x01
DELETE_STORED = 0x02
ABORT = 0x03
REPORT_COUNT = 0x04
COUNT_RESPONSE = 0x05
RESPONSE_CODE = 0x06

OPERATOR_NULL = 0x00
OPERATOR_ALL = 0x01

#: The two requests the transport writes (with response: the write itself is acknowledged).
REPORT_ALL = bytes((REPORT_STORED, OPERATOR_ALL))
DELETE_ALL = bytes((DELETE_STORED, OPERATOR_ALL))


class Code(enum.IntEnum):
    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


@dataclass(frozen=True)
class Response:
    """A response code (op code 0x06) to the request with op code ``request``."""

    request: int
    code: int

    @property
    def succeeded(self) -> bool:
        return self.code == Code.SUCCESS

    @property
    def no_records(self) -> bool:
        return self.code == Code.NO_RECORDS_FOUND

    def describe(self) -> str:
        try:
            name = Code(self.code).name.lower().replace("_", " ")
        except ValueError:
            name = f"reserved code 0x{self.code:02x}"
        return f"request 0x{self.request:02x}: {name}"


@dataclass(frozen=True)
class Count:
    """The number of stored records (op code 0x05)."""

    records: int


def parse(data: bytes) -> Response | Count:
    """A response the device indicated on the RACP; FrameError if it is not one."""
    data = bytes(data)
    if len(data) < 2:
        raise TruncatedFrame(f"{NAME}: frame of {len(data)} bytes ends before op code/operator")
    op_code, operator = data[0], data[1]
    if operator != OPERATOR_NULL:
        raise NotAValue(f"{NAME}: a response carries the Null operator, not 0x{operator:02x}")
    if op_code == RESPONSE_CODE:
        if len(data) != 4:
            raise TruncatedFrame(f"{NAME}: a response code is 4 bytes, not {len(data)}")
        return Response(request=data[2], code=data[3])
    if op_code == COUNT_RESPONSE:
        if len(data) != 4:
            raise TruncatedFrame(f"{NAME}: a record count is 4 bytes, not {len(data)}")
        return Count(int.from_bytes(data[2:4], "little"))
    raise NotAValue(f"{NAME}: op code 0x{op_code:02x} is not a response")
