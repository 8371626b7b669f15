"""ESC/POS codec (Epson ESC/POS Application Programming Guide Ver. 10.01; TM-T81
Specification): commands byte by byte from the references, a page laid out and decoded back
(wrapping, code tables, Polish in PC852, the QR payload, the cut), malformed streams refused,
the DLE EOT 4 paper status, and fuzzing of the decoder and the round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serial_devices import fuzz_frames

from healthhub.drivers.errors import FrameError
from healthhub.drivers.serial import escpos
from healthhub.drivers.serial.escpos import (
    CharacterSize,
    Command,
    Cut,
    Emphasis,
    EscPosError,
    Initialize,
    Justify,
    LineFeed,
    QrErrorCorrection,
    QrModel,
    QrModuleSize,
    QrPrint,
    QrStore,
    Receipt,
    SelectCodePage,
    StatusRequest,
    Text,
    decode,
    encode,
    encode_receipt,
    parse_status,
    render,
)
from healthhub.drivers.serial.printer_simulator import printed_pages

URL = "https://healthhub.example.nhs.uk/pages/blood-pressure?lang=en"
POLISH_TITLE = "Ciśnienie tętnicze"
POLISH = (
    "Wysokie ciśnienie zwykle nie daje objawów. Zmierz je w przychodni lub w domu; "
    "zapisz wynik i pokaż go lekarzowi. Ogranicz sól, alkohol i palenie — ruszaj się "
    "codziennie: spacer też się liczy. Źródło: NHS, żółta broszura, łączna długość 5 ł."
)
ENGLISH = (
    "High blood pressure rarely has symptoms. The only way to find out is to have it "
    "measured: at your GP practice, at a pharmacy or at home with a validated monitor."
)


def merged(commands: list[Command]) -> list[Command]:
    """Adjacent text runs as one (the decoder gives a run as far as its bytes go)."""
    out: list[Command] = []
    for command in commands:
        if isinstance(command, Text) and out and isinstance(out[-1], Text):
            out[-1] = Text(out[-1].text + command.text)
        elif not (isinstance(command, Text) and not command.text):
            out.append(command)
    return out


# -- commands from the references ------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "raw"),
    [
        (Initialize(), b"\x1b\x40"),
        (LineFeed(), b"\x0a"),
        (Justify("center"), b"\x1b\x61\x01"),
        (Emphasis(on=True), b"\x1b\x45\x01"),
        (Emphasis(on=False), b"\x1b\x45\x00"),
        (CharacterSize(2, 2), b"\x1d\x21\x11"),  # bits 4-7 width - 1, bits 0-3 height - 1
        (CharacterSize(1, 1), b"\x1d\x21\x00"),
        (SelectCodePage("cp852"), b"\x1b\x74\x12"),  # ESC t 18: PC852 (Latin 2)
        (SelectCodePage("cp858"), b"\x1b\x74\x13"),  # ESC t 19: PC858 (Euro)
        (SelectCodePage("cp437"), b"\x1b\x74\x00"),
        (QrModel(2), bytes.fromhex("1d286b 0400 31 41 32 00")),  # <Function 165>
        (QrModuleSize(6), bytes.fromhex("1d286b 0300 31 43 06")),  # <Function 167>
        (QrErrorCorrection("M"), bytes.fromhex("1d286b 0300 31 45 31")),  # <Function 169>
        (QrStore(b"AB"), bytes.fromhex("1d286b 0500 31 50 30 4142")),  # <Function 180>
        (QrPrint(), bytes.fromhex("1d286b 0300 31 51 30")),  # <Function 181>
        (Cut(partial=True, feed=0), b"\x1d\x56\x42\x00"),  # GS V 66 0
        (Cut(partial=False, feed=3), b"\x1d\x56\x41\x03"),  # GS V 65 3
        (Cut(partial=True, feed=None), b"\x1d\x56\x31"),  # GS V 49
        (StatusRequest(4), b"\x10\x04\x04"),  # DLE EOT 4
    ],
)
def test_each_command_as_the_reference_writes_it(command: Command, raw: bytes) -> None:
    assert encode([command]) == raw
    assert decode(raw) == [command]


@pytest.mark.parametrize(
    ("raw", "command"),
    [
        (b"\x1b\x61\x30", Justify("left")),  # ESC a accepts 0-2 and 48-50
        (b"\x1b\x61\x32", Justify("right")),
        (b"\x1b\x45\xff", Emphasis(on=True)),  # only the LSB counts
        (b"\x1b\x45\xfe", Emphasis(on=False)),
        (b"\x1d\x21\x77", CharacterSize(8, 8)),
        (b"\x1d\x56\x00", Cut(partial=False, feed=None)),
        (b"\x1d\x56\x30", Cut(partial=False, feed=None)),
        (b"\x1d\x56\x01", Cut(partial=True, feed=None)),
        (bytes.fromhex("1d286b 0400 31 41 31 00"), QrModel(1)),
        (bytes.fromhex("1d286b 0300 31 45 33"), QrErrorCorrection("H")),
    ],
)
def test_every_form_the_reference_allows_decodes(raw: bytes, command: Command) -> None:
    assert decode(raw) == [command]


def test_a_qr_store_of_the_longest_length() -> None:
    data = b"x" * escpos.MAX_QR_STORE
    raw = encode([QrStore(data)])
    assert raw[3:5] == (escpos.MAX_QR_STORE + 3).to_bytes(2, "little")  # pL pH = 7092
    assert decode(raw) == [QrStore(data)]


# -- malformed and unknown streams -----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x07", id="BEL: a control byte we never send"),
        pytest.param(b"\x0d", id="CR"),
        pytest.param(b"\x7f", id="DEL"),
        pytest.param(b"\x1b\x5a", id="ESC Z: unknown"),
        pytest.param(b"\x1b\x21\x00", id="ESC ! (print mode): not ours"),
        pytest.param(b"\x1d\x6b\x00", id="GS k (barcode): not ours"),
        pytest.param(b"\x10\x05\x01", id="DLE ENQ: not ours"),
        pytest.param(b"\x1b\x61\x03", id="ESC a 3"),
        pytest.param(b"\x1d\x21\x88", id="GS ! size 9x9"),
        pytest.param(b"\x1d\x21\x08", id="GS ! height 9"),
        pytest.param(b"\x1b\x74\x63", id="ESC t 99: not a table of ours"),
        pytest.param(b"\x1b\x74\x02", id="ESC t 2: PC850 not in our table"),
        pytest.param(b"\x1d\x56\x43", id="GS V 67"),
        pytest.param(b"\x1d\x56\x61\x00", id="GS V 97: function C not ours"),
        pytest.param(b"\x10\x04\x00", id="DLE EOT 0"),
        pytest.param(b"\x10\x04\x07", id="DLE EOT 7"),
        pytest.param(b"\x1d\x28\x4c\x03\x00\x30\x45\x00", id="GS ( L: not GS ( k"),
        pytest.param(bytes.fromhex("1d286b 0300 30 41 00"), id="PDF417 (cn 48)"),
        pytest.param(bytes.fromhex("1d286b 0300 31 52 30"), id="QR fn 82 (transmit size)"),
        pytest.param(bytes.fromhex("1d286b 0400 31 41 33 00"), id="QR model 3 (micro)"),
        pytest.param(bytes.fromhex("1d286b 0400 31 41 32 01"), id="QR model n2 not 0"),
        pytest.param(bytes.fromhex("1d286b 0500 31 41 32 00 00"), id="QR model wrong length"),
        pytest.param(bytes.fromhex("1d286b 0300 31 43 00"), id="QR module 0"),
        pytest.param(bytes.fromhex("1d286b 0300 31 43 11"), id="QR module 17"),
        pytest.param(bytes.fromhex("1d286b 0300 31 45 34"), id="QR level 52"),
        pytest.param(bytes.fromhex("1d286b 0300 31 50 30"), id="QR store of nothing"),
        pytest.param(bytes.fromhex("1d286b 0400 31 50 31 41"), id="QR store m not 48"),
        pytest.param(bytes.fromhex("1d286b b51b 31 50 30"), id="QR store of 7090 bytes"),
        pytest.param(bytes.fromhex("1d286b ffff 31 50 30"), id="QR store length 65535"),
        pytest.param(bytes.fromhex("1d286b 0300 31 51 31"), id="QR print m not 48"),
        pytest.param(bytes.fromhex("1d286b 0400 31 51 30 30"), id="QR print wrong length"),
        pytest.param(b"\x1b", id="truncated ESC"),
        pytest.param(b"\x1b\x74", id="truncated ESC t"),
        pytest.param(b"\x1d\x56\x42", id="truncated GS V 66"),
        pytest.param(bytes.fromhex("1d286b 0600 31 50 30 41"), id="truncated QR store"),
        pytest.param(b"\x10\x04", id="truncated DLE EOT"),
    ],
)
def test_malformed_or_unknown_streams_raise(raw: bytes) -> None:
    with pytest.raises(EscPosError):
        decode(b"\x1b\x40Hello\n" + raw)
    assert issubclass(EscPosError, FrameError)


def test_a_bad_qr_length_is_refused_from_its_header() -> None:
    """The decoder does not wait for (and buffer) 65 KiB a header falsely announces."""
    decoder = escpos.Decoder()
    with pytest.raises(EscPosError, match="out of range"):
        decoder.feed(bytes.fromhex("1d286b ffff 31 50"))


def test_the_decoder_takes_a_stream_byte_by_byte() -> None:
    data = encode_receipt(POLISH_TITLE, [POLISH], qr=URL, footer="Przychodnia")
    decoder = escpos.Decoder()
    commands: list[Command] = []
    largest = 0
    for byte in data:
        commands += decoder.feed(bytes([byte]))
        largest = max(largest, decoder.pending)
    decoder.finish()
    assert merged(commands) == decode(data)
    assert largest < len(URL) + 8  # only an incomplete command is held back


# -- a page ---------------------------------------------------------------------------------


def test_a_page_decodes_to_what_was_laid_out() -> None:
    page = render(Receipt("Blood pressure", (ENGLISH, "Ask at reception."), URL, "Public info"))
    assert decode(page.data) == list(page.commands)
    assert page.code_page.codec == "cp437"
    assert page.replaced == 0
    commands = page.commands
    assert commands[:5] == (
        Initialize(),
        SelectCodePage("cp437"),
        Justify("center"),
        Emphasis(on=True),
        CharacterSize(2, 2),
    )
    assert commands[-1] == Cut(partial=True, feed=0)
    assert commands[-2:-1] == (Justify("left"),)
    # the cut and the QR print come at the beginning of a line (GS V and <Function 181>)
    for index, command in enumerate(commands):
        if isinstance(command, Cut | QrPrint):
            before = [c for c in commands[:index] if isinstance(c, Text | LineFeed)]
            assert isinstance(before[-1], LineFeed)


def test_the_layout_as_printed() -> None:
    [page] = printed_pages(decode(encode_receipt("Blood pressure", [ENGLISH], qr=URL, footer="x")))
    title = page.lines[0]
    assert (title.text, title.bold, title.width, title.height, title.align) == (
        "Blood pressure",
        True,
        2,
        2,
        "center",
    )
    body = [line for line in page.lines if line.text and not line.bold and line.align == "left"]
    assert " ".join(line.text for line in body) == ENGLISH
    assert page.lines[-1].text == "x"
    assert page.lines[-1].align == "center"
    [qr] = page.qr_codes
    assert (qr.data, qr.model, qr.level, qr.align) == (URL.encode(), 2, "M", "center")


@pytest.mark.parametrize("width", [32, 42, 48])
def test_text_wraps_at_the_width(width: int) -> None:
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    title = "A rather long title for a health information page"
    paragraphs = [ENGLISH, f"Word: {long_word} ends here.", "Short."]
    [page] = printed_pages(decode(encode_receipt(title, paragraphs, width_chars=width)))
    assert all(line.columns <= width for line in page.lines)
    assert max(line.columns for line in page.lines) > width - 12  # lines are filled
    titles = [line.text for line in page.lines if line.width == 2]
    assert " ".join(titles) == title
    text = "".join(line.text for line in page.lines if line.text and line.width == 1)
    assert long_word in text  # broken across lines, nothing lost
    assert page.cut == Cut(partial=True, feed=0)


def test_polish_prints_in_pc852() -> None:
    page = render(Receipt(POLISH_TITLE, (POLISH,), URL, "Informacja publiczna"))
    assert page.code_page.codec == "cp852"
    assert page.replaced == 0
    assert escpos.printable(POLISH)
    assert escpos.printable(POLISH_TITLE)
    assert b"\x1b\x74\x12" in page.data  # ESC t 18
    assert "ą".encode("cp852") in page.data  # 0xA5
    [printed] = printed_pages(decode(page.data))
    body = " ".join(line.text for line in printed.lines if line.text and line.width == 1)
    assert body.startswith(escpos.clean_text(POLISH))
    assert "—" not in body
    assert " - ruszaj" in body  # the dash transliterated
    assert printed.text[:2] == ["Ciśnienie", "tętnicze"]  # 16 double-width characters a line


def test_portuguese_prints_in_pc858_and_english_in_pc437() -> None:
    assert escpos.code_page_for(["Informação sobre a tensão arterial"])[0].codec == "cp858"
    assert escpos.code_page_for(["Café, naïve, £5"])[0].codec == "cp437"
    assert escpos.code_page_for(["Price: 5 €"])[0].codec == "cp858"


def test_what_no_table_prints_becomes_a_question_mark_and_is_reported() -> None:
    mixed = "Zażółć gęślą jaźń; informação"  # Polish and Portuguese: no one table has both
    assert not escpos.printable(mixed)
    page = render(Receipt("Title", (mixed,)))
    assert page.replaced == 1  # PC852 prints the Polish and ç, not ã
    assert page.code_page.codec == "cp852"
    text = "".join(c.text for c in decode(page.data) if isinstance(c, Text))
    assert "Zażółć gęślą jaźń; informaç?o" in text


@pytest.mark.parametrize(
    "text",
    [
        "ہائی بلڈ پریشر کی عام طور پر کوئی علامات نہیں ہوتیں",  # Urdu
        "উচ্চ রক্তচাপের সাধারণত কোনো লক্ষণ থাকে না",  # Bengali
        "ਹਾਈ ਬਲੱਡ ਪ੍ਰੈਸ਼ਰ",  # Gurmukhi
    ],
)
def test_scripts_these_printers_cannot_print_are_not_printable(text: str) -> None:
    assert not escpos.printable(text)
    page = render(Receipt(text, (text,), URL))
    letters = sum(1 for char in escpos.clean_text(text) if char != " ")
    assert page.replaced == 2 * letters  # title and paragraph: the caller offers the QR alone
    assert QrStore(URL.encode()) in decode(page.data)


def test_typographic_characters_are_transliterated() -> None:
    text = "“Quoted” – and ‘this’… • done\u00ad\u200b"
    assert escpos.clean_text(text) == "\"Quoted\" - and 'this'... * done"
    assert escpos.printable(text, "cp437")
    assert escpos.printable("Tensiunea arterială: măsuraţi-vă; ș and ț", "cp852")


def test_control_characters_in_content_never_become_commands() -> None:
    """Content with an ESC sequence in it (a cut, a code table) prints ``?``, not a command."""
    hostile = "Before\x1b\x40\x1dV\x00\x10\x04\x04after\x07"
    page = render(Receipt(hostile, (hostile,), footer=hostile))
    commands = decode(page.data)
    assert commands.count(Initialize()) == 1
    assert [c for c in commands if isinstance(c, Cut)] == [page.commands[-1]]
    assert not any(isinstance(c, StatusRequest) for c in commands)
    assert escpos.STATUS_REQUEST[:2] not in page.data
    assert page.replaced > 0


def test_the_qr_payload_is_intact_and_fits_the_paper() -> None:
    for width in (32, 48):
        for url in (URL, URL + "&x=" + "a" * 400):
            commands = decode(encode_receipt("T", [], qr=url, width_chars=width))
            assert QrStore(url.encode()) in commands
            assert QrErrorCorrection("M") in commands
            [module] = [c.dots for c in commands if isinstance(c, QrModuleSize)]
            capacity = escpos.QR_M_BYTE_CAPACITY
            version = next(v for v, n in enumerate(capacity, 1) if n >= len(url))
            symbol = (17 + 4 * version + 2 * escpos.QR_QUIET_ZONE) * module
            assert 3 <= module <= escpos.MAX_QR_MODULE
            assert symbol <= width * escpos.DOTS_PER_CHARACTER


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": "  "}, "title"),
        ({"qr": "https://x/" + "a" * 600}, "at most 512"),
        ({"qr": "https://x/\x10\x04\x04"}, "printable"),
        ({"qr": ""}, "printable"),
        ({"width_chars": 20}, "24 to 64"),
        ({"encoding": "utf-8"}, "not one of"),
    ],
)
def test_pages_that_cannot_be_laid_out(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"title": "Title", "paragraphs": ["Text."], **kwargs}
    with pytest.raises(ValueError, match=message):
        encode_receipt(**args)  # type: ignore[arg-type]


def test_a_full_cut_and_no_qr_or_footer() -> None:
    page = render(Receipt("Title", ("One.",)), cut="full")
    commands = decode(page.data)
    assert commands[-1] == Cut(partial=False, feed=0)
    assert not any(isinstance(c, QrStore | QrPrint) for c in commands)


def test_the_encoder_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="cannot print"):
        encode([SelectCodePage("cp437"), Text("ł")])
    with pytest.raises(ValueError, match="cannot print"):
        encode([Text("a\x1bb")])
    with pytest.raises(ValueError, match="1 to 8"):
        encode([CharacterSize(9, 1)])
    assert encode([SelectCodePage("cp852"), Text("ł"), Initialize(), Text("é")]) == (
        b"\x1bt\x12\x88\x1b@\x82"  # ESC @ brings back PC437
    )


# -- the paper status (DLE EOT 4, Ver. 10.01 p. 304) ------------------------------------------


@pytest.mark.parametrize(
    ("reply", "state"),
    [
        (0x12, "ok"),  # bits 1 and 4 fixed on; paper adequate and present
        (0x1E, "near_end"),  # bits 2-3: near-end sensor, paper near end
        (0x72, "out"),  # bits 5-6: end sensor, paper not present
        (0x7E, "out"),  # both
        (0x16, "near_end"),  # one near-end bit (a printer with one sensor a bit)
        (0x32, "out"),
    ],
)
def test_paper_status(reply: int, state: str) -> None:
    assert parse_status(reply).state == state
    assert parse_status(bytes([reply])).state == state


@pytest.mark.parametrize("reply", [0x00, 0x11, 0x13, 0x10, 0x02, 0x92, 0x1F, 0xFF, 0x93])
def test_bytes_that_break_the_fixed_bits_are_not_a_status(reply: int) -> None:
    with pytest.raises(EscPosError):
        parse_status(reply)


def test_a_status_is_one_byte() -> None:
    for reply in (b"", b"\x12\x12", 256, -1):
        with pytest.raises(EscPosError):
            parse_status(reply)


def test_every_byte_is_a_status_or_refused() -> None:
    accepted = 0
    for byte in range(256):
        try:
            status = parse_status(byte)
        except EscPosError:
            continue
        accepted += 1
        assert parse_status(escpos.status_byte(status)) == status
    assert accepted == 16  # bits 2, 3, 5, 6 free; 0, 1, 4, 7 fixed


# -- fuzzing ---------------------------------------------------------------------------------

TEMPLATES = [
    encode_receipt("Title", ["Text"], qr="https://a.b/c", footer="F"),
    bytes.fromhex("1d286b 0400 31 41 32 00 1d286b 0500 31 50 30 4142"),
    b"\x1b\x40\x1b\x74\x12\x1d\x21\x11\x1b\x45\x01AB\n\x1d\x56\x42\x00",
]


@settings(max_examples=3000, deadline=None)
@given(blob=st.binary(max_size=64))
def test_fuzz_decoder_raises_only_escpos_errors(blob: bytes) -> None:
    for data in fuzz_frames(blob, TEMPLATES):
        try:
            commands = decode(data)
        except EscPosError:
            continue
        assert merged(encode_and_decode(commands)) == merged(commands)


def encode_and_decode(commands: list[Command]) -> list[Command]:
    return decode(encode(commands))


ALIGNS = st.sampled_from(["left", "center", "right"])
COMMANDS = st.one_of(
    st.just(Initialize()),
    st.just(LineFeed()),
    st.just(QrPrint()),
    st.builds(Text, st.text(st.characters(codec="ascii", min_codepoint=32, max_codepoint=126))),
    st.builds(Justify, ALIGNS),
    st.builds(Emphasis, st.booleans()),
    st.builds(CharacterSize, st.integers(1, 8), st.integers(1, 8)),
    st.builds(SelectCodePage, st.sampled_from(["cp437", "cp852", "cp858"])),
    st.builds(QrModel, st.sampled_from([1, 2])),
    st.builds(QrModuleSize, st.integers(1, 16)),
    st.builds(QrErrorCorrection, st.sampled_from(["L", "M", "Q", "H"])),
    st.builds(QrStore, st.binary(min_size=1, max_size=300)),
    st.builds(Cut, st.booleans(), st.none() | st.integers(0, 255)),
    st.builds(StatusRequest, st.integers(1, 4)),
)


@settings(max_examples=1000, deadline=None)
@given(commands=st.lists(COMMANDS, max_size=30))
def test_round_trip_of_any_command_list(commands: list[Command]) -> None:
    assert merged(decode(encode(commands))) == merged(commands)


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(max_size=400),
    width=st.integers(escpos.MIN_WIDTH, escpos.MAX_WIDTH),
)
def test_any_text_lays_out_within_the_width(text: str, width: int) -> None:
    page = render(Receipt("T" + text[:40], (text,), footer=text[:60]), width_chars=width)
    [printed] = printed_pages(decode(page.data))
    assert all(line.columns <= width for line in printed.lines)
    codec = page.code_page.codec
    expected = "".join(
        c if escpos.prints(c, codec) else "?" for c in escpos.clean_text(text) if c != " "
    )
    body = [line.text for line in printed.lines if line.align == "left" and line.width == 1]
    assert "".join(body).replace(" ", "") == expected  # nothing lost, nothing reordered
