"""The Telegram stand-in through aiogram's real client: each fault reaches the bot as the exception aiogram
raises for Telegram's own answer (aiogram/client/session/base.py ``check_response``)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from infra.simulator.loopback import serve
from infra.simulator.telegram import FakeTelegram

TOKEN = "123456789:" + "S" * 35
T = TypeVar("T")


class Api:
    """The stand-in with one aiogram Bot on one event loop, shared by the module: aiogram's session close
    sleeps 0.25 s, so a client per test would cost more than the tests."""

    def __init__(self, fake: FakeTelegram, runner: asyncio.Runner, bot: Bot) -> None:
        self.fake, self.runner, self.bot = fake, runner, bot

    def call(self, call: Callable[[Bot], Coroutine[Any, Any, T]]) -> T:
        return self.runner.run(call(self.bot))

    def send(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        return self.call(lambda bot: bot.send_message(chat_id, text, **kwargs))


@pytest.fixture(scope="module")
def shared() -> Iterator[Api]:
    fake = FakeTelegram(TOKEN)
    with fake.running(), asyncio.Runner() as runner:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.api_base)))
        yield Api(fake, runner, bot)
        runner.run(bot.session.close())


@pytest.fixture
def api(shared: Api) -> Api:
    shared.fake.reset()
    return shared


@pytest.fixture
def telegram(api: Api) -> FakeTelegram:
    return api.fake


def test_429_on_the_kth_call_carries_retry_after(api: Api, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", status=429, retry_after=2, after=1)
    api.send(1001, "part 1")
    with pytest.raises(TelegramRetryAfter) as caught:
        api.send(1001, "part 2")
    assert caught.value.retry_after == 2
    assert "Too Many Requests: retry after 2" in str(caught.value)
    assert [m["text"] for m in telegram.delivered(1001)] == ["part 1"]
    assert len(telegram.sent(1001)) == 2


def test_repeating_before_retry_after_meets_flood_control_again(api: Api, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", status=429, retry_after=1)
    with pytest.raises(TelegramRetryAfter):
        api.send(1001, "one")
    with pytest.raises(TelegramRetryAfter) as caught:
        api.send(1001, "one")  # too soon
    assert caught.value.retry_after == 1
    assert len(telegram.early_retries) == 1
    time.sleep(1.05)
    api.send(1001, "one")
    assert [m["text"] for m in telegram.delivered()] == ["one"]
    assert len(telegram.early_retries) == 1


def test_a_fault_for_one_chat_leaves_the_others_alone(api: Api, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", status=500, chat_id=1002, times=None)
    api.send(1001, "fine")
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        api.send(1002, "broken")
    with pytest.raises(TelegramServerError):
        api.send(1002, "still broken")


@pytest.mark.parametrize(
    ("reason", "description"),
    [
        ("blocked", "Forbidden: bot was blocked by the user"),
        ("deactivated", "Forbidden: user is deactivated"),
        ("kicked", "Forbidden: bot was kicked from the group chat"),
    ],
)
def test_a_blocked_chat_is_403_for_every_method(
    api: Api, telegram: FakeTelegram, reason: Any, description: str
) -> None:
    telegram.block(1001, reason=reason)
    with pytest.raises(TelegramForbiddenError, match=description):
        api.send(1001, "hello?")
    with pytest.raises(TelegramForbiddenError, match=description):
        api.call(lambda bot: bot.send_chat_action(1001, "typing"))
    api.send(1002, "others still reachable")
    telegram.unblock(1001)
    api.send(1001, "back")
    assert [m["text"] for m in telegram.delivered(1001)] == ["back"]


def test_a_slow_answer_is_slow(api: Api, telegram: FakeTelegram) -> None:
    telegram.delay("sendChatAction", 0.4)
    started = time.monotonic()
    api.call(lambda bot: bot.send_chat_action(1001, "typing"))
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    api.send(1001, "not delayed")
    assert time.monotonic() - started < 0.4


def test_length_is_counted_in_utf16_units_after_entity_parsing(api: Api, telegram: FakeTelegram) -> None:
    api.send(1001, "\U0001f600" * 2048)  # 4096 units
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        api.send(1001, "\U0001f600" * 2049)  # 4098 units, 2049 code points
    # tags and references do not count: 4096 units once parsed, though far longer as sent
    api.send(1001, "<b>" + "&amp;" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        api.send(1001, "&amp;" * 4097, parse_mode="HTML")


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("<b>open", "Can't find end tag"),
        ("<script>x</script>", 'Unsupported start tag "script"'),
        ("a & b", "bad character reference"),
        ("<b></b>", "message text is empty"),
    ],
)
def test_html_that_telegram_refuses(api: Api, telegram: FakeTelegram, text: str, description: str) -> None:
    with pytest.raises(TelegramBadRequest, match=description):
        api.send(1001, text, parse_mode="HTML")
    assert telegram.delivered() == []
    assert telegram.rejected[-1][0] == "sendMessage"


def test_callback_data_over_64_bytes_is_refused(api: Api, telegram: FakeTelegram) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="é" * 33)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        api.send(1001, "pick", reply_markup=markup)


def test_get_me_has_a_username(api: Api, telegram: FakeTelegram) -> None:
    me = api.call(lambda bot: bot.get_me())
    assert me.is_bot and me.username == "llmstack_test_bot" and me.id == 123456789


def test_a_callback_query_is_answered_once(api: Api, telegram: FakeTelegram) -> None:
    assert api.call(lambda bot: bot.answer_callback_query("q-1", text="Route set"))
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        api.call(lambda bot: bot.answer_callback_query("q-1"))
    assert telegram.answered_callbacks == ["q-1"]


def test_commands_and_chat_actions_are_validated(api: Api, telegram: FakeTelegram) -> None:
    assert api.call(lambda bot: bot.set_my_commands([BotCommand(command="help", description="h")]))
    with pytest.raises(TelegramBadRequest, match="invalid commands"):
        api.call(lambda bot: bot.set_my_commands([BotCommand(command="Help!", description="h")]))
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        api.call(lambda bot: bot.send_chat_action(1001, "dancing"))


def test_edit_message_text(api: Api, telegram: FakeTelegram) -> None:
    message = api.send(1001, "draft")
    api.call(lambda bot: bot.edit_message_text("final", chat_id=1001, message_id=message.message_id))
    assert [m["text"] for m in telegram.delivered(1001)] == ["final"]
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        api.call(lambda bot: bot.edit_message_text("final", chat_id=1001, message_id=message.message_id))
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        api.call(lambda bot: bot.edit_message_text("x", chat_id=1001, message_id=999))


def test_get_file_and_download(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_file("photo-1", b"\xff\xd8jpeg bytes", path="photos/file_7.jpg")

    async def fetch(bot: Bot) -> tuple[Any, bytes]:
        file = await bot.get_file("photo-1")
        buffer = io.BytesIO()
        await bot.download_file(str(file.file_path), buffer)
        return file, buffer.getvalue()

    file, content = api.call(fetch)
    assert (file.file_path, file.file_size) == ("photos/file_7.jpg", 12)
    assert content == b"\xff\xd8jpeg bytes"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        api.call(lambda bot: bot.get_file("nope"))
    missing = httpx.get(f"{telegram.api_base}/file/bot{TOKEN}/photos/none.jpg")
    wrong_token = httpx.get(f"{telegram.api_base}/file/bot123456789:{'X' * 35}/photos/file_7.jpg")
    assert (missing.status_code, wrong_token.status_code) == (404, 404)


def test_a_file_over_20_mb_cannot_be_fetched(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_file("huge", b"x", size=21 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        api.call(lambda bot: bot.get_file("huge"))


def test_unknown_methods_and_tokens(api: Api, telegram: FakeTelegram) -> None:
    with pytest.raises(TelegramNotFound, match="Not Found"):
        api.call(lambda bot: bot.get_chat(1001))  # a real method the stand-in does not model
    wrong = httpx.post(f"{telegram.api_base}/bot123456789:{'X' * 35}/getMe")
    assert wrong.status_code == 401 and wrong.json()["description"] == "Unauthorized"
    # method names are case-insensitive, and GET with a query string works as POST does
    got = httpx.get(f"{telegram.api_base}/bot{TOKEN}/GETME")
    assert got.json()["result"]["username"] == "llmstack_test_bot"


class _Webhook(BaseHTTPRequestHandler):
    """A bot's webhook that answers the statuses queued in ``statuses`` (200 once they run out)."""

    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[str | None, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
        self.send_response(self.statuses.pop(0) if self.statuses else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[str]:
    _Webhook.statuses, _Webhook.received = [], []
    with serve(_Webhook) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/telegram/webhook"


def test_updates_are_delivered_with_the_secret_and_a_5xx_stays_pending(
    api: Api, telegram: FakeTelegram, webhook: str
) -> None:
    api.call(lambda bot: bot.set_webhook("https://bot.example/telegram/webhook", secret_token="s3cret"))
    delivery = telegram.deliver_to(webhook)
    _Webhook.statuses = [503]
    assert delivery.deliver({"update_id": 1}) == 503
    info = api.call(lambda bot: bot.get_webhook_info())
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"
    assert delivery.redeliver() == [200]
    assert api.call(lambda bot: bot.get_webhook_info()).pending_update_count == 0
    assert [secret for secret, _ in _Webhook.received] == ["s3cret", "s3cret"]
    assert [body["update_id"] for _, body in _Webhook.received] == [1, 1]


def test_telegram_gives_up_after_its_attempts(telegram: FakeTelegram, webhook: str) -> None:
    delivery = telegram.deliver_to(webhook, attempts=2)
    _Webhook.statuses = [500, 500]
    assert delivery.deliver({"update_id": 7}) == 500
    assert delivery.redeliver() == [500]
    assert delivery.pending == [] and delivery.dropped == [{"update_id": 7}]
    assert [d.status for d in delivery.log] == [500, 500]
    refused = telegram.deliver_to("http://127.0.0.1:9/telegram/webhook")
    assert refused.deliver({"update_id": 8}) == 0
    assert refused.info() == {
        "pending_update_count": 1,
        "last_error_date": refused.last_error_date,
        "last_error_message": "Connection refused",
    }
