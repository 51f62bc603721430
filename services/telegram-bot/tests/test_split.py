"""Replies cut for Telegram: every part within 4096 UTF-16 units and accepted by the stand-in's rules (the
ones Telegram applies), nothing lost, entities and tags never cut, the best boundary in reach chosen."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llmstack_bot.message_split import split_html, split_message, utf16_units
from llmstack_bot.telegram import split_message as split_message_reexported

from infra.simulator.telegram_rules import BadRequestError, text_after_entities, validate_text

EMOJI = "\U0001f600"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one glyph of five code points, eight units
FLAG = "\U0001f1eb\U0001f1f7"


def accepted_by_telegram(part: str) -> None:
    validate_text({"text": part, "parse_mode": "HTML"})


def only_whitespace_missing(original: str, joined: str) -> bool:
    """``joined`` is ``original`` with some whitespace left out (parts of only whitespace are not sent)."""
    position = 0
    for char in original:
        if position < len(joined) and joined[position] == char:
            position += 1
        elif not char.isspace():
            return False
    return position == len(joined)


TEXT = st.text(
    alphabet=st.sampled_from(
        ["a", "b", "z", " ", "\n", ".", "!", "&", "<", ">", '"', EMOJI, "é", "\u0301", "\u200d", "\U0001f1eb"]
    ),
    max_size=600,
)


@settings(max_examples=150, deadline=None)
@given(text=TEXT, limit=st.integers(min_value=8, max_value=200))
def test_every_part_fits_and_nothing_is_lost(text: str, limit: int) -> None:
    parts = split_message(text, limit=limit)
    if not text.strip():
        assert parts == ["(empty answer)"]
        return
    for part in parts:
        assert utf16_units(part) <= limit
        accepted_by_telegram(part)
    joined = "".join(html.unescape(part) for part in parts)
    assert only_whitespace_missing(text, joined)


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(["a", "&", "<", EMOJI, "é"]), min_size=1, max_size=500))
def test_without_whitespace_the_parts_join_to_exactly_the_text(text: str) -> None:
    parts = split_message(text, limit=16)
    assert "".join(html.unescape(part) for part in parts) == text
    assert not any(part.endswith("&") or "&amp" in part.replace("&amp;", "") for part in parts)


@settings(max_examples=100, deadline=None)
@given(
    words=st.lists(st.sampled_from(["word", "&amp;", EMOJI, "x.", "\n", "\n\n"]), max_size=120),
    tags=st.lists(st.sampled_from(["b", "i", "code"]), max_size=3),
    limit=st.integers(min_value=40, max_value=160),
)
def test_html_parts_are_well_formed_and_keep_the_text(words: list[str], tags: list[str], limit: int) -> None:
    body = " ".join(words)
    source = "".join(f"<{t}>" for t in tags) + body + "".join(f"</{t}>" for t in reversed(tags))
    parts = split_html(source, limit=limit)
    plain = []
    for part in parts:
        if part == "(empty answer)":
            continue
        assert utf16_units(part) <= limit
        accepted_by_telegram(part)  # every tag closed, references intact
        plain.append(text_after_entities(part, "HTML"))
    if body.strip():
        assert only_whitespace_missing(text_after_entities(source, "HTML"), "".join(plain))


def test_4000_emoji_are_two_messages_not_one_of_8000_units() -> None:
    parts = split_message(EMOJI * 4000)
    assert [utf16_units(p) for p in parts] == [4096, 3904]
    for part in parts:
        accepted_by_telegram(part)
    with pytest.raises(BadRequestError, match="message is too long"):
        accepted_by_telegram(EMOJI * 4000)  # what one part per 4096 characters would have sent


def test_a_paragraph_break_wins_over_a_later_sentence_end() -> None:
    first = ("A sentence here. " * 170).strip()  # ~2900 units
    second = "Another one. " * 150
    parts = split_message(first + "\n\n" + second)
    assert parts[0] == first + "\n\n"
    assert parts[1:] == [second]


def test_a_sentence_end_wins_over_a_later_space() -> None:
    text = "word " * 700 + "End of thought. " + "more words here " * 200
    parts = split_message(text)
    assert parts[0].endswith("End of thought. ")
    assert utf16_units(parts[0]) <= 4096


def test_a_space_when_there_is_no_sentence() -> None:
    parts = split_message("lorem " * 1000)
    assert all(p.endswith(" ") for p in parts[:-1])
    assert all(3000 < utf16_units(p) <= 4096 for p in parts[:-1])


def test_a_boundary_too_early_is_not_taken() -> None:
    # a paragraph break after 100 units would waste a message: the later space is used instead
    text = "x" * 100 + "\n\n" + "word " * 1500
    parts = split_message(text)
    assert utf16_units(parts[0]) > 2048


def test_a_hard_cut_never_splits_a_reference_a_glyph_or_a_flag() -> None:
    for unit in ("&", "<", FAMILY, FLAG, "e\u0301"):
        parts = split_message(unit * 3000)
        joined = "".join(html.unescape(p) for p in parts)
        assert joined == unit * 3000
        for part in parts:
            accepted_by_telegram(part)
            assert html.unescape(part).startswith(unit[0]) and not html.unescape(part).endswith("\u200d")


def test_html_tags_open_at_a_cut_are_closed_and_reopened() -> None:
    source = '<b>bold <a href="https://example.com/x">' + "link text " * 900 + "</a> after</b>"
    parts = split_html(source)
    assert len(parts) >= 3
    for part in parts:
        accepted_by_telegram(part)
        assert part.startswith("<b>") and part.endswith("</b>")
    assert parts[1].startswith('<b><a href="https://example.com/x">')
    assert "".join(text_after_entities(p, "HTML") for p in parts).split() == (
        text_after_entities(source, "HTML").split()
    )


def test_empty_answers_and_impossible_limits() -> None:
    assert split_message("") == ["(empty answer)"]
    assert split_message(" \n\n ") == ["(empty answer)"]
    with pytest.raises(ValueError, match="a limit of 4 UTF-16 units cannot hold"):
        split_message("&&&", limit=4)


def test_the_old_import_path_still_works() -> None:
    assert split_message_reexported is split_message
    assert split_message("<script>", limit=4096) == ["&lt;script&gt;"]
