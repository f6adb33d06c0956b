"""Arabic labels in charts are shaped: letters joined, ligatures formed, right to left."""

from __future__ import annotations

from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

from review.monitoring.charts import render_chart
from review.monitoring.stats import Figure, Row


def _glyph_ids(letter: str) -> set[str]:
    """The ids an SVG drawn with text as paths gives the letter's own (isolated) glyph: by glyph
    index (matplotlib 3.11, which shapes) or by character code (earlier versions, which do not)."""
    font = font_manager.get_font(font_manager.findfont(FontProperties(family="DejaVu Sans")))
    return {f'id="DejaVuSans-{font.get_char_index(ord(letter)):x}"',
            f'id="DejaVuSans-{ord(letter):x}"'}


def test_an_arabic_place_name_is_drawn_shaped() -> None:
    """In "سلام" lam and alef join into one ligature glyph: a chart drawn letter by letter
    (no shaping) would use the isolated lam and alef glyphs instead."""
    chart = Figure("by-place", "Places", (Row("salam", "سلام", 3), Row("kyiv", "Kyiv", 2)))
    svg = render_chart(chart, "svg").decode("utf-8")
    for letter in "سلا":
        assert not any(glyph in svg for glyph in _glyph_ids(letter)), letter
    assert any(glyph in svg for glyph in _glyph_ids("K"))  # the test does see glyphs
