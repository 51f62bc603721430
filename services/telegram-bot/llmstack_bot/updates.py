"""What the webhook does with a request body before accepting it: Telegram redelivers anything not answered 2xx,
so a body that can never be processed must be answered 2xx (and kept for audit), never 5xx.

The check is aiogram's ``Update`` model (generated from the Bot API docs: a ``User`` needs ``is_bot``, a ``Chat``
its ``type``, a ``Message`` its ``message_id``, ``date`` and ``chat``) plus an exact integer ``update_id`` (JSON
``true`` would pass pydantic's lax int as 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiogram.types import Update
from pydantic import ValidationError

#: the update types whose ``from``/``chat`` the inbox records (to serve one chat at a time)
_CHAT_OF = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "my_chat_member",
    "chat_member",
}


class NotJson(Exception):  # noqa: N818
    """Not a JSON document at all: not from Telegram (it always sends JSON), so a plain 400."""


@dataclass(frozen=True)
class Judged:
    payload: Any
    #: None when there is no usable integer update_id (nothing to keep)
    update_id: int | None
    #: the update's type (``message``, ``callback_query``, ...), when it has one
    kind: str | None = None
    user_id: int | None = None
    chat_id: int | None = None
    #: why it can never be processed; None: accept it
    problem: str | None = None


def judge(body: bytes) -> Judged:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise NotJson(str(exc)) from exc
    if not isinstance(payload, dict):
        return Judged(payload, None, problem=f"an update is a JSON object, not {type(payload).__name__}")
    update_id = payload.get("update_id")
    if type(update_id) is not int:  # bool is an int subclass: `"update_id": true` is no update id
        return Judged(
            payload, None, problem=f"update_id must be an integer, not {json.dumps(update_id)[:40]}"
        )
    try:
        update = Update.model_validate(payload)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()[:5]
        )
        return Judged(payload, update_id, problem=f"not a Bot API Update ({fields})"[:500])
    try:
        kind = update.event_type
    except (
        Exception
    ):  # aiogram raises when no type it knows is present (a newer Bot API's): ignored, not wrong
        return Judged(payload, update_id)
    event = update.event
    user = getattr(event, "from_user", None)
    chat = getattr(event, "chat", None) if kind in _CHAT_OF else None
    if (
        kind == "callback_query"
        and update.callback_query is not None
        and update.callback_query.message is not None
    ):
        chat = update.callback_query.message.chat
    return Judged(
        payload,
        update_id,
        kind=kind,
        user_id=user.id if user is not None else None,
        chat_id=chat.id if chat is not None else None,
    )
