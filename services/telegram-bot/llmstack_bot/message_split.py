"""Cutting a reply into Telegram messages: at most 4096 UTF-16 code units each, at the best boundary in reach.

Telegram's sendMessage takes "1-4096 characters after entities parsing"; its entity offsets are counted in
UTF-16 code units (Bot API docs, MessageEntity), so an emoji outside the Basic Multilingual Plane counts 2.
Parts are measured as sent (escaped, tags included), which is never less than what Telegram counts, so every
part fits whichever way Telegram counts.

Boundaries, best first: a paragraph break, a line break, the end of a sentence, a space; a hard cut only
when none of these falls in the second half of the window, and then never inside a character reference
(``&amp;``), a tag, a code point, or before a combining mark / joiner. In HTML input, tags open at a cut are
closed at the end of the part and reopened at the start of the next, so no formatting entity is cut.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

MESSAGE_LIMIT = 4096
EMPTY_ANSWER = "(empty answer)"

_SENTENCE_ENDS = set(".!?…。！？")
#: never cut right before these: they attach to the previous character (variation selectors, joiners,
#: emoji skin tones, tag characters of flag sequences)
_ATTACHING = {"\u200d", "\ufe0e", "\ufe0f"}
_HTML_TOKEN = re.compile(r"<[^>]*>|&[#\w]+;|.", re.DOTALL)
_TAG_NAME = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9-]*)")

# an atom is what is never cut: (text as sent, text it stands for, tag name if a tag, True if a closing tag,
# UTF-16 units as sent)
_Atom = tuple[str, str, str | None, bool, int]


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram counts in (an astral character is 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Plain model output as HTML-escaped parts of at most ``limit`` UTF-16 units each.

    Escaping happens here, so model output cannot open a tag and no part ends inside ``&amp;``. Unescaping and
    joining the parts gives ``text`` back, except whitespace-only parts, which Telegram refuses as empty.
    """
    atoms: list[_Atom] = []
    for char in text:
        sent = html.escape(char, quote=False)
        atoms.append((sent, char, None, False, len(sent) + (char > "\uffff")))
    return _split(atoms, limit)


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Text already in Telegram's HTML (``<b>``, ``&lt;``...) in parts of at most ``limit`` UTF-16 units,
    each well formed: tags open at a cut are closed, then reopened in the next part."""
    atoms: list[_Atom] = []
    for token in _HTML_TOKEN.findall(text):
        tag = _TAG_NAME.match(token) if token.startswith("<") else None
        if tag is not None:
            atoms.append((token, "", tag.group(2).lower(), tag.group(1) == "/", utf16_units(token)))
        else:
            atoms.append((token, html.unescape(token), None, False, utf16_units(token)))
    return _split(atoms, limit)


#: an opening tag as written (``<a href="...">``) and its name (``a``)
_Open = tuple[str, str]


def _closing(stack: tuple[_Open, ...]) -> str:
    return "".join(f"</{name}>" for _, name in reversed(stack))


def _split(atoms: list[_Atom], limit: int) -> list[str]:
    parts: list[str] = []
    start = 0
    opened: tuple[_Open, ...] = ()  # tags in force where the next part starts
    while start < len(atoms):
        end, opened_at_end = _cut(atoms, start, opened, limit)
        body = "".join(atom[0] for atom in atoms[start:end])
        part = "".join(written for written, _ in opened) + body + _closing(opened_at_end)
        if "".join(atom[1] for atom in atoms[start:end]).strip():
            parts.append(part)
        start, opened = end, opened_at_end
    return parts or [EMPTY_ANSWER]


def _cut(
    atoms: list[_Atom], start: int, opened: tuple[_Open, ...], limit: int
) -> tuple[int, tuple[_Open, ...]]:
    """Where the part beginning at ``start`` ends, and the tags open there."""
    cost = utf16_units("".join(written for written, _ in opened))
    stack = opened
    close_cost = utf16_units(_closing(stack))
    fits: dict[int, tuple[int, tuple[_Open, ...]]] = {}  # end -> (cost so far, tags open)
    position = start
    while position < len(atoms):
        sent, _, tag, closing, units = atoms[position]
        cost += units
        if tag is not None:
            if not closing:
                stack = (*stack, (sent, tag))
            elif stack and stack[-1][1] == tag:
                stack = stack[:-1]
            close_cost = utf16_units(_closing(stack))
        position += 1
        if cost + close_cost <= limit:
            fits[position] = (cost, stack)
        elif cost > limit:
            break
    if not fits:
        raise ValueError(f"a limit of {limit} UTF-16 units cannot hold even one character or tag")
    last = max(fits)
    if last == len(atoms):
        return last, fits[last][1]
    end = _best_boundary(atoms, start, fits, limit)
    return end, fits[end][1]


def _best_boundary(
    atoms: list[_Atom], start: int, fits: dict[int, tuple[int, tuple[_Open, ...]]], limit: int
) -> int:
    half = [end for end in sorted(fits, reverse=True) if fits[end][0] >= limit // 2]

    def before(end: int, back: int) -> str:
        return atoms[end - back][1] if end - back >= start else ""

    rules: tuple[Callable[[int], bool], ...] = (
        lambda end: before(end, 1) == "\n" and before(end, 2) == "\n",  # a paragraph
        lambda end: before(end, 1) == "\n",  # a line
        lambda end: before(end, 1).isspace() and before(end, 2) in _SENTENCE_ENDS,  # a sentence
        lambda end: before(end, 1).isspace(),  # a word
    )
    for rule in rules:
        for end in half:
            if rule(end):
                return end
    for end in sorted(fits, reverse=True):
        if _may_cut_before(atoms, end):
            return end
    return max(fits)


def _may_cut_before(atoms: list[_Atom], end: int) -> bool:
    """False inside what displays as one character: before a combining mark or joiner, after a joiner,
    between the two regional indicators of a flag."""
    following, previous = atoms[end][1], atoms[end - 1][1]
    if not following or not previous:
        return True
    if following in _ATTACHING or previous == "\u200d" or unicodedata.combining(following):
        return False
    if "\U0001f3fb" <= following <= "\U0001f3ff":  # skin tone modifiers
        return False
    return not (_regional(following) and _regional(previous))


def _regional(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"
