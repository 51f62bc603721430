"""Photos for the vision route, fetched from the Telegram stand-in with aiogram's real client: the right size
picked, limits enforced before and during the download, and an OpenAI ``image_url`` part out."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pytest
from aiogram import Bot
from aiogram.types import Message, PhotoSize
from bot_harness import TOKEN
from llmstack_bot.media import (
    ImageTooLargeError,
    ImageUnavailableError,
    fetch_image,
    image_token_estimate,
    photo_content_part,
    pick_photo,
    sniff_image_type,
)
from llmstack_bot.telegram import make_bot
from payloads import load

from infra.simulator.telegram import FakeTelegram

T = TypeVar("T")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32


class Client:
    """The stand-in and one aiogram Bot on one event loop for the module (aiogram's close sleeps 0.25 s)."""

    def __init__(self, telegram: FakeTelegram, runner: asyncio.Runner, bot: Bot) -> None:
        self.telegram, self.runner, self.bot = telegram, runner, bot

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.runner.run(wrapped())


@pytest.fixture(scope="module")
def shared() -> Iterator[Client]:
    telegram = FakeTelegram(TOKEN)
    with telegram.running(), asyncio.Runner() as runner:
        bot = make_bot(TOKEN, telegram.api_base)
        yield Client(telegram, runner, bot)
        runner.run(bot.session.close())


@pytest.fixture
def client(shared: Client) -> Client:
    shared.telegram.reset()
    return shared


def photo_sizes() -> list[PhotoSize]:
    message = Message.model_validate(load("photo_caption")["message"])
    assert message.photo is not None
    return list(message.photo)


def test_the_largest_size_within_the_limit_is_picked() -> None:
    sizes = photo_sizes()
    assert pick_photo(sizes, max_bytes=1_000_000).file_id == "photo-large"
    assert pick_photo(sizes, max_bytes=50_000).file_id == "photo-medium"
    unknown = [s.model_copy(update={"file_size": None}) if s.file_id == "photo-large" else s for s in sizes]
    assert pick_photo(unknown, max_bytes=50_000).file_id == "photo-large"  # the download will check it


def test_no_size_within_the_limit_says_how_big() -> None:
    with pytest.raises(ImageTooLargeError, match=r"The picture is 1 kB; the limit is 1 kB\.") as caught:
        pick_photo(photo_sizes(), max_bytes=1000)
    assert (caught.value.size, caught.value.limit) == (1283, 1000)
    with pytest.raises(ImageUnavailableError, match="no photo sizes"):
        pick_photo([], max_bytes=1000)


def test_a_photo_becomes_an_image_url_part(client: Client) -> None:
    client.telegram.add_file("photo-large", JPEG, path="photos/file_3.jpg")
    part: dict[str, Any] = client.run(photo_content_part(client.bot, photo_sizes(), max_bytes=1_000_000))
    assert part["type"] == "image_url"
    prefix = "data:image/jpeg;base64,"
    assert part["image_url"]["url"].startswith(prefix)
    assert base64.b64decode(part["image_url"]["url"][len(prefix) :]) == JPEG
    assert client.telegram.methods() == ["getFile", "file"]


def test_a_size_reported_over_the_limit_is_not_downloaded(client: Client) -> None:
    client.telegram.add_file("photo-large", JPEG, size=5 * 1024 * 1024)
    with pytest.raises(ImageTooLargeError, match=r"The picture is 5\.0 MB; the limit is 1\.0 MB\."):
        client.run(fetch_image(client.bot, "photo-large", max_bytes=1024 * 1024))
    assert client.telegram.methods() == ["getFile"]


def test_a_download_longer_than_reported_is_cut_off(client: Client) -> None:
    client.telegram.add_file("photo-large", JPEG * 30, size=100)  # getFile understates the size
    with pytest.raises(ImageTooLargeError) as caught:
        client.run(fetch_image(client.bot, "photo-large", max_bytes=100_000))
    assert caught.value.size is not None and caught.value.size > 100_000 and caught.value.limit == 100_000


def test_telegrams_own_20_mb_limit(client: Client) -> None:
    client.telegram.add_file("huge", b"x", size=21 * 1024 * 1024)
    with pytest.raises(ImageTooLargeError, match=r"^The picture is larger than 20\.0 MB\.$") as caught:
        client.run(fetch_image(client.bot, "huge", max_bytes=50 * 1024 * 1024))
    assert caught.value.size is None


def test_unknown_files_slow_downloads_and_non_images_are_unavailable(client: Client) -> None:
    with pytest.raises(ImageUnavailableError, match=r"Telegram did not give the picture: .*invalid file_id"):
        client.run(fetch_image(client.bot, "nope", max_bytes=1_000_000))
    client.telegram.add_file("report", b"%PDF-1.7 ...")
    with pytest.raises(ImageUnavailableError, match="not a JPEG, PNG, GIF or WebP"):
        client.run(fetch_image(client.bot, "report", max_bytes=1_000_000))
    client.telegram.add_file("slow", JPEG)
    client.telegram.delay("file", 2.0)
    with pytest.raises(ImageUnavailableError, match="could not be downloaded"):
        client.run(fetch_image(client.bot, "slow", max_bytes=1_000_000, timeout_s=1))
    client.telegram.delay("file", 0)


def test_formats_are_recognised_by_their_first_bytes() -> None:
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(b"GIF89a...") == "image/gif"
    with pytest.raises(ImageUnavailableError):
        sniff_image_type(b"RIFF\x00\x00\x00\x00WAVEfmt ")


def test_token_estimates_follow_the_costlier_provider() -> None:
    # OpenAI's guide: 1024x1024 is 4 tiles, 765 tokens; Anthropic's formula: 1024*1024/750 = 1399 is larger
    assert image_token_estimate(1024, 1024) == 1399
    # a tall strip: OpenAI 768x6144 after scaling, 2x12 tiles = 4165; Anthropic 196x1568 only ~410
    assert image_token_estimate(512, 4096) == 4165
    # Telegram's largest photo size: OpenAI 1024x768 = 4 tiles, 765; Anthropic 1280*960/750 = 1639
    assert image_token_estimate(1280, 960) == 1639
