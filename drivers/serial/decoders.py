"""The serial frame decoders by driver name (``healthhub-agent decode --driver NAME HEX``).

Each takes a frame as its framer delivers it: the Adam MDW's ``<LF>...<ETX>`` whole, the
ACCUTORR's answer line without its CR LF.
"""

from __future__ import annotations

from healthhub.drivers.decoded import FrameDecoder
from healthhub.drivers.serial import accutorr, adam_mdw

SERIAL_DECODERS: tuple[FrameDecoder, ...] = (
    FrameDecoder(adam_mdw.NAME, adam_mdw.SOURCE, adam_mdw.decode),
    FrameDecoder(accutorr.NAME, accutorr.SOURCE, accutorr.decode),
)
