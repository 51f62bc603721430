"""The request's input and the answer's text in its record, when and only when the catalog says so (issue 12).

The one source is the rendered config's ``litellm_settings.turn_off_message_logging``, the setting that also keeps
prompts and answers out of LiteLLM's traces: ``llmstack render`` writes it into every config, ``true`` unless the
catalog's ``observability.log_content`` is on. Content is logged only on an explicit ``false``, so a config
without the key (a hand-written one, or one rendered before the key was always written) logs none. A request
cannot change it: LiteLLM refuses a body's own ``turn_off_message_logging`` (a 400 here, ``endpoints.body_refusal``),
and its ``litellm-disable-message-redaction`` header reveals nothing (tests/integration/test_gateway_traces.py).

What is logged: ``content.input``, the request's input fields (``messages``, ``prompt``, Anthropic's ``system``
and ``messages``, the Responses API's ``input`` and ``instructions``) as compact JSON text, never a header or a
key; ``content.answer``, the answer's text (a stream's text as delivered, pieced together; several choices one
after the other, a blank line between them); no tool calls or reasoning.

The bound: the whole record line stays within ``PIPE_BUF`` (4096 bytes on Linux), the largest write POSIX makes
atomic on a pipe. Each worker writes its lines to the same stdout pipe; a longer line could be split by another
worker's and neither would parse. The content gets the room the rest of the record leaves, the input and the
answer half each (what one does not use goes to the other); a field that did not fit is cut, and
``content.cut`` gives its whole length in characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: the largest write a pipe keeps whole (Linux's PIPE_BUF; POSIX guarantees at least 512)
PIPE_BUF = 4096
#: between the texts of several choices (``n``)
CHOICE_SEPARATOR = "\n\n"
#: the request fields that carry its input, by API: chat and messages, completions, Anthropic's system prompt,
#: the Responses API's input and instructions
INPUT_FIELDS = ("system", "instructions", "messages", "prompt", "input")
#: what the ``content`` key and its field names take in the line besides the texts themselves (measured on
#: the longest form: both fields cut, each with a ten-digit length)
_OVERHEAD = len(
    json.dumps({"content": {"input": "", "answer": "", "cut": {"input": 10**10, "answer": 10**10}}})
)


def logs_content(config: Mapping[str, Any]) -> bool:
    """True only where the rendered config says ``turn_off_message_logging: false``."""
    settings = config.get("litellm_settings")
    return isinstance(settings, Mapping) and settings.get("turn_off_message_logging") is False


def request_input(data: Mapping[str, Any]) -> str | None:
    """The request's input fields as compact JSON text, None when it has none."""
    fields = {name: data[name] for name in INPUT_FIELDS if data.get(name) not in (None, "", [])}
    if not fields:
        return None
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str)


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def answer_text(response: Any) -> AnswerText:
    """The text of a plain (non-streamed) answer, from what LiteLLM hands ``async_post_call_success_hook``: a chat
    or text completion (``choices``), an Anthropic message (``content`` blocks) or a Responses API response
    (``output`` messages with ``output_text`` parts), as an object or a dict."""
    texts = AnswerText()
    for choice in _get(response, "choices") or []:
        message = _get(choice, "message")
        text = _get(message, "content") if message is not None else _get(choice, "text")
        texts.add(_get(choice, "index") or 0, text)
    for block in _get(response, "content") or []:
        if _get(block, "type") == "text":
            texts.add(0, _get(block, "text"))
    for item in _get(response, "output") or []:
        if _get(item, "type") != "message":
            continue
        for part in _get(item, "content") or []:
            if _get(part, "type") == "output_text":
                texts.add(0, _get(part, "text"))
    return texts


class AnswerText:
    """An answer's text, piece by piece (``StreamMeter.on_text``), per choice. It keeps at most ``PIPE_BUF``
    characters of each choice, more than a record line can carry, and counts the rest."""

    def __init__(self) -> None:
        self._pieces: dict[int, list[str]] = {}
        self._kept: dict[int, int] = {}
        self.chars = 0

    def add(self, index: int, text: Any) -> None:
        if not isinstance(text, str) or not text:
            return
        self.chars += len(text)
        kept = self._kept.get(index, 0)
        if kept < PIPE_BUF:
            self._pieces.setdefault(index, []).append(text[: PIPE_BUF - kept])
            self._kept[index] = kept + min(len(text), PIPE_BUF - kept)

    def text(self) -> str | None:
        if not self._pieces:
            return None
        return CHOICE_SEPARATOR.join("".join(self._pieces[index]) for index in sorted(self._pieces))

    @property
    def length(self) -> int:
        """The whole answer's length in characters, what was not kept included."""
        return self.chars + len(CHOICE_SEPARATOR) * max(0, len(self._pieces) - 1)


def _cut(text: str, room: int) -> str:
    """The longest start of ``text`` whose JSON string form (as ``json.dumps`` writes it, ASCII only) takes at
    most ``room`` characters besides its quotes."""
    if len(json.dumps(text)) - 2 <= room:
        return text  # the common case, at C speed
    used = 0
    for position, char in enumerate(text):
        used += len(json.dumps(char)) - 2
        if used > room:
            return text[:position]
    return text


def content_section(prompt: str | None, answer: AnswerText, room: int) -> dict[str, Any]:
    """The record's ``content``, within ``room`` characters of the line (``room``: what the rest of the record
    leaves under ``PIPE_BUF``)."""
    whole = {"input": len(prompt or ""), "answer": answer.length}
    text = answer.text()
    sizes = {
        name: 0 if v is None else len(json.dumps(v)) - 2 for name, v in (("input", prompt), ("answer", text))
    }
    space = max(0, room - _OVERHEAD)
    share = {"input": space // 2, "answer": space - space // 2}
    # what one field does not use goes to the other
    share["input"] += max(0, share["answer"] - sizes["answer"])
    share["answer"] += max(0, space // 2 - sizes["input"])
    section: dict[str, Any] = {
        "input": _cut(prompt, share["input"]) if prompt is not None else None,
        "answer": _cut(text, share["answer"]) if text is not None else None,
    }
    cut = {name: whole[name] for name in ("input", "answer") if len(section[name] or "") < whole[name]}
    if cut:
        section["cut"] = cut
    return section
