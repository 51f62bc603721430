"""What the Telegram stand-in checks in a request before it accepts it, each rule from the Bot API docs.

Kept apart from the server (``infra.simulator.telegram``) so each rule can be read next to its source:
https://core.telegram.org/bots/api ("Making requests", "Formatting options", sendMessage, setWebhook,
setMyCommands, InlineKeyboardButton).
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from typing import Any

#: sendMessage: "Text of the message to be sent, 1-4096 characters after entities parsing"
MESSAGE_LIMIT = 4096
#: setWebhook ``allowed_updates``: the Update fields a bot may ask for
UPDATE_TYPES = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
}
#: "Formatting options", HTML style: the only tags Telegram parses
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "code",
    "pre",
    "a",
    "tg-spoiler",
    "tg-emoji",
    "blockquote",
    "span",
}
#: ``sendChatAction``: the documented actions
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}


#: methods the stand-in accepts without modelling them (each answers ``true`` in the docs)
TRUE_METHODS = {
    "deletewebhook",
    "deletemessage",
    "deletemycommands",
    "setmydescription",
    "setmyshortdescription",
    "setchatmenubutton",
    "setmessagereaction",
}
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


def chat_id_of(params: dict[str, Any]) -> int | None:
    """``chat_id`` is "Integer or String" (an ``@channelusername``); faults and blocks key on integers."""
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def chat_for(chat_id: int) -> dict[str, Any]:
    # Chat ids: positive for users, negative for groups, -100... for supergroups and channels
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": f"chat {chat_id}"}


class BadRequestError(Exception):
    """A request Telegram answers with 400; the message is Telegram's own ``description``."""


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units: an astral character (most emoji) counts 2.

    The docs count entity offsets and lengths in UTF-16 code units (MessageEntity). For the 4096 limit they
    only say "characters"; the stand-in takes the stricter UTF-16 reading (a live probe reported in
    FerroxLabs/wayland#934 saw Telegram accept 4096 emoji, i.e. code points), so text that passes here
    passes Telegram under either reading.
    """
    return len(text.encode("utf-16-le")) // 2


class _HtmlEntities(HTMLParser):
    """Telegram's HTML parse mode: only its tags, every tag closed; collects the text left after parsing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.plain: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in ALLOWED_TAGS:
            raise BadRequestError(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            raise BadRequestError(f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"')

    def handle_data(self, data: str) -> None:
        self.plain.append(data)

    def handle_entityref(self, name: str) -> None:
        self.plain.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.plain.append(html.unescape(f"&#{name};"))


def text_after_entities(text: str, parse_mode: str | None) -> str:
    """The text Telegram would store: tags and character references of HTML mode resolved.

    "Formatting options": only ``&lt;`` ``&gt;`` ``&amp;`` ``&quot;`` and numerical references are supported;
    any other ``&`` must be written ``&amp;``.
    """
    if parse_mode != "HTML":
        return text
    if re.search(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        raise BadRequestError("Bad Request: can't parse entities: bad character reference")
    parser = _HtmlEntities()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise BadRequestError(
            f"Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"{parser.open[-1]}\""
        )
    return "".join(parser.plain)


def validate_text(params: dict[str, Any], field: str = "text") -> str:
    """sendMessage / editMessageText ``text``: entities parsed, then 1-4096 long; returns the parsed text."""
    plain = text_after_entities(str(params.get(field, "")), params.get("parse_mode"))
    if not plain.strip():
        raise BadRequestError("Bad Request: message text is empty")
    if utf16_units(plain) > MESSAGE_LIMIT:
        raise BadRequestError("Bad Request: message is too long")
    return plain


def validate_reply_markup(markup: Any) -> None:
    """InlineKeyboardButton ``callback_data``: "Data to be sent in a callback query ..., 1-64 bytes"."""
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise BadRequestError("Bad Request: BUTTON_DATA_INVALID")


def validate_set_webhook(params: dict[str, Any]) -> None:
    """setWebhook: an HTTPS url; ``secret_token`` of 1-256 characters ``A-Z a-z 0-9 _ -``."""
    if not str(params.get("url", "")).startswith("https://"):
        raise BadRequestError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise BadRequestError("Bad Request: secret token contains unallowed characters")
    updates = params.get("allowed_updates", [])
    if not isinstance(updates, list) or not set(updates) <= UPDATE_TYPES:
        raise BadRequestError("Bad Request: can't parse allowed updates")


def validate_commands(params: dict[str, Any]) -> None:
    """setMyCommands: BotCommand ``command`` is 1-32 of lowercase letters, digits and underscores."""
    commands = params.get("commands")
    valid = isinstance(commands, list) and all(
        re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", ""))) for c in commands
    )
    if not valid:
        raise BadRequestError("Bad Request: invalid commands")


def parse_params(content_type: str, raw: bytes) -> dict[str, Any]:
    """Telegram accepts JSON, urlencoded and multipart ("Making requests"); aiogram sends forms whose complex
    fields (reply_markup, commands) are JSON-encoded strings."""
    if content_type.startswith("application/json"):
        params: dict[str, Any] = json.loads(raw or b"{}")
        return params
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        fields = {
            part.get_param("name", header="content-disposition"): part.get_content()
            for part in message.iter_parts()
        }
    else:
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()}
    decoded: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        decoded[str(key)] = value
    return decoded
