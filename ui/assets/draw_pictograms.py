"""Draw the pictograms of the patient UI: one per instruction step, tile and result symbol.

Run ``.venv/bin/python ui/assets/draw_pictograms.py`` to remake every PNG in ``steps/``,
``tiles/`` and ``symbols/`` beside this script. The PNGs are committed;
``tests/ui/test_pictograms.py`` fails when a drawing here changes and they were not remade.

One visual language for all of them, so that a patient learns it once:

* a rounded white card with a pale border, so every picture sits on any theme;
* the patient is a dark figure (round head, rounded limbs, no skin colour);
* the measuring device is blue; the surroundings (chair, table, wall, floor) are grey;
* green and red only where they carry meaning (a normal result, "act now");
* no text, letters or digits anywhere: the UI speaks eight languages.

Each picture is drawn in 384x384 "picture units" at 4x the size and downsampled with
LANCZOS; nothing time-dependent is written, so a re-run gives the same pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw

SIZE = 384  # pixels of the finished PNG, and the picture units every drawing uses
SS = 4  # supersampling factor

WHITE = "#ffffff"
PALE = "#d8dde0"  # the card's border, screens and surfaces such as a table top
INK = "#212b32"  # strokes and people
GREY = "#768692"  # surroundings: furniture, floor, walls
BLUE = "#005eb8"  # the accent: the device being used
GREEN = "#007f3b"  # only for "normal / done"
RED = "#d5281b"  # only for "stop / act now"
AMBER = "#ffb81c"  # only for "needs attention"

STROKE = 14.0  # the standard outline width
HALO = 7.0  # white gap that separates a shape drawn over another

Point = tuple[float, float]


class Canvas:
    """A card in picture units; shapes are clipped to the card and drawn at SS times."""

    MARGIN = 8.0
    RADIUS = 48.0
    BORDER_WIDTH = 6.0

    def __init__(self) -> None:
        self.img = Image.new("RGBA", (SIZE * SS, SIZE * SS), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.img)

    # -- primitives, all in picture units ------------------------------------------------

    @staticmethod
    def _xy(points: Sequence[Point]) -> list[tuple[float, float]]:
        return [(x * SS, y * SS) for x, y in points]

    @staticmethod
    def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (x0 * SS, y0 * SS, x1 * SS, y1 * SS)

    def disc(self, centre: Point, r: float, fill: str) -> None:
        x, y = centre
        self.draw.ellipse(self._box(x - r, y - r, x + r, y + r), fill=fill)

    def circle(
        self,
        centre: Point,
        r: float,
        *,
        fill: str | None = None,
        outline: str | None = None,
        width: float = STROKE,
        halo: float = 0.0,
    ) -> None:
        """A circle of radius ``r`` to the middle of its outline."""
        x, y = centre
        if halo:
            self.disc(centre, r + width / 2 + halo, WHITE)
        if fill:
            self.disc(centre, r, fill)
        if outline:
            o = r + width / 2
            self.draw.ellipse(
                self._box(x - o, y - o, x + o, y + o), outline=outline, width=round(width * SS)
            )

    def ellipse(self, box: tuple[float, float, float, float], colour: str, width: float) -> None:
        """The outline of the ellipse inscribed in ``box`` (outer edge)."""
        self.draw.ellipse(self._box(*box), outline=colour, width=round(width * SS))

    def left_half_disc(self, centre: Point, r: float, fill: str) -> None:
        x, y = centre
        self.draw.pieslice(self._box(x - r, y - r, x + r, y + r), 90, 270, fill=fill)

    def line(
        self, points: Sequence[Point], colour: str, width: float = STROKE, *, halo: float = 0.0
    ) -> None:
        """A polyline with round caps and round joins."""
        if halo:
            self.line(points, WHITE, width + 2 * halo)
        if len(points) > 1:
            self.draw.line(self._xy(points), fill=colour, width=round(width * SS), joint="curve")
        for p in points:
            self.disc(p, width / 2, colour)

    def shape(
        self,
        points: Sequence[Point],
        *,
        fill: str | None = None,
        outline: str | None = None,
        width: float = STROKE,
        rounding: float = 0.0,
        halo: float = 0.0,
    ) -> None:
        """A polygon with round corners: ``rounding`` grows the fill by that much, rounded."""
        ring = [*points, points[0]]
        if halo:
            grow = max(width / 2 if outline else 0.0, rounding)
            self.draw.polygon(self._xy(points), fill=WHITE)
            self.line(ring, WHITE, 2 * (grow + halo))
        if fill:
            self.draw.polygon(self._xy(points), fill=fill)
            if rounding:
                self.line(ring, fill, 2 * rounding)
        if outline:
            self.line(ring, outline, width)

    def rect(
        self,
        box: tuple[float, float, float, float],
        r: float,
        *,
        fill: str | None = None,
        outline: str | None = None,
        width: float = STROKE,
        halo: float = 0.0,
    ) -> None:
        """A rounded rectangle; with an outline, ``box`` is the middle of the outline."""
        x0, y0, x1, y1 = box
        o = width / 2 if outline else 0.0
        if halo:
            h = o + halo
            self.draw.rounded_rectangle(
                self._box(x0 - h, y0 - h, x1 + h, y1 + h), radius=(r + h) * SS, fill=WHITE
            )
        self.draw.rounded_rectangle(
            self._box(x0 - o, y0 - o, x1 + o, y1 + o),
            radius=(r + o) * SS,
            fill=fill,
            outline=outline,
            width=round(width * SS) if outline else 0,
        )

    def arc(
        self,
        centre: Point,
        r: float,
        start: float,
        end: float,
        colour: str,
        *,
        width: float = STROKE,
    ) -> None:
        """An arc with round caps; angles in degrees, clockwise from three o'clock."""
        self.line(arc_points(centre, r, start, end), colour, width)

    def dashed(
        self, a: Point, b: Point, colour: str, width: float = 8.0, dash: float = 16.0
    ) -> None:
        """A straight dashed line from ``a`` to ``b`` with round dashes."""
        length = math.dist(a, b)
        count = max(1, round((length + dash) / (2 * dash)))
        step = (length - dash) / max(1, count - 1) if count > 1 else 0.0
        ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
        for i in range(count):
            s = i * step
            p = (a[0] + ux * s, a[1] + uy * s)
            q = (p[0] + ux * (dash - width), p[1] + uy * (dash - width))
            self.line([p, q], colour, width)

    # -- output ----------------------------------------------------------------------------

    def finish(self) -> Image.Image:
        """The card with the drawing clipped to it, downsampled to SIZE x SIZE."""
        m = self.MARGIN
        card_box = self._box(m, m, SIZE - m, SIZE - m)
        radius = self.RADIUS * SS
        mask = Image.new("L", self.img.size, 0)
        ImageDraw.Draw(mask).rounded_rectangle(card_box, radius=radius, fill=255)
        content = self.img.copy()
        content.putalpha(ImageChops.multiply(content.getchannel("A"), mask))
        out = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        ImageDraw.Draw(out).rounded_rectangle(card_box, radius=radius, fill=WHITE)
        out.alpha_composite(content)
        ImageDraw.Draw(out).rounded_rectangle(
            card_box, radius=radius, outline=PALE, width=round(self.BORDER_WIDTH * SS)
        )
        return out.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


# -- geometry --------------------------------------------------------------------------------


def arc_points(centre: Point, r: float, start: float, end: float, step: float = 3.0) -> list[Point]:
    """Points along an arc; angles in degrees, clockwise from three o'clock (y is down)."""
    n = max(2, math.ceil(abs(end - start) / step) + 1)
    cx, cy = centre
    out: list[Point] = []
    for i in range(n):
        a = math.radians(start + (end - start) * i / (n - 1))
        out.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return out


def along(origin: Point, angle: float, forward: float, side: float = 0.0) -> Point:
    """The point ``forward`` along ``angle`` (degrees) from ``origin`` and ``side`` to its left."""
    a = math.radians(angle)
    ux, uy = math.cos(a), math.sin(a)
    return (origin[0] + ux * forward + uy * side, origin[1] + uy * forward - ux * side)


def heart_points(centre: Point, width: float) -> list[Point]:
    """The classic heart curve, ``width`` wide, centred on ``centre``."""
    cx, cy = centre
    k = width / 32.0
    out: list[Point] = []
    for i in range(120):
        t = 2 * math.pi * i / 120
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        out.append((cx + k * x, cy - k * (y + 2.5)))
    return out


# -- shared drawing helpers ------------------------------------------------------------------


def arrow(
    c: Canvas, points: Sequence[Point], colour: str, width: float = 16.0, head: float = 34.0
) -> None:
    """A line along ``points`` ending in a rounded triangular arrowhead."""
    (x0, y0), (x1, y1) = points[-2], points[-1]
    length = math.dist((x0, y0), (x1, y1))
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    base = (x1 - ux * head * 0.8, y1 - uy * head * 0.8)
    c.line([*points[:-1], base], colour, width)
    tip = (x1, y1)
    left = (base[0] - uy * head * 0.75, base[1] + ux * head * 0.75)
    right = (base[0] + uy * head * 0.75, base[1] - ux * head * 0.75)
    c.shape([tip, left, right], fill=colour, rounding=4.0)


def heart(c: Canvas, centre: Point, width: float, colour: str) -> None:
    """A filled heart, ``width`` wide."""
    c.shape(heart_points(centre, width), fill=colour)


def floor(c: Canvas, y: float = 344.0, x0: float = 40.0, x1: float = 344.0) -> None:
    """A grey floor line."""
    c.line([(x0, y), (x1, y)], GREY, 12.0)


def bust(c: Canvas, x: float, head_y: float, r: float, colour: str, *, halo: float = 0.0) -> None:
    """Head and shoulders: a round head above a rounded body that runs off the card."""
    w = r * 1.75
    top = head_y + r * 1.35
    c.rect((x - w, top, x + w, top + r * 4), r * 1.1, fill=colour, halo=halo)
    c.circle((x, head_y), r, fill=colour, halo=halo)


def standing_person(c: Canvas, x: float, head_y: float) -> None:
    """A person seen from the front, standing straight with the arms by the sides.

    The figure is 280 units tall, from ``head_y - 28`` to the soles.
    """
    c.circle((x, head_y), 28, fill=INK)
    c.line([(x, head_y + 70), (x, head_y + 140)], INK, 64)
    for side in (-1, 1):
        arm = [(x + side * 48, head_y + 52), (x + side * 52, head_y + 150)]
        c.line(arm, INK, 24, halo=5)
        leg = [(x + side * 16, head_y + 150), (x + side * 17, head_y + 238)]
        c.line(leg, INK, 30)
    c.line([(x - 16, head_y + 150), (x + 16, head_y + 150)], INK, 30)


def monitor(
    c: Canvas, box: tuple[float, float, float, float], *, button: bool = True, halo: float = 0.0
) -> Point:
    """A blue measuring box with a pale screen and a round button; returns the button centre."""
    x0, y0, x1, y1 = box
    c.rect(box, 24, fill=BLUE, halo=halo)
    pad = (x1 - x0) * 0.13
    screen_bottom = y0 + (y1 - y0) * 0.48
    c.rect((x0 + pad, y0 + pad, x1 - pad, screen_bottom), 10, fill=PALE)
    centre = ((x0 + x1) / 2, (screen_bottom + y1) / 2)
    if button:
        r = min(x1 - x0, y1 - screen_bottom) * 0.23
        c.circle(centre, r, fill=WHITE)
    return centre


def screen_trace(c: Canvas, box: tuple[float, float, float, float]) -> None:
    """A pulse trace across a screen: a reading without digits."""
    x0, y0, x1, y1 = box
    my = (y0 + y1) / 2
    h = (y1 - y0) * 0.32
    w = x1 - x0
    pts = [
        (x0, my),
        (x0 + w * 0.3, my),
        (x0 + w * 0.4, my - h),
        (x0 + w * 0.52, my + h),
        (x0 + w * 0.62, my),
        (x1, my),
    ]
    c.line(pts, INK, 8)


def thermometer_gun(c: Canvas, nozzle: Point, s: float = 1.0) -> None:
    """A contactless (infrared) thermometer pointing left, ``nozzle`` at its tip."""
    x, y = nozzle

    def p(dx: float, dy: float) -> Point:
        return (x + dx * s, y + dy * s)

    grip = [p(70, 20), p(118, 20), p(138, 120), p(96, 126)]
    c.shape(grip, fill=BLUE, rounding=12 * s, halo=HALO)
    c.rect((*p(0, -24), *p(150, 36)), 26 * s, fill=BLUE, halo=HALO)
    c.rect((*p(-12, -12), *p(10, 24)), 6 * s, fill=INK)
    c.rect((*p(96, -10), *p(134, 16)), 6 * s, fill=PALE)
    c.line([p(96, 40), p(100, 60)], WHITE, 8 * s)


def oximeter_side(
    c: Canvas,
    mouth: Point,
    length: float = 120.0,
    *,
    k: float = 1.0,
    open_by: float = 0.0,
    finger: bool = False,
) -> tuple[float, float, float, float]:
    """A fingertip pulse oximeter seen from the side: a clip that opens to the left.

    ``mouth`` is where the fingertip goes in, ``length`` how far the clip reaches to the
    right, ``k`` scales its thickness and ``open_by`` (degrees) lifts the top jaw. With
    ``finger`` a fingertip is drawn clamped inside. Returns the display's box.
    """
    mx, my = mouth
    right = mx + length
    gap = 17 * k
    back = right - 38 * k
    hinge = (right - 14 * k, my - gap)
    c.rect((mx, my + gap, right, my + 46 * k), 14 * k, fill=BLUE, halo=4)
    c.rect((back, my - gap - 8 * k, right, my + 46 * k), 14 * k, fill=BLUE)
    if finger:
        c.line([(mx - 60, my), (back - gap, my)], INK, 2 * gap - 8)
    a = math.radians(-open_by)

    def turned(px: float, py: float) -> Point:
        dx, dy = px - hinge[0], py - hinge[1]
        return (
            hinge[0] + dx * math.cos(a) - dy * math.sin(a),
            hinge[1] + dx * math.sin(a) + dy * math.cos(a),
        )

    def box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
        return [turned(x0, y0), turned(x1, y0), turned(x1, y1), turned(x0, y1)]

    r = 14 * k
    top = box(mx + r, my - 68 * k + r, right - r, my - gap - r)
    c.shape(top, fill=BLUE, rounding=r, halo=4)
    display = (mx + 18 * k, my - 56 * k, right - 46 * k, my - 30 * k)
    c.shape(box(*display), fill=PALE, rounding=4 * k)
    return display


def handset(c: Canvas, centre: Point, size: float, colour: str) -> None:
    """A telephone handset, ear piece top left and mouth piece bottom right, ``size`` across."""
    x0, y0 = centre[0] - size / 2, centre[1] - size / 2
    # in units of ``size``: a thick quarter ring around the top right corner, with an ear
    # and a mouth piece that stand in towards that corner
    outer = arc_points((1.0, 0.0), 0.95, 90, 180, step=6)
    inner = arc_points((1.0, 0.0), 0.74, 152, 118, step=6)
    outline = [(0.05, 0.0), (0.44, 0.0), (0.46, 0.22), *inner, (0.78, 0.54), (1.0, 0.56), *outer]
    c.shape([(x0 + u * size, y0 + v * size) for u, v in outline], fill=colour, rounding=size * 0.05)


def house(c: Canvas, centre: Point, size: float, colour: str) -> None:
    """A house: a pitched roof over a square with a door, ``size`` wide."""
    x, y = centre
    h = size / 2
    outline = [
        (0, -1.05),
        (1, -0.1),
        (0.78, -0.1),
        (0.78, 0.9),
        (-0.78, 0.9),
        (-0.78, -0.1),
        (-1, -0.1),
    ]
    c.shape([(x + u * h, y + v * h) for u, v in outline], fill=colour, rounding=size * 0.05)
    c.rect((x - h * 0.2, y + h * 0.3, x + h * 0.2, y + h * 0.95), size * 0.04, fill=WHITE)


# -- steps: blood pressure -------------------------------------------------------------------


def chair(c: Canvas, back_x: float, seat_y: float, front_x: float, floor_y: float = 344.0) -> None:
    """A chair seen from the side, facing right."""
    c.line([(back_x, seat_y - 170), (back_x, floor_y)], GREY, 14)
    c.line([(back_x, seat_y), (front_x, seat_y)], GREY, 14)
    c.line([(front_x - 6, seat_y), (front_x - 6, floor_y)], GREY, 14)


def seated_person(c: Canvas, x: float, seat_y: float, knee_x: float, floor_y: float) -> None:
    """A person sitting upright facing right: back straight, thighs level, feet flat."""
    hip_y = seat_y - 26
    c.circle((x + 4, hip_y - 158), 30, fill=INK)
    c.line([(x, hip_y - 98), (x, hip_y - 14)], INK, 62)
    c.line([(x + 4, hip_y), (knee_x, hip_y)], INK, 38)
    c.line([(knee_x, hip_y), (knee_x, floor_y - 16)], INK, 32)
    c.line([(knee_x - 6, floor_y - 15), (knee_x + 40, floor_y - 15)], INK, 22)


def bp_sit(c: Canvas) -> None:
    """Sitting upright, back against the chair, feet flat on the floor, hands in the lap."""
    floor(c)
    chair(c, back_x=96, seat_y=282, front_x=222)
    seated_person(c, x=134, seat_y=282, knee_x=254, floor_y=344)
    c.line([(140, 158), (156, 224), (226, 226)], INK, 24, halo=HALO)


def shirted_person(c: Canvas, sleeve_to: float) -> float:
    """A person from the front in a grey top; the arm on the right is bare below ``sleeve_to``.

    Returns the x of the bare arm.
    """
    c.circle((150, 66), 34, fill=INK)
    c.rect((96, 118, 204, 420), 44, fill=GREY)
    c.line([(84, 150), (78, 330)], GREY, 40, halo=5)
    shoulder, wrist = (226.0, 150.0), (236.0, 318.0)
    c.line([shoulder, wrist], INK, 40, halo=5)
    c.circle((237, 334), 22, fill=INK)
    c.line([shoulder, (shoulder[0] + 1, sleeve_to)], GREY, 40)
    return shoulder[0] + 1


def rolled_sleeve(c: Canvas, x: float, y: float) -> None:
    """Two rolls of cloth around the arm at height ``y``."""
    for dy in (0, 24):
        c.rect((x - 32, y + dy - 10, x + 32, y + dy + 12), 11, fill=GREY, halo=4)


def bp_sleeve(c: Canvas) -> None:
    """A sleeve rolled up off the upper arm (arrow up): no tight clothing under the cuff."""
    arm_x = shirted_person(c, 160)
    rolled_sleeve(c, arm_x, 166)
    arrow(c, [(306, 300), (306, 170)], BLUE, 18, 48)


def bp_cuff(c: Canvas) -> None:
    """The cuff wrapped on the bare upper arm, its tube running up to the monitor."""
    arm_x = shirted_person(c, 150)
    rolled_sleeve(c, arm_x, 150)
    c.line([(252, 232), (286, 232), (300, 214), (300, 150)], BLUE, 10)
    c.rect((196, 200, 258, 262), 12, fill=BLUE, halo=5)
    monitor(c, (252, 52, 344, 148))


def bp_arm_heart(c: Canvas) -> None:
    """From the front: sitting at a table, arm resting on it, cuff level with the heart."""
    c.circle((130, 62), 34, fill=INK)
    c.rect((66, 112, 194, 300), 44, fill=INK)
    level = 190.0
    shoulder, elbow, hand = (178.0, 136.0), (248.0, 252.0), (326.0, 252.0)
    c.line([shoulder, elbow, hand], INK, 30, halo=5)
    c.circle((332, 250), 18, fill=INK)
    # the cuff is a band across the upper arm where the arm crosses the heart's level
    t = (level - shoulder[1]) / (elbow[1] - shoulder[1])
    cx = shoulder[0] + t * (elbow[0] - shoulder[0])
    ang = math.degrees(math.atan2(elbow[1] - shoulder[1], elbow[0] - shoulder[0]))
    centre = (cx, level)
    cuff = [along(centre, ang, f, s) for f, s in ((-26, 30), (26, 30), (26, -30), (-26, -30))]
    c.rect((24, 272, 360, 420), 0, fill=GREY, halo=5)
    c.dashed((140, level), (352, level), BLUE, 8, 18)
    c.shape(cuff, fill=BLUE, rounding=6, halo=5)
    heart(c, (116, level), 46, WHITE)


def calm_face(c: Canvas, centre: Point, r: float) -> None:
    """A face with closed, relaxed eyes and closed lips: "stay still and quiet"."""
    x, y = centre
    c.circle(centre, r, fill=WHITE, outline=INK, width=12)
    for dx in (-0.38, 0.38):
        c.arc((x + dx * r, y - 0.12 * r), 0.2 * r, 20, 160, INK, width=10)
    c.arc((x, y - 0.1 * r), 0.52 * r, 62, 118, INK, width=10)


def pointing_hand(c: Canvas, tip: Point, angle: float) -> None:
    """A hand seen from the side, index finger pointing along ``angle`` (degrees) to ``tip``."""
    knuckle = along(tip, angle, -74)
    fist = [
        along(knuckle, angle, 0, 10),
        along(knuckle, angle, 0, -46),
        along(knuckle, angle, -64, -46),
        along(knuckle, angle, -64, 10),
    ]

    def parts(colour: str, grow: float) -> None:
        c.shape(fist, fill=colour, rounding=18 + grow)
        c.line([along(tip, angle, -13), along(knuckle, angle, -10)], colour, 26 + 2 * grow)
        wrist = [along(knuckle, angle, -220, -20), along(knuckle, angle, -60, -20)]
        c.line(wrist, colour, 56 + 2 * grow)

    parts(WHITE, HALO)
    parts(INK, 0)


def bp_start(c: Canvas) -> None:
    """A finger presses the start button; a calm face with closed lips: keep still and quiet."""
    button = monitor(c, (164, 40, 344, 232))
    screen_trace(c, (198, 70, 310, 126))
    r = 30.0
    # the power symbol on the start button: a shape known in every language
    c.arc(button, r * 0.55, -60, 240, BLUE, width=8)
    c.line([(button[0], button[1] - r * 0.75), (button[0], button[1] - r * 0.2)], BLUE, 8)
    pointing_hand(c, along(button, 58, 26), -122)
    calm_face(c, (94, 96), 50)


# -- steps: weight and height ---------------------------------------------------------------


def shoe(c: Canvas, heel: Point, length: float) -> None:
    """A low shoe seen from the side, toe to the right; ``heel`` is the back of the sole."""
    x, y = heel
    k = length / 140

    def p(dx: float, dy: float) -> Point:
        return (x + dx * k, y + dy * k)

    upper = [p(0, -60), p(38, -60), p(58, -38), p(110, -26), p(140, -10), p(140, 0), p(0, 0)]
    c.shape(upper, fill=WHITE, outline=INK, width=12)
    c.line([p(0, 0), p(140, 0)], INK, 20)
    c.line([p(62, -30), p(80, -44)], INK, 8)
    c.line([p(80, -24), p(98, -38)], INK, 8)


def weight_shoes(c: Canvas) -> None:
    """Take your shoes off: a shoe moves away (arrow) from feet in socks."""
    floor(c)
    for x in (58, 132):
        foot = [
            (x, -20),
            (x + 34, -20),
            (x + 32, 272),
            (x + 62, 300),
            (x + 64, 338),
            (x - 6, 338),
            (x - 4, 290),
        ]
        c.shape(foot, fill=INK, rounding=8, halo=4)
        c.line([(x - 2, 244), (x + 36, 244)], WHITE, 6)
    shoe(c, (222, 292), 130)
    curve = arc_points((250, 250), 86, 200, 330)
    arrow(c, curve, BLUE, 16, 42)


def weight_stand(c: Canvas) -> None:
    """Stand still on the scale, arms by your sides."""
    c.rect((72, 300, 312, 352), 18, fill=BLUE)
    c.rect((164, 318, 220, 338), 6, fill=PALE)
    standing_person(c, 192, 58)


def height_stand(c: Canvas) -> None:
    """Heels against the height rule, head bar on the head, looking straight ahead."""
    floor(c, x0=60)
    c.rect((80, 20, 100, 344), 4, fill=GREY)
    for y in range(60, 330, 32):
        c.line([(84, y), (96, y)], WHITE, 5)
    c.rect((70, 52, 230, 70), 6, fill=BLUE)
    x = 136.0
    c.circle((x + 6, 102), 32, fill=INK)
    c.line([(x, 166), (x, 236)], INK, 58)
    c.line([(x, 244), (x, 318)], INK, 34)
    c.line([(x - 16, 326), (x + 42, 326)], INK, 22)
    c.line([(x + 6, 168), (x + 10, 250)], INK, 22, halo=5)
    c.disc((x + 24, 96), 5, WHITE)
    c.dashed((196, 98), (296, 98), BLUE, 8, 18)
    arrow(c, [(290, 98), (340, 98)], BLUE, 8, 30)


# -- steps: pulse oximeter -------------------------------------------------------------------


def side_hand(c: Canvas, tip: Point) -> None:
    """A fist seen from the side with the index finger pointing right to ``tip``."""
    x, y = tip

    def parts(colour: str, grow: float) -> None:
        c.rect(
            (x - 190 - grow, y - 14 - grow, x - 100 + grow, y + 64 + grow), 30 + grow, fill=colour
        )
        c.line([(x - 120, y), (x - 15, y)], colour, 30 + 2 * grow)
        c.line([(x - 400, y + 30), (x - 180, y + 30)], colour, 60 + 2 * grow)

    parts(WHITE, HALO)
    parts(INK, 0)


def spo2_finger(c: Canvas) -> None:
    """Push a finger into the open fingertip clip (arrow)."""
    side_hand(c, (176, 232))
    oximeter_side(c, (196, 232), 150, k=1.2, open_by=14)
    arrow(c, [(50, 120), (160, 120)], INK, 14, 40)


def spo2_still(c: Canvas) -> None:
    """From above: a hand lying flat on a table, the clip on the index finger."""
    c.rect((28, 84, 356, 300), 18, fill=PALE, outline=GREY, width=8)
    c.line([(-40, 214), (110, 210)], INK, 72)
    c.line([(140, 180), (206, 118)], INK, 30)
    c.rect((96, 152, 214, 262), 44, fill=INK)
    for y, tip in ((166, 292), (198, 306), (230, 296), (258, 270)):
        c.line([(190, y), (tip, y)], INK, 28, halo=3)
    c.rect((238, 134, 318, 198), 16, fill=BLUE, halo=HALO)
    c.rect((252, 146, 296, 186), 6, fill=PALE)


# -- steps: temperature ----------------------------------------------------------------------


def temp_forehead(c: Canvas) -> None:
    """The contactless thermometer pointed at the forehead."""
    bust(c, 112, 150, 58, INK)
    target = (126.0, 118.0)
    thermometer_gun(c, (232, 118), 0.8)
    for dy in (-18, 18):
        c.dashed((214, 118 + dy * 0.6), (target[0] + 34, target[1] + dy * 0.2), BLUE, 7, 14)
    c.circle(target, 12, fill=WHITE, outline=BLUE, width=8)


def temp_wait(c: Canvas) -> None:
    """The thermometer beeps (sound waves): wait for the beep."""
    thermometer_gun(c, (52, 150), 1.1)
    for r in (36, 74, 112):
        c.arc((232, 160), r, -40, 40, INK, width=14)


# -- tiles -----------------------------------------------------------------------------------


def tile_blood_pressure(c: Canvas) -> None:
    """Blood pressure: a cuff on an arm, tube to a monitor."""
    c.line([(96, -20), (96, 400)], INK, 70)
    c.rect((46, 130, 146, 226), 14, fill=BLUE, halo=HALO)
    monitor(c, (200, 96, 344, 318), halo=HALO)
    screen_trace(c, (224, 124, 320, 184))
    c.line([(146, 190), (164, 190), (174, 206), (174, 262), (200, 262)], BLUE, 12)


def tile_weight_height(c: Canvas) -> None:
    """Weight and height: a scale in front of a height rule."""
    c.rect((236, 36, 258, 300), 4, fill=INK)
    for y in range(70, 290, 30):
        c.line([(240, y), (252, y)], WHITE, 5)
    c.rect((120, 66, 264, 86), 6, fill=BLUE)
    c.rect((56, 286, 328, 344), 20, fill=BLUE, halo=HALO)
    c.rect((160, 304, 224, 326), 6, fill=PALE)


def tile_pulse_oxygen(c: Canvas) -> None:
    """Pulse and oxygen: a finger in a fingertip clip showing a heart."""
    c.line([(-20, 224), (120, 224)], INK, 46)
    x0, y0, x1, y1 = oximeter_side(c, (120, 224), 220, k=1.4, finger=True)
    heart(c, ((x0 + x1) / 2, (y0 + y1) / 2), 36, BLUE)


def tile_temperature(c: Canvas) -> None:
    """Temperature: a thermometer."""
    c.rect((164, 40, 220, 280), 28, fill=WHITE, outline=INK)
    for i, y in enumerate(range(70, 250, 30)):
        c.line([(240, y), (266 if i % 2 else 282, y)], INK, 10)
    c.line([(192, 140), (192, 290)], BLUE, 26)
    c.circle((192, 296), 46, fill=BLUE, outline=INK)


def tile_questionnaire(c: Canvas) -> None:
    """Questionnaire: a clipboard with tick boxes."""
    c.rect((80, 64, 304, 352), 22, fill=GREY)
    c.rect((102, 96, 282, 332), 8, fill=WHITE)
    c.rect((146, 40, 238, 98), 18, fill=BLUE, halo=4)
    c.disc((192, 58), 9, WHITE)
    for i, y in enumerate((150, 214, 278)):
        c.rect((122, y - 20, 162, y + 20), 6, outline=INK, width=8)
        c.line([(182, y), (262, y)], GREY, 14)
        if i < 2:
            c.line([(128, y - 2), (140, y + 12), (170, y - 30)], BLUE, 12, halo=4)


def tile_information(c: Canvas) -> None:
    """Information: an open book."""
    c.shape(
        [(36, 104), (192, 132), (348, 104), (348, 318), (192, 346), (36, 318)],
        fill=BLUE,
        rounding=10,
    )
    for side in (-1, 1):
        page = [(192, 116), (192 + side * 136, 88), (192 + side * 136, 298), (192, 324)]
        c.shape(page, fill=WHITE, outline=INK, width=10)
        for i in range(4):
            y0 = 138 + i * 40
            c.line([(192 + side * 24, y0 + 4), (192 + side * 110, y0 - 14)], GREY, 10)


def tile_community(c: Canvas) -> None:
    """Community: a group of three people."""
    bust(c, 96, 130, 40, GREY)
    bust(c, 288, 130, 40, GREY)
    bust(c, 192, 160, 48, INK, halo=HALO)


def tile_support(c: Canvas) -> None:
    """Support: a helper (blue) points at a screen for a patient."""
    bust(c, 96, 170, 44, INK)
    bust(c, 300, 106, 36, BLUE, halo=HALO)
    c.rect((180, 200, 290, 286), 12, fill=PALE, outline=INK, width=12, halo=5)
    c.line([(234, 292), (234, 344)], INK, 14)
    c.line([(200, 344), (268, 344)], INK, 14)
    c.line([(268, 170), (226, 232)], BLUE, 22, halo=5)


def tile_contact_details(c: Canvas) -> None:
    """Contact details: an address card with a house and a telephone."""
    c.rect((40, 84, 344, 290), 22, fill=WHITE, outline=INK, width=12)
    house(c, (114, 190), 98, BLUE)
    for y, x1 in ((150, 310), (190, 290), (230, 310)):
        c.line([(196, y), (x1, y)], GREY, 14)
    c.circle((296, 292), 54, fill=BLUE, halo=HALO)
    handset(c, (296, 292), 70, WHITE)


def tile_consultation(c: Canvas) -> None:
    """Ask for a consultation: a patient with a speech bubble to a clinician (blue)."""
    bust(c, 100, 196, 46, INK)
    bust(c, 292, 196, 46, BLUE, halo=HALO)
    c.rect((60, 44, 232, 140), 24, fill=WHITE, outline=INK, width=12)
    c.shape([(104, 132), (96, 176), (144, 134)], fill=INK)
    for y, x1 in ((78, 196), (108, 172)):
        c.line([(94, y), (x1, y)], GREY, 12)


# -- symbols ---------------------------------------------------------------------------------


def symbol_tick(c: Canvas) -> None:
    """A normal result: a white tick on a green disc."""
    c.circle((192, 192), 140, fill=GREEN)
    c.line([(122, 196), (172, 246), (266, 146)], WHITE, 36)


def exclamation(c: Canvas, top: float, bottom: float, colour: str, width: float) -> None:
    """An exclamation sign made of a bar and a dot (a shape, not a letter)."""
    c.line([(192, top), (192, bottom - width * 1.6)], colour, width)
    c.disc((192, bottom), width * 0.62, colour)


def symbol_attention(c: Canvas) -> None:
    """Needs attention: a warning triangle with an exclamation sign."""
    c.shape([(192, 62), (342, 320), (42, 320)], fill=AMBER, outline=INK, width=16, rounding=6)
    exclamation(c, 140, 276, INK, 30)


def symbol_urgent(c: Canvas) -> None:
    """Act now: a red octagon (the "stop" shape) with an exclamation sign."""
    octagon = [along((192, 192), 22.5 + 45 * k, 152) for k in range(8)]
    c.shape(octagon, fill=RED, rounding=8)
    inner = [along((192, 192), 22.5 + 45 * k, 132) for k in range(8)]
    c.shape(inner, outline=WHITE, width=8)
    exclamation(c, 106, 274, WHITE, 34)


def symbol_info(c: Canvas) -> None:
    """Information: a bar and a dot on a blue disc."""
    c.circle((192, 192), 140, fill=BLUE)
    c.disc((192, 116), 22, WHITE)
    c.line([(192, 172), (192, 276)], WHITE, 38)


def symbol_speaker(c: Canvas) -> None:
    """Read aloud: a loudspeaker with sound waves."""
    c.rect((62, 150, 118, 234), 8, fill=INK)
    c.shape([(110, 150), (184, 92), (184, 292), (110, 234)], fill=INK, rounding=8)
    for r in (52, 96, 140):
        c.arc((190, 192), r, -42, 42, BLUE, width=18)


def symbol_language(c: Canvas) -> None:
    """Language: a globe."""
    centre = (192.0, 192.0)
    c.circle(centre, 132, outline=INK, width=16)
    c.ellipse((192 - 62, 60, 192 + 62, 324), BLUE, 12)
    c.line([(192, 66), (192, 318)], BLUE, 12)
    c.line([(66, 192), (318, 192)], BLUE, 12)
    for y in (120, 264):
        half = math.sqrt(132**2 - (y - 192) ** 2)
        c.line([(192 - half + 8, y), (192 + half - 8, y)], BLUE, 12)


def symbol_text_size(c: Canvas) -> None:
    """Text size: a magnifying glass with a plus."""
    c.line([(236, 236), (320, 320)], INK, 40)
    c.circle((168, 168), 94, fill=WHITE, outline=INK, width=24)
    c.line([(168, 124), (168, 212)], BLUE, 24)
    c.line([(124, 168), (212, 168)], BLUE, 24)


def symbol_contrast(c: Canvas) -> None:
    """Contrast: a disc half dark, half light."""
    c.left_half_disc((192, 192), 132, INK)
    c.circle((192, 192), 132, outline=INK, width=18)


def symbol_back(c: Canvas) -> None:
    """Back: an arrow pointing left."""
    arrow(c, [(316, 192), (60, 192)], INK, 40, 120)


def symbol_home(c: Canvas) -> None:
    """Home: a house."""
    c.line([(58, 196), (192, 70), (326, 196)], INK, 30)
    c.shape([(96, 188), (192, 100), (288, 188), (288, 320), (96, 320)], outline=INK, width=26)
    c.rect((164, 236, 220, 320), 6, fill=BLUE)


def symbol_help(c: Canvas) -> None:
    """Speak to reception: a person behind a desk with a speech bubble."""
    bust(c, 130, 150, 42, INK)
    c.rect((20, 260, 364, 420), 0, fill=GREY, halo=HALO)
    c.rect((212, 52, 344, 150), 34, fill=BLUE)
    c.shape([(236, 140), (268, 140), (226, 186)], fill=BLUE, rounding=4)
    for x in (244, 278, 312):
        c.disc((x, 101), 11, WHITE)


def symbol_wifi_off(c: Canvas) -> None:
    """Reconnecting: a struck-through wireless signal."""
    centre = (192.0, 300.0)
    for r in (80, 150, 220):
        c.arc(centre, r, 225, 315, GREY, width=30)
    c.disc(centre, 24, GREY)
    c.line([(80, 70), (304, 320)], INK, 26, halo=HALO + 3)


# -- the catalogue ---------------------------------------------------------------------------

PICTURES: dict[str, Callable[[Canvas], None]] = {
    "steps/bp_sit.png": bp_sit,
    "steps/bp_sleeve.png": bp_sleeve,
    "steps/bp_cuff.png": bp_cuff,
    "steps/bp_arm_heart.png": bp_arm_heart,
    "steps/bp_start.png": bp_start,
    "steps/weight_shoes.png": weight_shoes,
    "steps/weight_stand.png": weight_stand,
    "steps/height_stand.png": height_stand,
    "steps/spo2_finger.png": spo2_finger,
    "steps/spo2_still.png": spo2_still,
    "steps/temp_forehead.png": temp_forehead,
    "steps/temp_wait.png": temp_wait,
    "tiles/blood_pressure.png": tile_blood_pressure,
    "tiles/weight_height.png": tile_weight_height,
    "tiles/pulse_oxygen.png": tile_pulse_oxygen,
    "tiles/temperature.png": tile_temperature,
    "tiles/questionnaire.png": tile_questionnaire,
    "tiles/information.png": tile_information,
    "tiles/community.png": tile_community,
    "tiles/support.png": tile_support,
    "tiles/contact_details.png": tile_contact_details,
    "tiles/consultation.png": tile_consultation,
    "symbols/tick.png": symbol_tick,
    "symbols/attention.png": symbol_attention,
    "symbols/urgent.png": symbol_urgent,
    "symbols/info.png": symbol_info,
    "symbols/speaker.png": symbol_speaker,
    "symbols/language.png": symbol_language,
    "symbols/text_size.png": symbol_text_size,
    "symbols/contrast.png": symbol_contrast,
    "symbols/back.png": symbol_back,
    "symbols/home.png": symbol_home,
    "symbols/help.png": symbol_help,
    "symbols/wifi_off.png": symbol_wifi_off,
}


def render(name: str) -> Image.Image:
    """The finished picture ``name`` (a key of PICTURES) as a 384x384 RGBA image."""
    canvas = Canvas()
    PICTURES[name](canvas)
    return canvas.finish()


def main() -> None:
    """Draw every picture into the folders beside this script."""
    here = Path(__file__).resolve().parent
    for name in PICTURES:
        path = here / name
        path.parent.mkdir(parents=True, exist_ok=True)
        render(name).save(path, format="PNG", optimize=True)
        print(f"wrote {path.relative_to(here)}")


if __name__ == "__main__":
    main()
