"""Turn bot text plus ``parse_mode`` into displayed text and entities, as Telegram does.

Supports ``HTML``, ``MarkdownV2`` and legacy ``Markdown``; the parsers follow the rules in the
Bot API "Formatting options" section closely enough to catch the usual bugs (unescaped reserved
characters in MarkdownV2, unsupported or unclosed HTML tags). Offsets are UTF-16 code units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from standin.models import ApiError, JSONDict

_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTR = re.compile(r"\s*([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_CHAR_REF = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]{1,10});")
_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?")
_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's entity offset unit)."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(detail: str) -> ApiError:
    return ApiError.bad_request(f"can't parse entities: {detail}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


@dataclass
class _Open:
    kind: str
    start: int
    source_index: int
    tag: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class _Builder:
    """Accumulates displayed text and finished entities."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[JSONDict] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def close(self, opened: _Open) -> None:
        length = self.offset - opened.start
        if length > 0:
            entity: JSONDict = {"type": opened.kind, "offset": opened.start, "length": length}
            entity.update(opened.extra)
            self.entities.append(entity)

    def result(self) -> tuple[str, list[JSONDict]]:
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


def parse_formatted(text: str, parse_mode: str | None) -> tuple[str, list[JSONDict]]:
    """Displayed text and entities for ``text`` sent with ``parse_mode`` (may be ``None``)."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return text, []
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text)
    if mode == "markdown":
        return _parse_markdown(text)
    raise ApiError.bad_request("unsupported parse_mode")


def trim(text: str, entities: list[JSONDict]) -> tuple[str, list[JSONDict]]:
    """Strip surrounding whitespace like Telegram, moving and clipping entities to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    limit = utf16_len(stripped)
    kept: list[JSONDict] = []
    for entity in entities:
        start = max(0, int(entity["offset"]) - shift)
        end = min(limit, int(entity["offset"]) + int(entity["length"]) - shift)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def command_entities(text: str) -> list[JSONDict]:
    """``bot_command`` entities for every ``/command`` in a user's text."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _COMMAND.finditer(text)
    ]


def _parse_html(text: str) -> tuple[str, list[JSONDict]]:
    out = _Builder()
    stack: list[_Open] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _CHAR_REF.match(text, i)
            if match is None:
                out.add("&")
                i += 1
                continue
            ref = match[1]
            if ref.startswith(("#x", "#X")):
                out.add(_safe_chr(int(ref[2:], 16)))
            elif ref.startswith("#"):
                out.add(_safe_chr(int(ref[1:])))
            else:
                out.add(_HTML_ENTITIES.get(ref.lower(), match[0]))
            i = match.end()
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        end = text.find(">", i)
        if end == -1:
            raise _parse_error(f"Unclosed start tag at byte offset {_byte_offset(text, i)}")
        body = text[i + 1 : end]
        if body.startswith("/"):
            _html_close(text, i, body[1:].strip().lower(), stack, out)
        else:
            stack.append(_html_open(text, i, body, stack, out.offset))
        i = end + 1
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return out.result()


def _safe_chr(code: int) -> str:
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _html_open(text: str, index: int, body: str, stack: list[_Open], start: int) -> _Open:
    offset = _byte_offset(text, index)
    name_match = _TAG_NAME.match(body)
    if name_match is None:
        raise _parse_error(f"Empty tag name at byte offset {offset}")
    tag = name_match[0].lower()
    if tag not in _HTML_TAGS:
        raise _parse_error(f'Unsupported start tag "{tag}" at byte offset {offset}')
    attrs: dict[str, str] = {}
    for attr in _ATTR.finditer(body, name_match.end()):
        if attr[0].strip():
            attrs[attr[1].lower()] = next((g for g in attr.groups()[1:] if g is not None), "")
    extra: dict[str, Any] = {}
    kind = _HTML_TAGS[tag]
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise _parse_error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
    if tag == "a":
        href = attrs.get("href", "")
        if href.startswith("tg://user?id="):
            kind, extra = "text_mention", {"user": {"id": int(href[13:] or 0), "is_bot": False}}
        else:
            extra = {"url": href}
    elif tag == "tg-emoji":
        extra = {"custom_emoji_id": attrs.get("emoji-id", "")}
    elif tag == "blockquote" and "expandable" in attrs:
        kind = "expandable_blockquote"
    elif tag == "code" and stack and stack[-1].tag == "pre":
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].extra["language"] = language[len("language-") :]
            kind = ""  # merged into the enclosing pre entity
    return _Open(kind=kind, start=start, source_index=index, tag=tag, extra=extra)


def _html_close(text: str, index: int, tag: str, stack: list[_Open], out: _Builder) -> None:
    offset = _byte_offset(text, index)
    if not stack:
        raise _parse_error(f"Unexpected end tag at byte offset {offset}")
    opened = stack.pop()
    if tag and tag != opened.tag:
        raise _parse_error(
            f'Unmatched end tag at byte offset {offset}, expected "</{opened.tag}>", '
            f'found "</{tag}>"'
        )
    if opened.kind:
        out.close(opened)


def _parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    out = _Builder()
    stack: list[_Open] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and 1 <= ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
        elif char == "`":
            i = _mdv2_code(text, i, out)
        elif char in "*~" or (char in "_|" and text.startswith(char * 2, i)) or char == "_":
            width = 2 if char in "_|" and text.startswith(char * 2, i) else 1
            kind = {"*": "bold", "~": "strikethrough", "|": "spoiler"}.get(char)
            kind = kind or ("underline" if width == 2 else "italic")
            _toggle(stack, out, kind, i)
            i += width
        elif char == "[":
            stack.append(_Open(kind="text_link", start=out.offset, source_index=i))
            i += 1
        elif char == "]" and any(o.kind == "text_link" for o in stack):
            i = _mdv2_link_end(text, i, stack, out)
        elif char == ">" and (i == 0 or text[i - 1] == "\n"):
            i = _mdv2_quote(text, i, out)
        elif char in _MDV2_RESERVED:
            raise _parse_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            out.add(char)
            i += 1
    if stack:
        name = _MD_NAMES.get(stack[-1].kind, stack[-1].kind)
        offset = _byte_offset(text, stack[-1].source_index)
        raise _parse_error(f"Can't find end of {name} entity at byte offset {offset}")
    return out.result()


def _toggle(stack: list[_Open], out: _Builder, kind: str, index: int) -> None:
    for position in range(len(stack) - 1, -1, -1):
        if stack[position].kind == kind:
            out.close(stack.pop(position))
            return
    stack.append(_Open(kind=kind, start=out.offset, source_index=index))


def _mdv2_code(text: str, i: int, out: _Builder) -> int:
    pre = text.startswith("```", i)
    fence = "```" if pre else "`"
    j = i + len(fence)
    language = ""
    if pre:
        newline = text.find("\n", j)
        first_line = text[j:newline] if newline != -1 else ""
        if newline != -1 and first_line and not any(c.isspace() for c in first_line):
            language, j = first_line, newline + 1
    chunk: list[str] = []
    while j < len(text):
        if text[j] == "\\" and j + 1 < len(text) and 1 <= ord(text[j + 1]) <= 126:
            chunk.append(text[j + 1])
            j += 2
        elif text.startswith(fence, j):
            start = out.offset
            out.add("".join(chunk))
            opened = _Open(kind="pre" if pre else "code", start=start, source_index=i)
            if language:
                opened.extra["language"] = language
            out.close(opened)
            return j + len(fence)
        else:
            chunk.append(text[j])
            j += 1
    name = "Pre" if pre else "Code"
    raise _parse_error(f"Can't find end of {name} entity at byte offset {_byte_offset(text, i)}")


def _mdv2_link_end(text: str, i: int, stack: list[_Open], out: _Builder) -> int:
    while stack[-1].kind != "text_link":
        out.close(stack.pop())
    opened = stack.pop()
    if not text.startswith("(", i + 1):
        return i + 1  # "[text]" without a URL: plain text
    j, url = i + 2, []
    while j < len(text) and text[j] != ")":
        if text[j] == "\\" and j + 1 < len(text):
            j += 1
        url.append(text[j])
        j += 1
    if j >= len(text):
        raise _parse_error(f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}")
    target = "".join(url)
    if target.startswith("tg://user?id=") and target[13:].isdigit():
        opened.kind, opened.extra = "text_mention", {"user": {"id": int(target[13:])}}
        opened.extra["user"]["is_bot"] = False
    else:
        opened.extra = {"url": target}
    out.close(opened)
    return j + 1


def _mdv2_quote(text: str, i: int, out: _Builder) -> int:
    start = out.offset
    quoted: list[str] = []
    j = i
    while j < len(text) and text[j] == ">":
        newline = text.find("\n", j)
        line_end = len(text) if newline == -1 else newline
        line, _ = _parse_markdown_v2(text[j + 1 : line_end])
        quoted.append(line)
        j = line_end + 1 if newline != -1 else line_end
    out.add("\n".join(quoted))
    out.close(_Open(kind="blockquote", start=start, source_index=i))
    if j <= len(text) and j > 0 and text[j - 1] == "\n":
        out.add("\n")
    return j


def _parse_markdown(text: str) -> tuple[str, list[JSONDict]]:
    out = _Builder()
    i, n = 0, len(text)
    closers = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char in closers or char == "[":
            fence = "```" if text.startswith("```", i) else ("]" if char == "[" else char)
            opener = "```" if fence == "```" else char
            end = text.find(fence, i + len(opener))
            if end == -1:
                offset = _byte_offset(text, i)
                raise _parse_error(f"Can't find end of the entity starting at byte offset {offset}")
            start = out.offset
            out.add(text[i + len(opener) : end])
            kind = "pre" if fence == "```" else ("text_link" if char == "[" else closers[char])
            opened = _Open(kind=kind, start=start, source_index=i)
            i = end + len(fence)
            if kind == "text_link":
                close = text.find(")", i)
                if not text.startswith("(", i) or close == -1:
                    continue
                opened.extra = {"url": text[i + 1 : close]}
                i = close + 1
            out.close(opened)
            continue
        out.add(char)
        i += 1
    return out.result()
