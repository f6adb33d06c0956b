"""Charts of the overview's figures, drawn by matplotlib as SVG or PNG, in this process.

Why matplotlib: it is the best-kept plotting library in Python, and its Agg backend renders
both SVG and PNG with no system library and no browser (pygal needs cairo for PNG; Vega and
Plotly render in JavaScript, which the console's content security policy forbids). Charts are
built with the object API on a fresh Figure, never pyplot's global state, so two requests
can draw at once.

Text in the SVG is drawn as paths (`svg.fonttype: path`): the SVG carries no text nodes, so a
place name typed by a witness cannot become markup, and the file shows the same everywhere
without the fonts. Dates and random ids are left out of the file, so equal figures give equal
bytes.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.figure import Figure as PlotFigure

from review.monitoring.stats import Figure

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
MAX_BARS = 25  # categories beyond this are summed into "other": a chart, not a table
_STYLE: dict[str, Any] = {
    "svg.fonttype": "path",
    # Witness text is never mathtext: `$\frac{a}{$` is a label, not a formula to typeset (or
    # to fail on).
    "text.parse_math": False,
    "svg.hashsalt": "intake-overview",
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_COLOUR = "#2f5d8a"


def render_chart(figure: Figure, fmt: str) -> bytes:
    """The figure as an SVG or PNG file's bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"charts are drawn as {' or '.join(FORMATS)}")
    labels = [_short(r.label) for r in figure.rows]
    counts = [r.count for r in figure.rows]
    if figure.kind != "time" and len(labels) > MAX_BARS:
        labels = [*labels[: MAX_BARS - 1], "other"]
        counts = [*counts[: MAX_BARS - 1], sum(counts[MAX_BARS - 1:])]
    with rc_context(_STYLE):  # type: ignore[arg-type]
        if figure.kind == "time":
            plot = PlotFigure(figsize=(max(6.0, 0.32 * len(labels) + 2), 3.4), dpi=100)
            axes = plot.add_subplot()
            axes.bar(range(len(counts)), counts, color=_COLOUR)
            axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
            axes.set_ylabel("reports")
        else:
            plot = PlotFigure(figsize=(7.0, max(2.2, 0.34 * len(labels) + 1.2)), dpi=100)
            axes = plot.add_subplot()
            positions = range(len(counts))
            axes.barh(positions, counts, color=_COLOUR)
            axes.set_yticks(positions, labels, fontsize=9)
            axes.invert_yaxis()
            axes.set_xlabel("reports")
            for y, count in zip(positions, counts, strict=True):
                axes.annotate(str(count), (count, y), xytext=(3, 0),
                              textcoords="offset points", va="center", fontsize=8)
        axes.set_title(figure.title, fontsize=11, loc="left")
        if not counts:
            axes.text(0.5, 0.5, "no reports", transform=axes.transAxes, ha="center")
        plot.tight_layout()
        out = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        plot.savefig(out, format=fmt, metadata=metadata)
    return out.getvalue()


def _short(label: str) -> str:
    return textwrap.shorten(" ".join(label.split()), width=40, placeholder="…")
