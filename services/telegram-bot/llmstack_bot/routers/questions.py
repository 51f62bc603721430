"""Questions: a text message (in groups: one addressed to the bot) becomes a journaled turn through the gateway.

A photo (caption or not) goes to the vision route as an image. The question limit applies here only (``QuestionLimitMiddleware``), so commands never count against it."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.types import Message

from llmstack_bot.addressing import without_mention
from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies
from llmstack_bot.media import ImageTooLargeError, ImageUnavailableError, photo_content_part, pick_photo
from llmstack_bot.middlewares import QuestionLimitMiddleware
from llmstack_bot.turns import Question, UnreadableQuestion, clip, run_turn

DESCRIBE = "What is in this picture?"


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


async def photo(message: Message, bot: Bot, ctx: BotContext, replies: Replies) -> None:
    """A photo, with or without a caption, to the vision route as an image content part."""
    assert message.from_user is not None and message.photo is not None
    settings = ctx.settings
    if settings.vision_route not in settings.routes:
        await replies.send(
            message.chat.id, f"This stack has no {settings.vision_route} route: I can only read text."
        )
        return
    caption = without_mention(message.caption or "", ctx.identity).strip()
    caption, notice = clip(caption, settings.max_question_chars)
    sizes = message.photo
    try:
        # checked before the turn opens: a picture over the limit is explained, not sent to the model
        pick_photo(sizes, settings.max_image_bytes)
    except (ImageTooLargeError, ImageUnavailableError) as exc:
        await replies.send(message.chat.id, f"{exc} Send a smaller picture, or describe it in words.")
        return

    async def content() -> list[dict[str, Any]]:
        try:
            part = await photo_content_part(bot, sizes, max_bytes=settings.max_image_bytes)
        except (ImageTooLargeError, ImageUnavailableError) as exc:
            raise UnreadableQuestion(f"{exc} Send the picture again, or describe it in words.") from exc
        return [{"type": "text", "text": caption or DESCRIBE}, part]

    await run_turn(
        ctx,
        replies,
        replies.update_id,
        Question(
            message.chat.id,
            message.from_user.id,
            f"[photo] {caption}".strip(),
            content=content,
            route=settings.vision_route,
            notice=notice,
        ),
    )


def make_router() -> Router:
    router = Router(name="questions")
    router.message.middleware(QuestionLimitMiddleware())
    router.message.register(question, F.text)
    router.message.register(photo, F.photo)
    return router
