"""The report's plots: PNG images with alt text that says what they show.

Drawn with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot: no global
figure state to leak between reports (the dashboard renders them in a long-lived server)
and no display or backend to choose; ``savefig`` renders PNG with Agg. Colours are the
Okabe-Ito palette, distinguishable with the common colour-vision deficiencies, and bars
that stand side by side also differ in hatching, so a greyscale print still reads. Each
plot's alt text summarises it (totals, the busiest day or hour, highest and lowest), and
the page puts the plotted numbers in a table beside it for screen readers.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Okabe & Ito (2008), "Color Universal Design": blue, orange, green, purple.
PALETTE: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
HATCHES: Final = ("", "//", "..", "xx", "\\\\", "--")
SIZE: Final = (7.0, 2.6)  # inches, at 100 dpi: 700 x 260 pixels


@dataclass(frozen=True)
class Plot:
    png: bytes
    alt: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" or dates in the PNG's metadata: the same figures make the same bytes.
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _axes(ylabel: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE)
    # Fixed margins rather than a layout engine: it measures every text again, several
    # times, and the labels here are short and of a known size.
    figure.subplots_adjust(left=0.09, right=0.99, bottom=0.2, top=0.95)
    axes: Axes = figure.subplots()
    axes.set_ylabel(ylabel)
    axes.spines[["top", "right"]].set_visible(False)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    return figure, axes


def sessions_per_day(days: Sequence[date], counts: Sequence[int], where: str) -> Plot:
    figure, axes = _axes("visits")
    axes.bar(range(len(days)), counts, color=PALETTE[0])
    step = max(1, len(days) // 8)
    ticks = list(range(0, len(days), step))
    axes.set_xticks(ticks, [f"{days[i]:%a %d %b}" for i in ticks], fontsize=8)
    total = sum(counts)
    span = f"{long_date(days[0])} to {long_date(days[-1])}"
    if not total:
        return Plot(_png(figure), f"Bar chart of visits per day at {where}, {span}: no visits.")
    busiest = max(range(len(days)), key=lambda i: (counts[i], -i))
    none = sum(1 for n in counts if not n)
    alt = (
        f"Bar chart of visits per day at {where}, {span}, London time: {total} in all; "
        f"the busiest day was {long_date(days[busiest])} with {counts[busiest]}; "
        f"{none} of {len(days)} days had none."
    )
    return Plot(_png(figure), alt)


def sessions_per_hour(counts: Sequence[int], where: str) -> Plot:
    figure, axes = _axes("visits")
    axes.bar(range(24), counts, color=PALETTE[2])
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)], fontsize=8)
    axes.set_xlabel("hour of day (London time)")
    total = sum(counts)
    if not total:
        return Plot(_png(figure), f"Bar chart of visits by hour of day at {where}: no visits.")
    busiest = max(range(24), key=lambda h: (counts[h], -h))
    used = [h for h in range(24) if counts[h]]
    alt = (
        f"Bar chart of visits by hour of day at {where}, London time: {total} in all; the "
        f"busiest hour was {busiest:02d}:00 to {busiest:02d}:59 with {counts[busiest]}; "
        f"visits ended between {used[0]:02d}:00 and {used[-1]:02d}:59."
    )
    return Plot(_png(figure), alt)


def per_site(groups: Sequence[str], values: Sequence[float | None], what: str) -> Plot:
    """One bar per practice (and the PCN); None is a value suppressed or not measured."""
    figure, axes = _axes(what)
    axes.bar(range(len(groups)), [v or 0.0 for v in values], color=PALETTE[0])
    axes.set_xticks(range(len(groups)), groups, fontsize=8)
    each = ", ".join(
        f"{group} {'not shown' if v is None else f'{v:.1f}'}"
        for group, v in zip(groups, values, strict=True)
    )
    return Plot(_png(figure), f"Bar chart of {what}: {each}. The table above holds the numbers.")


def shares(sites: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> Plot:
    """Side-by-side bars of shares (0 to 1) per practice; None (suppressed) is left out."""
    figure, axes = _axes("share of visits (%)")
    width = 0.8 / max(1, len(series))
    for n, (label, values) in enumerate(series.items()):
        axes.bar(
            [i + n * width for i in range(len(sites))],
            [100 * v if v is not None else 0.0 for v in values],
            width,
            label=label,
            color=PALETTE[n % len(PALETTE)],
            hatch=HATCHES[n % len(HATCHES)],
            edgecolor="#333333",
            linewidth=0.4,
        )
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(sites))], sites, fontsize=8)
    axes.set_ylim(0, 100)
    axes.legend(fontsize=7, ncols=min(4, len(series)), loc="upper left", frameon=False)
    parts = []
    for label, values in series.items():
        known = [(v, s) for v, s in zip(values, sites, strict=True) if v is not None]
        if known:
            top, bottom = max(known), min(known)
            parts.append(
                f"{label}: highest {top[1]} {top[0]:.0%}, lowest {bottom[1]} {bottom[0]:.0%}"
            )
    alt = f"Grouped bar chart comparing {', '.join(sites)}" + (
        "; " + "; ".join(parts) if parts else ""
    )
    return Plot(_png(figure), alt + ". The numbers are in the table above.")
