"""HTTP: the Telegram webhook (secret header, durable inbox), the gateway's budget alerts, and health."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from llmstack_bot.db import make_engine, migrate, ping, sessions
from llmstack_bot.gateway import GatewayClient
from llmstack_bot.handlers import Handlers
from llmstack_bot.repositories import HistoryRepository, InboxRepository, RouteRepository, UsageRepository
from llmstack_bot.settings import Settings
from llmstack_bot.telegram import COMMANDS, make_bot
from llmstack_bot.worker import InboxWorker

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ALERT_HEADER = "x-llmstack-alert-secret"
log = logging.getLogger("llmstack.bot")


def _same(presented: str | None, expected: str) -> bool:
    return (
        bool(expected)
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


def _who(update: dict[str, Any]) -> tuple[int | None, int | None]:
    for kind in ("message", "edited_message"):
        if isinstance(update.get(kind), dict):
            message = update[kind]
            return (message.get("from") or {}).get("id"), (message.get("chat") or {}).get("id")
    if isinstance(update.get("callback_query"), dict):
        query = update["callback_query"]
        return (query.get("from") or {}).get("id"), ((query.get("message") or {}).get("chat") or {}).get("id")
    return None, None


def create_app(settings: Settings, *, run_worker: bool = True) -> FastAPI:
    engine = make_engine(settings.sqlalchemy_url())
    session_factory = sessions(engine)
    inbox = InboxRepository(session_factory)
    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_base)
    gateway = GatewayClient(
        settings.gateway_base_url,
        settings.gateway_api_key,
        attempts=settings.gateway_attempts,
        timeout_s=settings.gateway_timeout_s,
    )
    handlers = Handlers(
        settings,
        bot,
        gateway,
        HistoryRepository(session_factory),
        RouteRepository(session_factory),
        UsageRepository(session_factory),
    )
    worker = InboxWorker(inbox, handlers.handle)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, engine)
        try:
            await bot.set_my_commands(COMMANDS)
        except Exception:  # the bot still serves; commands are cosmetic
            log.exception("setMyCommands failed")
        task = asyncio.create_task(worker.run()) if run_worker else None
        yield
        worker.stop()
        if task is not None:
            await asyncio.wait_for(task, timeout=30)
        await gateway.close()
        await bot.session.close()
        engine.dispose()

    app = FastAPI(title="llm-stack telegram bot", lifespan=lifespan)
    app.state.inbox, app.state.worker, app.state.handlers, app.state.engine = inbox, worker, handlers, engine

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> JSONResponse:
        if not _same(request.headers.get(SECRET_HEADER), settings.telegram_webhook_secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            update = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"ok": False, "error": "malformed JSON"}, status_code=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
        if not any(kind in update for kind in settings.allowed_updates):
            return JSONResponse({"ok": True, "ignored": "update type not registered"})
        user_id, chat_id = _who(update)
        try:
            new = await asyncio.to_thread(inbox.accept, update["update_id"], user_id, chat_id, update)
        except SQLAlchemyError:
            # not stored: a non-2xx makes Telegram deliver it again later
            log.exception("could not store update %s", update["update_id"])
            return JSONResponse({"ok": False, "error": "storage unavailable"}, status_code=503)
        if new:
            worker.notify()
        return JSONResponse({"ok": True, "duplicate": not new})

    @app.post("/alerts")
    async def alerts(request: Request) -> JSONResponse:
        if not _same(request.headers.get(ALERT_HEADER), settings.alerts_secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            alert = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"ok": False, "error": "malformed JSON"}, status_code=400)
        forwarded = await handlers.forward_alert(alert)
        return JSONResponse({"ok": True, "forwarded": forwarded}, status_code=200 if forwarded else 202)

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            await asyncio.to_thread(ping, engine)
        except SQLAlchemyError as exc:
            return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    return app


def main() -> None:
    import uvicorn

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(settings), host="0.0.0.0", port=settings.port)


if __name__ == "__main__":
    main()
