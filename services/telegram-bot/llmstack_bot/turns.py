"""A conversation turn, journaled: the question enters history once, the model is asked once, each part is sent
once, whatever crashes or retries happen in between (see ``journal`` and ``delivery``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from llmstack_bot.context import BotContext
from llmstack_bot.delivery import ChatUnreachable, Replies
from llmstack_bot.gateway import BudgetExhausted, GatewayUnavailable

log = logging.getLogger("llmstack.turns")
SORRY = "Sorry, I could not reach the model just now. Please try again in a minute."


class UnreadableQuestion(Exception):  # noqa: N818
    """What the model was to be sent cannot be built (the picture is gone or too big): the message says why."""


@dataclass(frozen=True)
class Question:
    chat_id: int
    user_id: int
    #: what enters history (text; a photo is recorded by its caption and a marker)
    text: str
    #: builds what the model is sent when it is more than ``text`` (an image part, fetched from Telegram);
    #: called only when the model is to be asked, so a retry of an answered turn downloads nothing
    content: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None
    #: a route forced by the question's kind (``vision`` for a photo), else the chat's
    route: str | None = None
    #: said before the answer (the question was cut to the configured length, say)
    notice: str | None = None


def budget_reply(refusal: BudgetExhausted) -> str:
    """What the user is told when the gateway refuses for the budget: whose budget, and what helps."""
    if refusal.never_fits:
        # the worst case counts the conversation sent along (the history) and the answer's limit
        return (
            "This question is too large for the daily budget on any day. /reset starts a shorter conversation; "
            "if that does not help, ask the operator."
        )
    when = (
        f"{refusal.resets_at} ({refusal.timezone})"
        if refusal.resets_at and refusal.timezone
        else refusal.resets_at
    )
    whose = (
        "This bot's share of the daily budget is spent"
        if refusal.reason == "client_share_exhausted"
        else "The daily budget is reached"
    )
    return f"{whose}; it resets at {when or 'the end of the budget day'}."


def clip(text: str, limit: int) -> tuple[str, str | None]:
    """The text sent to the model, at most ``limit`` characters, and the notice that says it was cut."""
    if len(text) <= limit:
        return text, None
    return text[:limit], (
        f"Your message has {len(text)} characters; only the first {limit} were sent to the model."
    )


async def run_turn(ctx: BotContext, replies: Replies, update_id: int, question: Question) -> None:
    db, settings = ctx.db, ctx.settings
    route = question.route or await db.run(ctx.routes.get, question.chat_id, settings.default_route)
    turn = await db.run(ctx.journal.open, update_id, question.chat_id, question.user_id, route, question.text)
    try:
        if question.notice:
            await replies.send(question.chat_id, question.notice)
        if turn.reply is None:
            await replies.typing(question.chat_id)
            messages: list[dict[str, Any]] = list(
                await db.run(ctx.history.recent, question.chat_id, settings.history_token_budget)
            )
            try:
                if question.content is not None and messages:
                    messages[-1] = {"role": "user", "content": await question.content()}
                answer = await ctx.gateway.complete(turn.route, messages, user=str(question.user_id))
            except UnreadableQuestion as exc:
                turn = await db.run(ctx.journal.refuse, update_id, str(exc))
            except BudgetExhausted as exc:
                turn = await db.run(ctx.journal.refuse, update_id, budget_reply(exc))
            except GatewayUnavailable:
                log.exception("gateway unavailable for update %s", update_id)
                turn = await db.run(ctx.journal.refuse, update_id, SORRY)
            else:
                turn = await db.run(ctx.journal.answer, update_id, answer.text, answer.cost_usd, ctx.today())
        assert turn.reply is not None
        await replies.send(question.chat_id, turn.reply)
    except ChatUnreachable:
        await db.run(ctx.journal.close, update_id, "undeliverable")
        raise
    await db.run(ctx.journal.close, update_id, "delivered")
