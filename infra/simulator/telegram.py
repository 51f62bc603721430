"""A Telegram Bot API stand-in on 127.0.0.1: records every call and validates parameters like Telegram does.

Product code (`make demo` plays a conversation against it), and the fake the bot's tests use."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.simulator.loopback import serve

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
TOKEN = re.compile(r"^[0-9]{6,12}:[A-Za-z0-9_-]{20,}$")


class BadRequestError(Exception):
    pass


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
    "blockquote",
    "span",
}


class _Entities(HTMLParser):
    """Telegram's HTML parse mode: only its tags, every tag closed, entities well formed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in ALLOWED_TAGS:
            raise BadRequestError(f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            raise BadRequestError(f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"')


def _validate_text(params: dict[str, Any]) -> None:
    text = str(params.get("text", ""))
    if not text.strip():
        raise BadRequestError("Bad Request: message text is empty")
    if len(text) > 4096:
        raise BadRequestError("Bad Request: message is too long")
    if params.get("parse_mode") == "HTML":
        parser = _Entities()
        parser.feed(text)
        parser.close()
        if parser.open:
            raise BadRequestError("Bad Request: can't parse entities: unclosed tag")
        if re.search(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)", text):
            raise BadRequestError("Bad Request: can't parse entities: bad character reference")


def parse_params(content_type: str, raw: bytes) -> dict[str, Any]:
    """Telegram accepts JSON, urlencoded and multipart; aiogram sends forms with JSON-encoded complex fields."""
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


def _validate_set_webhook(params: dict[str, Any]) -> None:
    if not str(params.get("url", "")).startswith("https://"):
        raise BadRequestError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise BadRequestError("Bad Request: secret token contains unallowed characters")
    updates = params.get("allowed_updates", [])
    if not isinstance(updates, list) or not set(updates) <= UPDATE_TYPES:
        raise BadRequestError("Bad Request: can't parse allowed updates")


@dataclass
class FakeTelegram:
    token: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every sendMessage, in order (optionally for one chat)."""
        with self._lock:
            return [
                p
                for m, p in self.calls
                if m == "sendMessage" and (chat_id is None or int(p["chat_id"]) == chat_id)
            ]

    @property
    def api_base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if match is None or match.group(1) != self.token:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = match.group(2)
        with self._lock:
            self.calls.append((method, params))
        try:
            if method == "setWebhook":
                _validate_set_webhook(params)
                self.webhook = dict(params)
                return 200, {"ok": True, "result": True, "description": "Webhook was set"}
            if method == "deleteWebhook":
                self.webhook = {}
                return 200, {"ok": True, "result": True}
            if method == "getWebhookInfo":
                return 200, {
                    "ok": True,
                    "result": {"url": self.webhook.get("url", ""), "pending_update_count": 0},
                }
            if method == "sendMessage":
                if "chat_id" not in params:
                    raise BadRequestError("Bad Request: chat_id is empty")
                _validate_text(params)
                chat = {"id": int(params["chat_id"]), "type": "private"}
                result = {
                    "message_id": next(self._ids),
                    "date": int(time.time()),
                    "chat": chat,
                    "text": params["text"],
                }
                return 200, {"ok": True, "result": result}
            if method == "setMyCommands":
                commands = params.get("commands")
                valid = isinstance(commands, list) and all(
                    re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) for c in commands
                )
                if not valid:
                    raise BadRequestError("Bad Request: invalid commands")
                return 200, {"ok": True, "result": True}
            if method == "sendChatAction":
                if params.get("action") not in ("typing", "upload_photo", "record_video", "upload_document"):
                    raise BadRequestError("Bad Request: wrong parameter action in request")
                return 200, {"ok": True, "result": True}
        except BadRequestError as exc:
            with self._lock:
                self.rejected.append((method, str(exc)))
            return 400, {"ok": False, "error_code": 400, "description": str(exc)}
        return 200, {"ok": True, "result": True}

    @contextmanager
    def running(self) -> Iterator[FakeTelegram]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b""
                params = parse_params(self.headers.get("content-type", "application/json"), raw)
                status, body = fake.handle(self.path, params)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
