"""Invisible characters in a witness's words: what report.txt and `review show` print must
show everything the witness sent, so text hidden in characters no font draws is escaped."""

from __future__ import annotations

from review.render import witness_text

# "I saw nothing" followed by "they were there" spelled in Unicode tag characters (invisible in
# every terminal and editor), a zero-width space, a word joiner, a byte order mark and an
# interlinear annotation (U+FFF9..U+FFFB: the annotated text is not shown by most readers).
_TAGS = "".join(chr(0xE0000 + ord(c)) for c in "they were there")
HIDDEN = ("I saw nothing" + _TAGS + "\u200b" + "\u2060" + "\ufeff"
          + "\ufff9a\ufffasecret\ufffb" + "\u180e")


def test_text_no_one_can_see_is_escaped() -> None:
    shown = witness_text(HIDDEN)
    assert all(c.isprintable() and c not in "\u200b\u2060\ufeff\u180e" for c in shown), shown
    assert shown.startswith("I saw nothing\\U000e0074\\U000e0068")
    assert "\\u200b\\u2060\\ufeff\\ufff9a\\ufffasecret\\ufffb\\u180e" in shown


def test_joiners_that_scripts_and_emoji_need_are_kept() -> None:
    # Persian writes the zero-width non-joiner inside words; emoji sequences use the joiner.
    persian, family = "می\u200cخواهم", "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert witness_text(persian) == persian
    assert witness_text(family) == family
