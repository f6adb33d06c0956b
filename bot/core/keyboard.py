"""Inline keyboards whose callback data carries nothing but an opaque, short, one-prompt token.

A button's callback_data is "<prompt nonce>.<index>". The nonce changes with every new prompt,
so a button from an earlier prompt (stale, replayed) or an invented one (tampered) is recognised
and answered kindly, never acted on. No answer, id or text ever travels in callback data.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from bot.core.draft import Action
from bot.core.events import Button

Rows = Sequence[Sequence[tuple[str, Action]]]


class PressProblem(enum.Enum):
    STALE = "stale"
    INVALID = "invalid"


def render(rows: Rows, nonce: str) -> tuple[tuple[tuple[Button, ...], ...], tuple[Action, ...]]:
    """The buttons to show and, in the same order, the actions their indexes stand for."""
    buttons: list[tuple[Button, ...]] = []
    actions: list[Action] = []
    for row in rows:
        buttons.append(tuple(Button(label, f"{nonce}.{len(actions) + offset}")
                             for offset, (label, _action) in enumerate(row)))
        actions.extend(action for _label, action in row)
    return tuple(buttons), tuple(actions)


def resolve(token: str, nonce: str, actions: Sequence[Action]) -> Action | PressProblem:
    token_nonce, _sep, index_text = token.partition(".")
    if token_nonce != nonce:
        return PressProblem.STALE
    # isascii: str.isdigit accepts other scripts' digits, which int() would then parse.
    if not (index_text.isascii() and index_text.isdigit()) or int(index_text) >= len(actions):
        return PressProblem.INVALID
    return actions[int(index_text)]
