"""ESC/POS, the command set of Epson TM-series and kiosk thermal receipt printers: a page
encoded, an ESC/POS byte stream decoded back into commands, the paper status parsed.

What is printed: public health-information pages only (a title, a few paragraphs, a QR code
of the page's https URL, a footer). **Nothing a kiosk prints ever contains patient data**: a
slip is left in the tray, taken by the next person or binned, and the printer keeps what it
was sent in its buffer. Callers print pages of public content and nothing else; this module
adds nothing of its own.

Pure: no I/O, no globals. :func:`encode_receipt` (:func:`render` for the details) lays a page
out as a list of :data:`Command` and :func:`encode` writes them; :func:`decode` (or an
incremental :class:`Decoder`) turns a stream back into the same commands and raises
:class:`EscPosError` on anything malformed or unknown, which is what proves that the encoder
writes what we think (the tests and :mod:`~healthhub.drivers.serial.printer_simulator`).

Sources (Seiko Epson): *ESC/POS Application Programming Guide*, Ver. 10.01, "Paper roll
printers": DLE EOT (TM-T88III pages, p. 304), GS ( k <Function 181> (p. 535), GS V (TM-U210
pages, p. 373); *TM-T81 Specification (STANDARD)*, sheets 89 and 95-97: GS ( k and the QR
Code functions 165 to 181; the ESC/POS command reference for LF, ESC @, ESC a, ESC E, GS !
and ESC t. The commands written and understood, and nothing else:

=================  ===================  ====================================================
command            bytes (hex)          meaning
=================  ===================  ====================================================
LF                 0A                   print the line and feed one line
ESC @              1B 40                initialise: modes as at power-on (code table PC437)
ESC a n            1B 61 n              justify: n = 0/48 left, 1/49 centre, 2/50 right
ESC E n            1B 45 n              emphasis (bold): on when the LSB of n is 1
GS ! n             1D 21 n              size: bits 4-7 width - 1, bits 0-3 height - 1 (1-8)
ESC t n            1B 74 n              character code table: 0 PC437, 19 PC858, 18 PC852
GS ( k pL pH ...   1D 28 6B pL pH cn fn two-dimensional code; (pL + pH x 256) bytes follow pH
  <Function 165>   ... 04 00 31 41 n1 00  QR Code model: n1 = 49 model 1, 50 model 2
  <Function 167>   ... 03 00 31 43 n      module size, 1 <= n <= 16 dots
  <Function 169>   ... 03 00 31 45 n      error correction: 48 L, 49 M, 50 Q, 51 H
  <Function 180>   ... pL pH 31 50 30 d1..dk  store k = (pL + pH x 256) - 3 bytes, 1..7089
  <Function 181>   ... 03 00 31 51 30     print the stored symbol (at the beginning of a line)
GS V m             1D 56 m              cut: m = 0/48 full, 1/49 partial
GS V m n           1D 56 m n            feed to the cutting position + n, then cut:
                                        m = 65 full, 66 partial (no cutter: feed only)
DLE EOT n          10 04 n              real-time status, one byte back; n = 4 roll paper
=================  ===================  ====================================================

The answer to DLE EOT 4, roll paper sensor status (p. 304): bit 0 off, bit 1 on, bit 4 on,
bit 7 off (fixed); bits 2 and 3 near-end sensor (00 paper adequate, 11 near end); bits 5 and
6 end sensor (00 paper present, 11 no paper). A byte that breaks the fixed bits is not an
answer (:class:`EscPosError`): XON/XOFF and other stray bytes are told apart that way.

Characters: these printers print a single-byte code table chosen with ESC t, never UTF-8.
A page's text is NFC-normalised; typographic characters are transliterated (curly quotes,
dashes, ellipsis, bullets; Romanian comma-below s/t to their cedilla forms, which PC852
has); invisible format characters are dropped; any run of white space is one space.
:func:`code_page_for` then takes the first table of :data:`CODE_PAGES` that prints every
character (PC437, else PC858 for Western European languages and the euro sign, else PC852
for Latin-2 languages such as Polish). If none does, the table that prints the most is used
and each character it cannot print becomes ``?``, counted in
:attr:`EncodedReceipt.replaced`. Scripts such as Urdu, Arabic, Bengali or Gurmukhi cannot be
printed as text at all: the caller checks :func:`printable` first and offers the page's QR
code alone. Control characters never reach the printer as text (they would be commands).

Table numbers are Epson's; clones (most cheap 58 mm printers) mostly follow them, but an
installer should print a test page in each language a practice uses.
"""

from __future__ import annotations

import functools
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from healthhub.drivers.errors import FrameError

NAME = "serial.escpos"
SOURCE = "Epson ESC/POS Application Programming Guide Ver. 10.01; TM-T81 Specification"

LF, ESC, GS, DLE, EOT = 0x0A, 0x1B, 0x1D, 0x10, 0x04

#: DLE EOT 4: the roll paper sensor status, answered at once with one byte.
STATUS_REQUEST = bytes((DLE, EOT, 4))

#: Font A is 12 x 24 dots: 32 characters fill the 384 dots of 58 mm paper, 48 the 576 of
#: 80 mm paper at 203 dpi.
DOTS_PER_CHARACTER = 12
MIN_WIDTH, MAX_WIDTH = 24, 64
#: The most a page's QR code holds, in bytes (an https URL; a bound, so a symbol fits the
#: paper at three dots a module).
MAX_QR_BYTES = 512
#: <Function 180>: 4 <= (pL + pH x 256) <= 7092, so 1 to 7089 bytes of data.
MAX_QR_STORE = 7089
#: The module (dot) size for a QR symbol: the most, and the quiet zone kept on each side in
#: modules (ISO/IEC 18004; <Function 181>: "a quiet zone ... must be ensured").
MAX_QR_MODULE, QR_QUIET_ZONE = 6, 4
#: QR Code model 2, error correction M: data bytes in 8-bit byte mode, versions 1 to 20
#: (ISO/IEC 18004:2015, Table 7). A symbol of version v is 17 + 4v modules wide.
QR_M_BYTE_CAPACITY = (
    14, 26, 42, 62, 84, 106, 122, 152, 180, 213,
    251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
)  # fmt: skip

Align = Literal["left", "center", "right"]
QrLevel = Literal["L", "M", "Q", "H"]
_ALIGN_CODES: dict[Align, int] = {"left": 0, "center": 1, "right": 2}
#: ESC a n: 0 or 48 left, 1 or 49 centre, 2 or 50 right.
_ALIGNS: dict[int, Align] = {c + offset: a for a, c in _ALIGN_CODES.items() for offset in (0, 48)}
_QR_LEVELS: tuple[QrLevel, ...] = ("L", "M", "Q", "H")


class EscPosError(FrameError):
    """Bytes that are not ESC/POS as this module knows it: an unknown or malformed command,
    a stream ending inside a command, or a status answer that breaks its fixed bits."""


# -- code tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CodePage:
    codec: str  # Python's codec of the table
    table: int  # n of ESC t n
    label: str


#: The tables a page may use, in the order :func:`code_page_for` tries them.
CODE_PAGES: tuple[CodePage, ...] = (
    CodePage("cp437", 0, "PC437: USA, Standard Europe"),
    CodePage("cp858", 19, "PC858: Multilingual Latin 1 with the euro sign"),
    CodePage("cp852", 18, "PC852: Latin 2 (Polish, Czech, Slovak, Hungarian, Romanian)"),
)
_BY_CODEC = {page.codec: page for page in CODE_PAGES}
_BY_TABLE = {page.table: page for page in CODE_PAGES}
#: ESC @ brings back the power-on table, PC437 on Epson printers.
DEFAULT_CODEC = "cp437"


def code_page(codec: str) -> CodePage:
    """The table for a codec name of :data:`CODE_PAGES`; ValueError for any other."""
    try:
        return _BY_CODEC[codec]
    except KeyError:
        known = ", ".join(_BY_CODEC)
        raise ValueError(f"code page {codec!r} is not one of {known}") from None


@functools.lru_cache(maxsize=4096)
def prints(char: str, codec: str) -> bool:
    """Whether ``codec``'s table prints ``char`` as one glyph: one byte, never a control
    byte (C0 or DEL); the tables have no C1 controls."""
    try:
        encoded = char.encode(codec)
    except UnicodeEncodeError:
        return False
    return len(encoded) == 1 and 0x20 <= encoded[0] != 0x7F


def _printable_byte(byte: int) -> bool:
    return 0x20 <= byte != 0x7F


# -- commands --------------------------------------------------------------------------------


def _two_d(fn: int, params: bytes) -> bytes:
    """GS ( k for a QR Code (cn = 49) function."""
    size = 2 + len(params)
    return bytes((GS, 0x28, 0x6B, size & 0xFF, size >> 8, 49, fn)) + params


@dataclass(frozen=True)
class Initialize:
    def to_bytes(self, codec: str) -> bytes:
        return bytes((ESC, 0x40))


@dataclass(frozen=True)
class LineFeed:
    def to_bytes(self, codec: str) -> bytes:
        return bytes((LF,))


@dataclass(frozen=True)
class Text:
    """A run of printable characters in the current code table."""

    text: str

    def to_bytes(self, codec: str) -> bytes:
        if not all(prints(char, codec) for char in self.text):
            raise ValueError(f"text has characters that code page {codec} cannot print")
        return self.text.encode(codec)


@dataclass(frozen=True)
class Justify:
    align: Align

    def to_bytes(self, codec: str) -> bytes:
        return bytes((ESC, 0x61, _ALIGN_CODES[self.align]))


@dataclass(frozen=True)
class Emphasis:
    on: bool

    def to_bytes(self, codec: str) -> bytes:
        return bytes((ESC, 0x45, int(self.on)))


@dataclass(frozen=True)
class CharacterSize:
    width: int = 1
    height: int = 1

    def to_bytes(self, codec: str) -> bytes:
        if not (1 <= self.width <= 8 and 1 <= self.height <= 8):
            raise ValueError("character width and height are 1 to 8")
        return bytes((GS, 0x21, (self.width - 1) << 4 | (self.height - 1)))


@dataclass(frozen=True)
class SelectCodePage:
    codec: str

    def to_bytes(self, codec: str) -> bytes:
        return bytes((ESC, 0x74, code_page(self.codec).table))


@dataclass(frozen=True)
class QrModel:
    model: Literal[1, 2] = 2

    def to_bytes(self, codec: str) -> bytes:
        return _two_d(65, bytes((48 + self.model, 0)))


@dataclass(frozen=True)
class QrModuleSize:
    dots: int

    def to_bytes(self, codec: str) -> bytes:
        if not 1 <= self.dots <= 16:
            raise ValueError("a QR module is 1 to 16 dots")
        return _two_d(67, bytes((self.dots,)))


@dataclass(frozen=True)
class QrErrorCorrection:
    level: QrLevel

    def to_bytes(self, codec: str) -> bytes:
        return _two_d(69, bytes((48 + _QR_LEVELS.index(self.level),)))


@dataclass(frozen=True)
class QrStore:
    data: bytes

    def to_bytes(self, codec: str) -> bytes:
        if not 1 <= len(self.data) <= MAX_QR_STORE:
            raise ValueError(f"QR data is 1 to {MAX_QR_STORE} bytes")
        return _two_d(80, b"\x30" + self.data)


@dataclass(frozen=True)
class QrPrint:
    def to_bytes(self, codec: str) -> bytes:
        return _two_d(81, b"\x30")


@dataclass(frozen=True)
class Cut:
    """GS V: ``feed`` None is function A (cut where the paper is), a number function B
    (feed to the cutting position plus ``feed`` motion units, then cut)."""

    partial: bool = True
    feed: int | None = 0

    def to_bytes(self, codec: str) -> bytes:
        if self.feed is None:
            return bytes((GS, 0x56, 49 if self.partial else 48))
        if not 0 <= self.feed <= 0xFF:
            raise ValueError("a cut's feed is 0 to 255 motion units")
        return bytes((GS, 0x56, 66 if self.partial else 65, self.feed))


@dataclass(frozen=True)
class StatusRequest:
    """DLE EOT n, real-time status: 1 printer, 2 offline cause, 3 error cause, 4 roll paper."""

    n: int = 4

    def to_bytes(self, codec: str) -> bytes:
        if not 1 <= self.n <= 4:
            raise ValueError("DLE EOT n is 1 to 4")
        return bytes((DLE, EOT, self.n))


Command: TypeAlias = (
    Initialize
    | LineFeed
    | Text
    | Justify
    | Emphasis
    | CharacterSize
    | SelectCodePage
    | QrModel
    | QrModuleSize
    | QrErrorCorrection
    | QrStore
    | QrPrint
    | Cut
    | StatusRequest
)


def _codec_after(command: Command, codec: str) -> str:
    if isinstance(command, SelectCodePage):
        return command.codec
    if isinstance(command, Initialize):
        return DEFAULT_CODEC
    return codec


def encode(commands: Iterable[Command]) -> bytes:
    """The bytes of ``commands``; text in the table the stream has selected (PC437 until an
    ESC t). ValueError for a command out of its range or text the table cannot print."""
    out = bytearray()
    codec = DEFAULT_CODEC
    for command in commands:
        out += command.to_bytes(codec)
        codec = _codec_after(command, codec)
    return bytes(out)


# -- decoding --------------------------------------------------------------------------------

Parsed = tuple[Command | None, int]  # (command, bytes taken); (None, 0): wait for more bytes
Parser = Callable[[bytes, int], Parsed]


def _justify(params: bytes) -> Command:
    align = _ALIGNS.get(params[0])
    if align is None:
        raise EscPosError(f"ESC a {params[0]}: justification is 0-2 or 48-50")
    return Justify(align)


def _size(params: bytes) -> Command:
    width, height = (params[0] >> 4) + 1, (params[0] & 0x0F) + 1
    if width > 8 or height > 8:
        raise EscPosError(f"GS ! 0x{params[0]:02X}: width and height are 1 to 8")
    return CharacterSize(width, height)


def _code_table(params: bytes) -> Command:
    page = _BY_TABLE.get(params[0])
    if page is None:
        raise EscPosError(f"ESC t {params[0]}: not a code table of ours")
    return SelectCodePage(page.codec)


def _status_request(params: bytes) -> Command:
    if not 1 <= params[0] <= 4:
        raise EscPosError(f"DLE EOT {params[0]}: n is 1 to 4")
    return StatusRequest(params[0])


def _fixed(length: int, build: Callable[[bytes], Command]) -> Parser:
    """A command of ``length`` bytes: two bytes of name, then parameters."""

    def parse(buffer: bytes, pos: int) -> Parsed:
        if len(buffer) - pos < length:
            return None, 0
        return build(buffer[pos + 2 : pos + length]), length

    return parse


def _cut(buffer: bytes, pos: int) -> Parsed:
    if len(buffer) - pos < 3:
        return None, 0
    m = buffer[pos + 2]
    if m in (0, 48, 1, 49):
        return Cut(partial=m in (1, 49), feed=None), 3
    if m not in (65, 66):
        raise EscPosError(f"GS V {m}: cut functions A and B only (m = 0, 1, 48, 49, 65, 66)")
    if len(buffer) - pos < 4:
        return None, 0
    return Cut(partial=m == 66, feed=buffer[pos + 3]), 4


def _qr_model(params: bytes) -> Command:
    if params[0] not in (49, 50) or params[1] != 0:
        raise EscPosError("QR <Function 165>: n1 is 49 or 50 and n2 is 0")
    return QrModel(1 if params[0] == 49 else 2)


def _qr_module(params: bytes) -> Command:
    if not 1 <= params[0] <= 16:
        raise EscPosError(f"QR <Function 167>: module size {params[0]} is not 1 to 16")
    return QrModuleSize(params[0])


def _qr_level(params: bytes) -> Command:
    if not 48 <= params[0] <= 51:
        raise EscPosError(f"QR <Function 169>: level {params[0]} is not 48 to 51")
    return QrErrorCorrection(_QR_LEVELS[params[0] - 48])


def _qr_store(params: bytes) -> Command:
    if params[0] != 48:
        raise EscPosError("QR <Function 180>: m is 48")
    return QrStore(bytes(params[1:]))


def _qr_print(params: bytes) -> Command:
    if params[0] != 48:
        raise EscPosError("QR <Function 181>: m is 48")
    return QrPrint()


#: QR Code functions of GS ( k (cn = 49): fn -> (least and most pL + pH x 256, parser of
#: the parameters after fn).
_QR_FUNCTIONS: dict[int, tuple[int, int, Callable[[bytes], Command]]] = {
    65: (4, 4, _qr_model),
    67: (3, 3, _qr_module),
    69: (3, 3, _qr_level),
    80: (4, MAX_QR_STORE + 3, _qr_store),
    81: (3, 3, _qr_print),
}


def _two_dimensional(buffer: bytes, pos: int) -> Parsed:
    """GS ( k: checked on its header (cn, fn, length) before its body arrives, so a bad
    length never makes the decoder wait for (and buffer) thousands of bytes."""
    if len(buffer) - pos < 7:
        return None, 0
    if buffer[pos + 2] != 0x6B:
        raise EscPosError(f"GS ( 0x{buffer[pos + 2]:02X}: only GS ( k is known")
    size = buffer[pos + 3] + 256 * buffer[pos + 4]
    cn, fn = buffer[pos + 5], buffer[pos + 6]
    if cn != 49:
        raise EscPosError(f"GS ( k cn={cn}: only QR Code (cn = 49) is known")
    function = _QR_FUNCTIONS.get(fn)
    if function is None:
        raise EscPosError(f"GS ( k fn={fn}: not a QR Code function we know (65-69, 80, 81)")
    least, most, build = function
    if not least <= size <= most:
        raise EscPosError(f"GS ( k fn={fn}: (pL + pH x 256) = {size} is out of range")
    if len(buffer) - pos < 5 + size:
        return None, 0
    return build(buffer[pos + 7 : pos + 5 + size]), 5 + size


#: Commands by their first two bytes.
_COMMANDS: dict[bytes, Parser] = {
    bytes((ESC, 0x40)): _fixed(2, lambda _: Initialize()),
    bytes((ESC, 0x61)): _fixed(3, _justify),
    bytes((ESC, 0x45)): _fixed(3, lambda params: Emphasis(bool(params[0] & 1))),
    bytes((ESC, 0x74)): _fixed(3, _code_table),
    bytes((GS, 0x21)): _fixed(3, _size),
    bytes((GS, 0x28)): _two_dimensional,
    bytes((GS, 0x56)): _cut,
    bytes((DLE, EOT)): _fixed(3, _status_request),
}
_NAMES = {ESC: "ESC", GS: "GS", DLE: "DLE"}


def _command(buffer: bytes, pos: int) -> Parsed:
    if len(buffer) - pos < 2:
        return None, 0
    parser = _COMMANDS.get(buffer[pos : pos + 2])
    if parser is None:
        name, second = _NAMES[buffer[pos]], buffer[pos + 1]
        raise EscPosError(f"{name} 0x{second:02X}: not a command we know")
    return parser(buffer, pos)


class Decoder:
    """ESC/POS bytes to commands, fed as they arrive (a printer's view of its port).

    A text run is given as far as the bytes go (one run may come as several
    :class:`Text`); only an incomplete command waits for more bytes, and the longest
    command, a QR store, is under 7100 bytes: the buffer is bounded by it. Raises
    :class:`EscPosError` at the first byte it does not understand; it is then of no further
    use (a printer would resynchronise on ESC @: start a new decoder).
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._codec = DEFAULT_CODEC

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a command not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Command]:
        buffer = self._buffer + bytes(data)
        commands: list[Command] = []
        pos = 0
        while pos < len(buffer):
            command, size = self._next(buffer, pos)
            if command is None:
                break
            commands.append(command)
            self._codec = _codec_after(command, self._codec)
            pos += size
        self._buffer = buffer[pos:]
        return commands

    def finish(self) -> None:
        """The stream has ended: :class:`EscPosError` if it ended inside a command."""
        if self._buffer:
            raise EscPosError(f"the stream ends inside a command ({len(self._buffer)} bytes)")

    def _next(self, buffer: bytes, pos: int) -> Parsed:
        first = buffer[pos]
        if first == LF:
            return LineFeed(), 1
        if _printable_byte(first):
            end = pos + 1
            while end < len(buffer) and _printable_byte(buffer[end]):
                end += 1
            return Text(buffer[pos:end].decode(self._codec)), end - pos
        if first in _NAMES:
            return _command(buffer, pos)
        raise EscPosError(f"control byte 0x{first:02X}: not a command we know")


def decode(data: bytes) -> list[Command]:
    """A whole ESC/POS stream as commands (text runs whole), or :class:`EscPosError`."""
    decoder = Decoder()
    commands = decoder.feed(data)
    decoder.finish()
    return commands


# -- the paper status ------------------------------------------------------------------------

_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bits 0, 1, 4, 7: off, on, on, off
_NEAR_END_BITS, _END_BITS = 0x0C, 0x60


@dataclass(frozen=True)
class PaperStatus:
    """The roll paper sensors (DLE EOT 4). Epson sets both bits of a pair together; a
    printer with one sensor a bit (two-roll models) sets one, so either bit counts."""

    near_end: bool
    out: bool

    @property
    def state(self) -> Literal["ok", "near_end", "out"]:
        if self.out:
            return "out"
        return "near_end" if self.near_end else "ok"


def parse_status(reply: int | bytes) -> PaperStatus:
    """The answer to DLE EOT 4 (one byte), or :class:`EscPosError` if it is none."""
    if isinstance(reply, bytes | bytearray):
        if len(reply) != 1:
            raise EscPosError(f"a DLE EOT 4 answer is one byte, not {len(reply)}")
        reply = reply[0]
    if not 0 <= reply <= 0xFF:
        raise EscPosError("a DLE EOT 4 answer is one byte")
    if reply & _FIXED_MASK != _FIXED_BITS:
        raise EscPosError(f"0x{reply:02X} is not a roll paper status (fixed bits 0, 1, 4, 7)")
    return PaperStatus(near_end=bool(reply & _NEAR_END_BITS), out=bool(reply & _END_BITS))


def status_byte(status: PaperStatus) -> int:
    """The byte a printer sends for ``status`` (what the simulator answers)."""
    return (
        _FIXED_BITS | (_NEAR_END_BITS if status.near_end else 0) | (_END_BITS if status.out else 0)
    )


# -- text ------------------------------------------------------------------------------------

#: Typographic characters that no code table of ours has, as what they stand for; format
#: characters (soft hyphen, zero-width joiners, byte order mark) dropped.
_TRANSLITERATION = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′", "'"),
        **dict.fromkeys("“”„‟″", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
        **dict.fromkeys("•‣◦⁃", "*"),
        "…": "...",
        "ș": "ş",
        "Ș": "Ş",
        "ț": "ţ",
        "Ț": "Ţ",
        **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),
    }
)


def clean_text(text: str) -> str:
    """``text`` as it is laid out: NFC, transliterated, white space runs as one space."""
    text = unicodedata.normalize("NFC", text).translate(_TRANSLITERATION)
    return " ".join(text.split())


def _unprintable(texts: Iterable[str], codec: str) -> int:
    return sum(not prints(char, codec) for text in texts for char in text if char != " ")


def code_page_for(texts: Iterable[str]) -> tuple[CodePage, int]:
    """The first table of :data:`CODE_PAGES` that prints every character of ``texts``
    (cleaned), else the one that prints the most; and how many it cannot print."""
    cleaned = [clean_text(text) for text in texts]
    counts = [(_unprintable(cleaned, page.codec), index) for index, page in enumerate(CODE_PAGES)]
    missing, index = min(counts)
    return CODE_PAGES[index], missing


def printable(text: str, encoding: str | None = None) -> bool:
    """Whether ``text`` prints without a ``?``: in ``encoding`` (a codec of
    :data:`CODE_PAGES`), or in any of them. False for Urdu, Bengali and the like: offer
    the page's QR code alone."""
    if encoding is not None:
        return _unprintable([clean_text(text)], code_page(encoding).codec) == 0
    return code_page_for([text])[1] == 0


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken between words (a word longer than a
    line is broken where the line ends)."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=True)


def qr_module_size(payload_bytes: int, width_chars: int) -> int:
    """Dots a module so that the symbol for ``payload_bytes`` (model 2, level M), with its
    quiet zone, fits the paper; <Function 181> does not print a symbol wider than that."""
    version = next(
        (v for v, capacity in enumerate(QR_M_BYTE_CAPACITY, 1) if capacity >= payload_bytes),
        len(QR_M_BYTE_CAPACITY),
    )
    modules = 17 + 4 * version + 2 * QR_QUIET_ZONE
    return max(1, min(MAX_QR_MODULE, width_chars * DOTS_PER_CHARACTER // modules))


# -- a page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """A public health-information page: never patient data (the module docstring)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    qr: str | None = None  # the page's https URL
    footer: str | None = None


@dataclass(frozen=True)
class EncodedReceipt:
    data: bytes
    commands: tuple[Command, ...]
    code_page: CodePage
    replaced: int  # characters printed as "?" (none when printable() held for every text)


class _Layout:
    def __init__(self, page: CodePage) -> None:
        self.page = page
        self.replaced = 0
        self.commands: list[Command] = [Initialize(), SelectCodePage(page.codec)]

    def add(self, *commands: Command) -> None:
        self.commands.extend(commands)

    def lines(self, text: str, width: int) -> int:
        """``text`` wrapped to ``width``, one Text and LF a line; how many lines."""
        fitted = "".join(c if c == " " or prints(c, self.page.codec) else "?" for c in text)
        self.replaced += sum(a != b for a, b in zip(text, fitted, strict=True))
        lines = wrap(fitted, width)
        for line in lines:
            self.add(Text(line), LineFeed())
        return len(lines)


def _qr_payload(qr: str) -> bytes:
    data = qr.encode("utf-8")
    if not qr or not qr.isprintable():
        raise ValueError("a QR code holds printable text (the page's URL)")
    if len(data) > MAX_QR_BYTES:
        raise ValueError(f"a QR code holds at most {MAX_QR_BYTES} bytes (the page's URL)")
    return data


def render(
    receipt: Receipt,
    *,
    width_chars: int = 32,
    encoding: str | None = None,
    cut: Literal["partial", "full"] = "partial",
) -> EncodedReceipt:
    """The page as ESC/POS: initialise; select the code table (``encoding``, or
    :func:`code_page_for` when None); the title centred, bold, double width and height;
    the paragraphs left-aligned with a blank line between them; the QR code centred
    (model 2, level M, the largest module that fits, quiet zone kept); the footer centred;
    feed to the cutter and cut. ValueError for a width outside 24-64, an empty title, or a
    QR payload that is not printable text of at most :data:`MAX_QR_BYTES` bytes."""
    if not MIN_WIDTH <= width_chars <= MAX_WIDTH:
        raise ValueError(f"a line is {MIN_WIDTH} to {MAX_WIDTH} characters")
    title = clean_text(receipt.title)
    paragraphs = [text for text in map(clean_text, receipt.paragraphs) if text]
    footer = clean_text(receipt.footer or "")
    if not title:
        raise ValueError("a page needs a title")
    qr = None if receipt.qr is None else _qr_payload(receipt.qr)
    texts = [title, *paragraphs, footer]
    page = code_page_for(texts)[0] if encoding is None else code_page(encoding)
    layout = _Layout(page)
    layout.add(Justify("center"), Emphasis(on=True), CharacterSize(2, 2))
    layout.lines(title, width_chars // 2)
    layout.add(CharacterSize(1, 1), Emphasis(on=False), LineFeed(), Justify("left"))
    for index, paragraph in enumerate(paragraphs):
        if index:
            layout.add(LineFeed())
        layout.lines(paragraph, width_chars)
    if qr is not None:
        layout.add(
            LineFeed(),
            Justify("center"),
            QrModel(2),
            QrModuleSize(qr_module_size(len(qr), width_chars)),
            QrErrorCorrection("M"),
            QrStore(qr),
            QrPrint(),
            LineFeed(),
        )
    if footer:
        layout.add(LineFeed(), Justify("center"))
        layout.lines(footer, width_chars)
    layout.add(Justify("left"), Cut(partial=cut == "partial", feed=0))
    commands = tuple(layout.commands)
    return EncodedReceipt(encode(commands), commands, page, layout.replaced)


def encode_receipt(
    title: str,
    paragraphs: Sequence[str],
    *,
    qr: str | None = None,
    footer: str | None = None,
    width_chars: int = 32,
    encoding: str | None = None,
) -> bytes:
    """The ESC/POS bytes of a page (:func:`render`, which also reports the code table
    chosen and how many characters became ``?``). ``width_chars``: 32 for 58 mm paper, 48
    for 80 mm (42 on 180 dpi printers such as the TM-T88)."""
    receipt = Receipt(title, tuple(paragraphs), qr, footer)
    return render(receipt, width_chars=width_chars, encoding=encoding).data
