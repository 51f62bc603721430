"""Who the bot answers and how: groups (mentions, replies, commands for it or for no bot), strangers (one notice
per chat per day), the question limit, button presses, photos and media it cannot read, long questions.
Fed with real update shapes (tests/payloads) through the webhook, against the Telegram stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bot_harness import RunningBot, bot_settings, message, start_bot, wait_for
from payloads import GROUP_ID, SUPERGROUP_ID, load

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 2000  # a JPEG's signature: what the media module sniffs


@pytest.fixture
def bot(database_url: str, telegram: FakeTelegram, gateway: FakeGateway) -> Iterator[RunningBot]:
    running = start_bot(
        bot_settings(database_url, telegram, gateway.url, routes=["balanced", "simple", "vision"])
    )
    yield running
    running.stop()


def delivered(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in telegram.delivered(chat_id)]


def settle(bot: RunningBot, count: int) -> None:
    """Wait until ``count`` updates are processed (done), so "nothing was sent" means something."""
    wait_for(lambda: sum(bot.app.state.inbox.counts().get(s, 0) for s in ("done", "failed")) == count, 15)


def test_in_a_group_only_what_is_addressed_to_the_bot_is_answered(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    for n, name in enumerate(
        ["group_plain", "group_mention_other", "group_command_other_bot", "supergroup_reply_to_user"]
    ):
        assert bot.post(load(name, update_id=100 + n)).json() == {"ok": True, "duplicate": False}
    settle(bot, 4)
    assert telegram.delivered() == [] and gateway.requests == []
    bot.post(load("group_mention", update_id=110))
    wait_for(lambda: delivered(telegram, GROUP_ID))
    assert delivered(telegram, GROUP_ID) == ["echo: what is 2+2?"]  # the bot's @name is not sent
    bot.post(load("supergroup_reply_to_bot", update_id=111))
    wait_for(lambda: delivered(telegram, SUPERGROUP_ID))
    bot.post(load("group_command_addressed", update_id=112))
    bot.post(load("group_command_bare", update_id=113))
    wait_for(lambda: len(delivered(telegram, GROUP_ID)) == 3)
    help_reply, usage_reply = delivered(telegram, GROUP_ID)[1:]  # /help@llmstack_test_bot, then /usage
    assert "/model" in help_reply and usage_reply.startswith("Today: ")
    assert len(gateway.requests) == 2


def test_a_stranger_gets_one_notice_per_chat_per_day_and_no_model(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    for n in range(3):
        bot.post(load("supergroup_stranger_mention", update_id=200 + n))
        bot.post(message(210 + n, 4242, "let me in"))
    settle(bot, 6)
    assert delivered(telegram, SUPERGROUP_ID) == ["Sorry, this bot is private."]
    assert delivered(telegram, 4242) == ["Sorry, this bot is private."]
    assert gateway.requests == []
    # durable: a restarted bot does not send it again the same day
    bot.stop()
    again = start_bot(bot.app.state.ctx.settings)
    try:
        again.post(message(220, 4242, "hello again"))
        wait_for(lambda: again.app.state.inbox.get(220)["status"] == "done", 15)
        assert delivered(telegram, 4242) == ["Sorry, this bot is private."]
    finally:
        again.stop()
        bot.stop = lambda: None  # type: ignore[method-assign]


def test_the_limit_counts_questions_not_commands_and_says_when_to_ask_again(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, requests_per_minute=2))
    try:
        for n in range(3):
            running.post(message(300 + n, 1001, "/usage"))
        settle(running, 3)
        for n in range(3):
            running.post(message(310 + n, 1001, f"question {n}"))
        wait_for(lambda: len(delivered(telegram, 1001)) == 6, 15)
        replies = delivered(telegram, 1001)
        assert replies[3:5] == ["echo: question 0", "echo: question 1"]
        assert "you have asked 2 questions in the last minute (the limit is 2)" in replies[5]
        assert "Please ask again in " in replies[5] and "this one was not sent to the model" in replies[5]
        assert len(gateway.requests) == 2
    finally:
        running.stop()


def test_every_button_press_is_answered(bot: RunningBot, telegram: FakeTelegram) -> None:
    def press(update_id: int, data: str, user: int = 1001) -> dict[str, Any]:
        return load(
            "callback_query",
            update_id=update_id,
            callback_query__id=f"q{update_id}",
            callback_query__data=data,
            callback_query__from__id=user,
        )

    bot.post(press(400, "route:simple"))
    bot.post(press(401, "route:nope"))
    bot.post(press(402, "something-else"))
    bot.post(press(403, "route:simple", user=4242))
    settle(bot, 4)
    assert sorted(telegram.answered_callbacks) == ["q400", "q401", "q402", "q403"]
    answers = {p["callback_query_id"]: p.get("text") for m, p in telegram.calls if m == "answerCallbackQuery"}
    assert answers["q400"] == "Route set to simple"
    assert "no longer a route" in answers["q401"]
    assert "no longer valid" in answers["q402"]
    assert answers["q403"] == "Sorry, this bot is private."
    assert delivered(telegram, 1001) == ["Route set to simple."]
    assert bot.app.state.ctx.routes.get(1001, "balanced") == "simple"


def test_a_photo_goes_to_the_vision_route_as_an_image(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    telegram.add_file("photo-large", JPEG)
    bot.post(load("photo_caption", update_id=500))
    wait_for(lambda: delivered(telegram, 1001), 15)
    request = gateway.requests[0]
    assert request["model"] == "vision"
    text, image = request["messages"][-1]["content"]
    assert text == {"type": "text", "text": "what is in this picture?"}
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,")
    telegram.add_file("photo-large", JPEG)
    bot.post(load("photo", update_id=501))  # no caption: the bot asks for a description
    wait_for(lambda: len(gateway.requests) == 2, 15)
    assert gateway.requests[1]["messages"][-1]["content"][0]["text"] == "What is in this picture?"


def test_a_picture_over_the_limit_is_explained_not_sent(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    running = start_bot(
        bot_settings(database_url, telegram, gateway.url, routes=["balanced", "vision"], max_image_bytes=1000)
    )
    try:
        running.post(load("photo_caption", update_id=510))
        wait_for(lambda: delivered(telegram, 1001), 15)
        assert "the limit is" in delivered(telegram, 1001)[0] and gateway.requests == []
    finally:
        running.stop()


def test_media_the_bot_cannot_read_get_a_reply_saying_what_it_understands(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    for n, name in enumerate(["sticker", "voice", "document"]):
        bot.post(load(name, update_id=600 + n))
    wait_for(lambda: len(delivered(telegram, 1001)) == 3, 15)
    assert all(text.startswith("I understand text messages and photos") for text in delivered(telegram, 1001))
    assert gateway.requests == []


def test_a_long_question_is_cut_with_a_notice(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, max_question_chars=10))
    try:
        running.post(message(700, 1001, "0123456789 and much more"))
        wait_for(lambda: len(delivered(telegram, 1001)) == 2, 15)
        notice, answer = delivered(telegram, 1001)
        assert notice == "Your message has 24 characters; only the first 10 were sent to the model."
        assert answer == "echo: 0123456789"
    finally:
        running.stop()


def test_a_user_who_blocks_the_bot_marks_the_chat_unreachable_until_they_write_again(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    settings = bot_settings(
        database_url, telegram, gateway.url, allowed_updates=["message", "callback_query", "my_chat_member"]
    )
    running = start_bot(settings)
    try:
        running.post(load("my_chat_member_blocked"))
        settle(running, 1)
        assert running.app.state.ctx.chats.unreachable(1001) == "my_chat_member: the bot was kicked"
        assert telegram.delivered() == []
        running.post(message(800, 1001, "I am back"))
        wait_for(lambda: delivered(telegram, 1001) == ["echo: I am back"], 15)
        assert running.app.state.ctx.chats.unreachable(1001) is None
    finally:
        running.stop()
