"""A Telegram photo as an image for the model: the right size picked, fetched within a byte limit, and
turned into an OpenAI chat ``image_url`` content part (a ``data:`` URL), which the gateway's vision route
passes to any provider.

Telegram sends a photo as several ``PhotoSize`` entries of the same picture, smallest first (Bot API docs,
Message.photo: "Available sizes of the photo"); ``file_size`` is optional. A file is fetched in two steps:
``getFile`` gives a ``file_path`` (and usually ``file_size``), then ``/file/bot<token>/<file_path>`` gives the
bytes; bots may download up to 20 MB (docs, getFile). The limit is checked on ``file_size`` and again while
streaming, since ``file_size`` may be missing.
"""

from __future__ import annotations

import base64
import contextlib
import math
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import PhotoSize

#: getFile: "For the moment, bots can download files of up to 20MB in size."
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
#: magic numbers of the formats the vision providers accept (OpenAI, Anthropic and Gemini all take these)
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ImageTooLargeError(Exception):
    """The picture is over the size limit; ``size`` (None: unknown, only "too big") and ``limit`` in bytes."""

    def __init__(self, size: int | None, limit: int) -> None:
        if size is None:
            super().__init__(f"The picture is larger than {_mb(limit)}.")
        else:
            super().__init__(f"The picture is {_mb(size)}; the limit is {_mb(limit)}.")
        self.size = size
        self.limit = limit


class ImageUnavailableError(Exception):
    """Telegram would not give the file (unknown or expired file_id, download failed) or it is not an image."""


def pick_photo(sizes: Sequence[PhotoSize], max_bytes: int) -> PhotoSize:
    """The largest size (by pixels) whose known ``file_size`` is within ``max_bytes``; a size without
    ``file_size`` is tried (the download enforces the limit). Raises ImageTooLargeError when none fits."""
    if not sizes:
        raise ImageUnavailableError("The message has no photo sizes.")
    fitting = [s for s in sizes if s.file_size is None or s.file_size <= max_bytes]
    if not fitting:
        smallest = min(s.file_size or 0 for s in sizes)
        raise ImageTooLargeError(smallest, max_bytes)
    return max(fitting, key=lambda s: (s.width * s.height, s.file_size or 0))


async def fetch_image(bot: Bot, file_id: str, *, max_bytes: int, timeout_s: int = 30) -> tuple[bytes, str]:
    """The file's bytes and MIME type, refusing more than ``max_bytes`` (before and during the download)."""
    limit = min(max_bytes, TELEGRAM_DOWNLOAD_LIMIT)
    try:
        file = await bot.get_file(file_id)
    except TelegramAPIError as exc:
        # "file is too big" (over 20 MB) is a size problem, every other refusal an unavailable file
        if "too big" in exc.message:
            raise ImageTooLargeError(None, TELEGRAM_DOWNLOAD_LIMIT) from exc
        raise ImageUnavailableError(f"Telegram did not give the picture: {exc.message}") from exc
    if file.file_size is not None and file.file_size > limit:
        raise ImageTooLargeError(file.file_size, limit)
    if not file.file_path:
        raise ImageUnavailableError("Telegram gave no file_path for the picture.")
    url = bot.session.api.file_url(bot.token, file.file_path)
    content = bytearray()
    stream = bot.session.stream_content(url, timeout=timeout_s, raise_for_status=True)
    try:
        # aclosing: stopping early for size closes the HTTP response now, not when the generator is collected
        async with contextlib.aclosing(stream):
            async for chunk in stream:
                content += chunk
                if len(content) > limit:
                    raise ImageTooLargeError(len(content), limit)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ImageUnavailableError(f"The picture could not be downloaded: {type(exc).__name__}") from exc
    return bytes(content), sniff_image_type(bytes(content))


def sniff_image_type(content: bytes) -> str:
    """The MIME type from the file's first bytes (Telegram re-encodes photos as JPEG; documents vary)."""
    for signature, mime in _SIGNATURES:
        if content.startswith(signature):
            return mime
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    raise ImageUnavailableError("The file is not a JPEG, PNG, GIF or WebP image.")


def image_content_part(content: bytes, mime: str) -> dict[str, Any]:
    """An OpenAI chat content part carrying the image inline (``data:<mime>;base64,...``)."""
    encoded = base64.b64encode(content).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}}


async def photo_content_part(
    bot: Bot, sizes: Sequence[PhotoSize], *, max_bytes: int, timeout_s: int = 30
) -> dict[str, Any]:
    """The best photo size within ``max_bytes`` as an ``image_url`` content part, ready for the model."""
    chosen = pick_photo(sizes, max_bytes)
    content, mime = await fetch_image(bot, chosen.file_id, max_bytes=max_bytes, timeout_s=timeout_s)
    return image_content_part(content, mime)


def image_token_estimate(width: int, height: int) -> int:
    """Input tokens a provider may bill for one image of this size: the larger of OpenAI's rule (OpenAI vision
    guide, "Calculating costs": fit into 2048x2048, then the short side to 768 px; 85 + 170 per 512-px tile;
    read here as scaling small images up too, the costlier reading) and Anthropic's (vision docs:
    width*height/750 once the long edge is at most 1568 px), so a budget reservation made with it is not
    too small."""
    scale = min(1.0, 2048 / max(width, height, 1))
    w, h = width * scale, height * scale
    scale = 768 / max(min(w, h), 1)
    w, h = w * scale, h * scale
    openai = 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)
    scale = min(1.0, 1568 / max(width, height, 1))
    anthropic = math.ceil(width * scale * height * scale / 750)
    return max(openai, anthropic)


def _mb(size: int) -> str:
    # binary units, as Telegram's "20MB" download limit is 20 * 1024 * 1024 bytes
    return f"{size / 1024 / 1024:.1f} MB" if size >= 100 * 1024 else f"{size / 1024:.0f} kB"
