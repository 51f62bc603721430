"""Questions: a text message (in groups: one addressed to the bot) becomes a journaled turn through the gateway.

The question limit applies here only (``QuestionLimitMiddleware``), so commands never count against it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from llmstack_bot.addressing import without_mention
from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies
from llmstack_bot.middlewares import QuestionLimitMiddleware
from llmstack_bot.turns import Question, clip, run_turn


async def question(message: Message, ctx: BotContext, replies: Replies) -> None:
    assert message.from_user is not None and message.text is not None
    text = without_mention(message.text, ctx.identity).strip()
    if not text:
        await replies.send(message.chat.id, "Yes? Ask me something.")
        return
    text, notice = clip(text, ctx.settings.max_question_chars)
    await run_turn(
        ctx, replies, replies.update_id, Question(message.chat.id, message.from_user.id, text, notice=notice)
    )


def make_router() -> Router:
    router = Router(name="questions")
    router.message.middleware(QuestionLimitMiddleware())
    router.message.register(question, F.text)
    return router
