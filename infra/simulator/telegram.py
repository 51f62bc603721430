"""A Telegram Bot API stand-in on 127.0.0.1 that validates like Telegram and fails like Telegram on demand.

Product code (`make demo` plays a conversation against it), and the fake the bot's tests and benchmark use.

Programmable faults (shapes in ``infra.simulator.telegram_faults``)::

    fake.fail("sendMessage", status=429, retry_after=1, times=1, after=1)  # the 2nd call gets flood control
    fake.block(1001, reason="blocked")        # 403 "Forbidden: bot was blocked by the user" for that chat
    fake.delay("sendMessage", 2.0)            # answer that method 2 s late
    fake.add_file("photo-1", b"...", path="photos/file_1.jpg")  # getFile + /file/bot<token>/<path>

What was delivered: ``fake.delivered(chat_id)`` (accepted sendMessage calls); every attempt, failed ones
included: ``fake.sent(chat_id)``; ``fake.early_retries`` lists calls repeated before ``retry_after`` passed.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.simulator.loopback import serve
from infra.simulator.telegram_faults import BlockReason, FaultPlan, error_body, make_fault
from infra.simulator.telegram_rules import (
    CHAT_ACTIONS,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    TRUE_METHODS,
    UPDATE_TYPES,
    BadRequestError,
    chat_for,
    chat_id_of,
    parse_params,
    validate_commands,
    validate_reply_markup,
    validate_set_webhook,
    validate_text,
)
from infra.simulator.telegram_webhook import WebhookDelivery

__all__ = ["UPDATE_TYPES", "BadRequestError", "FakeTelegram", "parse_params"]

#: getFile: "For the moment, bots can download files of up to 20MB in size."
DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass
class StoredFile:
    """A file the stand-in serves: getFile's ``File`` object and the bytes at its ``file_path``."""

    file_id: str
    content: bytes
    path: str
    file_unique_id: str
    #: what getFile reports; defaults to the real length (set it to test a size check without the bytes)
    size: int


@dataclass
class FakeTelegram:
    token: str
    #: getMe ``username``: group mention logic (``@username``, ``/cmd@username``) is tested against it
    username: str = "llmstack_test_bot"
    first_name: str = "llmstack test"
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)
    #: callback_query_id values answered, in order
    answered_callbacks: list[str] = field(default_factory=list)
    plan: FaultPlan = field(default_factory=FaultPlan)
    #: Telegram's deliveries to the bot, once ``deliver_to`` has named where the bot listens
    delivery: WebhookDelivery | None = None
    _messages: dict[tuple[int | None, int], dict[str, Any]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- programming faults -------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        times: int | None = 1,
        after: int = 0,
        chat_id: int | None = None,
        description: str | None = None,
    ) -> None:
        """Let ``after`` calls of ``method`` (for ``chat_id``, or any chat) through, then fail ``times`` of them
        (None: every one) with ``status`` and Telegram's description for it. A 429 carries
        ``parameters.retry_after`` (default 1) and keeps refusing the method until that many seconds pass."""
        fault = make_fault(
            method,
            status,
            retry_after=retry_after,
            times=times,
            after=after,
            chat_id=chat_id,
            description=description,
        )
        self.plan.add(fault)

    def block(self, chat_id: int, reason: BlockReason = "blocked") -> None:
        """Every call for ``chat_id`` gets 403 with the description for ``reason`` (blocked, deactivated,
        kicked, kicked_supergroup, not_started) until ``unblock``."""
        self.plan.block(chat_id, reason)

    def unblock(self, chat_id: int) -> None:
        self.plan.unblock(chat_id)

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of ``method`` (``"file"``: file downloads) ``seconds`` late; 0 to stop."""
        self.plan.delay(method, seconds)

    def add_file(
        self, file_id: str, content: bytes, *, path: str | None = None, size: int | None = None
    ) -> StoredFile:
        """Serve ``content`` through getFile(``file_id``) and ``/file/bot<token>/<path>``."""
        stored = StoredFile(
            file_id=file_id,
            content=content,
            path=path or f"photos/file_{len(self.files)}.jpg",
            file_unique_id=f"u{abs(hash(file_id)) % 10**10}",
            size=len(content) if size is None else size,
        )
        with self._lock:
            self.files[file_id] = stored
        return stored

    def reset(self) -> None:
        """Forget every call, message, file, answered query and programmed fault; keep serving."""
        self.plan.clear()
        with self._lock:
            self.calls.clear()
            self.rejected.clear()
            self.files.clear()
            self.answered_callbacks.clear()
            self._messages.clear()
            self.webhook = {}
        self.plan.early_retries.clear()

    def deliver_to(self, target: str, *, attempts: int = 5) -> WebhookDelivery:
        """Deliver updates to ``target`` as Telegram would to the webhook set with setWebhook (its secret
        token in the header, non-2xx answers redelivered); getWebhookInfo then reports the pending ones."""
        self.delivery = WebhookDelivery(target, self.webhook.get("secret_token"), attempts=attempts)
        return self.delivery

    @property
    def early_retries(self) -> list[tuple[str, int | None, float]]:
        """(method, chat, seconds still to wait) of every call made before its ``retry_after`` had passed."""
        return list(self.plan.early_retries)

    # --- what happened ------------------------------------------------------------------------------------

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Every sendMessage attempt, refused ones included, in order (optionally for one chat)."""
        with self._lock:
            return [
                p
                for m, p in self.calls
                if m == "sendMessage" and (chat_id is None or chat_id_of(p) == chat_id)
            ]

    def delivered(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages Telegram accepted (sendMessage params plus ``message_id``; edits applied), in order."""
        with self._lock:
            messages = sorted(self._messages.values(), key=lambda m: int(m["message_id"]))
        return [m for m in messages if chat_id is None or chat_id_of(m) == chat_id]

    @property
    def api_base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    # --- answering ----------------------------------------------------------------------------------------

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if match is None or match.group(1) != self.token:
            # a wrong token: Telegram answers 401 Unauthorized; an unparseable path 404
            if match is not None:
                return 401, error_body(401, "Unauthorized")
            return 404, error_body(404, "Not Found")
        method = match.group(2)
        with self._lock:
            self.calls.append((method, params))
        pause = self.plan.delay_for(method)
        if pause:
            time.sleep(pause)
        refused = self.plan.decide(method, chat_id_of(params))
        if refused is not None:
            with self._lock:
                self.rejected.append((method, str(refused[1]["description"])))
            return refused
        try:
            return 200, {"ok": True, "result": self._answer(method.lower(), params)}
        except BadRequestError as exc:
            with self._lock:
                self.rejected.append((method, str(exc)))
            return 400, error_body(400, str(exc))
        except LookupError:
            # "All methods in the Bot API are case-insensitive"; an unknown one is 404 Not Found
            return 404, error_body(404, "Not Found")

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getme":
            return {
                "id": int(self.token.split(":")[0]),
                "is_bot": True,
                "first_name": self.first_name,
                "username": self.username,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "setwebhook":
            validate_set_webhook(params)
            self.webhook = dict(params)
            return True  # Telegram adds "description": "Webhook was set"; aiogram reads only ``result``
        if method == "deletewebhook":
            self.webhook = {}
            return True
        if method == "getwebhookinfo":
            pending = self.delivery.info() if self.delivery else {"pending_update_count": 0}
            # WebhookInfo: url, has_custom_certificate and pending_update_count are required fields
            info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False, **pending}
            if "allowed_updates" in self.webhook:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            return info
        if method == "sendmessage":
            return self._send_message(params)
        if method == "editmessagetext":
            return self._edit_message_text(params)
        if method == "answercallbackquery":
            return self._answer_callback(params)
        if method == "sendchataction":
            if params.get("action") not in CHAT_ACTIONS:
                raise BadRequestError("Bad Request: wrong parameter action in request")
            return True
        if method == "setmycommands":
            validate_commands(params)
            return True
        if method == "getfile":
            return self._get_file(params)
        if method in TRUE_METHODS:
            return True
        raise LookupError(method)

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = chat_id_of(params)
        if chat_id is None:
            raise BadRequestError(
                "Bad Request: chat_id is empty" if "chat_id" not in params else "Bad Request: chat not found"
            )
        validate_text(params)
        validate_reply_markup(params.get("reply_markup"))
        with self._lock:
            message_id = next(self._ids)
            self._messages[(chat_id, message_id)] = {**params, "message_id": message_id}
        return self._message(chat_id, message_id, str(params["text"]))

    def _message(self, chat_id: int, message_id: int, text: str) -> dict[str, Any]:
        bot = {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": self.first_name}
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat_for(chat_id),
            "from": {**bot, "username": self.username},
            "text": text,
        }

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = chat_id_of(params)
        key = (chat_id, int(params.get("message_id", 0)))
        validate_text(params)
        validate_reply_markup(params.get("reply_markup"))
        with self._lock:
            stored = self._messages.get(key)
            if stored is None or chat_id is None:
                raise BadRequestError("Bad Request: message to edit not found")
            same_markup = stored.get("reply_markup") == params.get("reply_markup")
            if stored["text"] == params["text"] and same_markup:
                raise BadRequestError(NOT_MODIFIED)
            stored.update(text=params["text"], reply_markup=params.get("reply_markup"))
        return self._message(chat_id, key[1], str(params["text"]))

    def _answer_callback(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if not query_id:
            raise BadRequestError("Bad Request: query_id is empty")
        text = str(params.get("text", ""))
        if len(text) > 200:  # answerCallbackQuery text: 0-200 characters
            raise BadRequestError("Bad Request: MESSAGE_TOO_LONG")
        with self._lock:
            # a query is answered once; answering it again is refused like a query that timed out
            if query_id in self.answered_callbacks:
                raise BadRequestError(QUERY_TOO_OLD)
            self.answered_callbacks.append(query_id)
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise BadRequestError("Bad Request: invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise BadRequestError("Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.path,
        }

    def download(self, path: str) -> bytes | None:
        """The bytes at ``/file/bot<token>/<file_path>``, or None (Telegram answers 404)."""
        match = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if match is None or match.group(1) != self.token:
            return None
        with self._lock:
            self.calls.append(("file", {"file_path": match.group(2)}))
            found = [f for f in self.files.values() if f.path == match.group(2)]
        pause = self.plan.delay_for("file")
        if pause:
            time.sleep(pause)
        return found[0].content if found else None

    @contextmanager
    def running(self) -> Iterator[FakeTelegram]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def _reply(self, status: int, payload: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (its timeout ran out while a delay was in force)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b""
                try:
                    params = parse_params(self.headers.get("content-type", "application/json"), raw)
                except (ValueError, UnicodeDecodeError):
                    body = error_body(400, "Bad Request: can't parse request JSON object")
                    self._reply(400, json.dumps(body).encode(), "application/json")
                    return
                status, body = fake.handle(self.path, params)
                self._reply(status, json.dumps(body).encode(), "application/json")

            def do_GET(self) -> None:
                if self.path.startswith("/file/"):
                    content = fake.download(self.path)
                    if content is None:
                        self._reply(
                            404, json.dumps(error_body(404, "Not Found")).encode(), "application/json"
                        )
                    else:
                        self._reply(200, content, "application/octet-stream")
                    return
                # "We support GET and POST HTTP methods", parameters in the query string
                path, _, query = self.path.partition("?")
                status, body = fake.handle(
                    path, parse_params("application/x-www-form-urlencoded", query.encode())
                )
                self._reply(status, json.dumps(body).encode(), "application/json")

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
