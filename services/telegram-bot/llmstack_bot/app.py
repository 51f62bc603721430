"""HTTP: the Telegram webhook (secret header, size limit, Bot API validation, durable inbox), the gateway's
budget alerts, the bot's own Prometheus metrics (for the alerts secret only), and health; the worker pool runs
beside it, feeding leased updates to aiogram's Dispatcher.

Status codes are chosen for Telegram, which redelivers anything not answered 2xx: 403 for a wrong secret, 413
for a body over the limit, 400 for a body that is not JSON (not Telegram's), 200 for an update that can never be
processed (kept for audit, logged once), 503 only while the database cannot store an update (it comes back).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.types import Update
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from llmstack_bot.context import BotContext, BotIdentity
from llmstack_bot.db import Database, DatabaseUnavailable
from llmstack_bot.delivery import ChatUnreachable, RetryLater
from llmstack_bot.gateway import GatewayClient
from llmstack_bot.metrics import (
    CONTENT_TYPE,
    BotMetrics,
    Stopwatch,
    scrape_allowed,
    webhook_outcome,
)
from llmstack_bot.repositories import ClaimedUpdate
from llmstack_bot.routers import build_dispatcher
from llmstack_bot.settings import Settings
from llmstack_bot.telegram import COMMANDS, make_bot
from llmstack_bot.telegram_calls import TelegramCalls
from llmstack_bot.tracing import BotTracing
from llmstack_bot.updates import NotJson, judge
from llmstack_bot.worker import InboxWorker

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "x-telegram-bot-api-secret-token"
ALERT_HEADER = "x-llmstack-alert-secret"
log = logging.getLogger("llmstack.bot")


class TooLarge(Exception):  # noqa: N818
    pass


def _same(presented: str | None, expected: str) -> bool:
    return (
        bool(expected)
        and presented is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    )


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _learn_identity(bot: Bot, identity: BotIdentity) -> None:
    """The bot's @username from getMe (for mentions in groups), retried until Telegram answers."""
    wait = 1.0
    while not identity.username:
        try:
            identity.username = (await bot.me()).username or ""
            return
        except Exception as exc:  # network or Telegram errors: the bot still answers private chats meanwhile
            log.warning("getMe failed (%s); retrying in %g s", exc, wait)
            await asyncio.sleep(wait)
            wait = min(30.0, wait * 2)


async def _register_commands(bot: Bot) -> None:
    try:
        await bot.set_my_commands(COMMANDS)
    except Exception:  # the bot still serves; the command menu is cosmetic
        log.exception("setMyCommands failed")


def create_app(settings: Settings, *, run_worker: bool = True) -> FastAPI:
    db = Database(
        settings.sqlalchemy_url(),
        connect_timeout_s=settings.db_connect_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
        pool_timeout_s=settings.db_pool_timeout_s,
        request_timeout_s=settings.db_request_timeout_s,
    )
    bot = make_bot(settings.telegram_bot_token, settings.telegram_api_base)
    # the bot's own metrics and spans (issue 12): every Bot API call counted and traced
    metrics, tracing = BotMetrics(), BotTracing()
    bot.session.middleware(TelegramCalls(metrics, tracing))
    gateway = GatewayClient(
        settings.gateway_base_url,
        settings.gateway_api_key,
        attempts=settings.gateway_attempts,
        timeout_s=settings.gateway_timeout_s,
        tracing=tracing,
        metrics=metrics,
    )
    ctx = BotContext(settings, db, gateway, BotIdentity(bot.id, settings.telegram_bot_username))
    dispatcher = build_dispatcher(ctx)

    async def process(item: ClaimedUpdate) -> None:
        watch, outcome = Stopwatch(), "error"
        try:
            with tracing.turn(item.update_id, item.attempts):
                update = Update.model_validate(item.payload, context={"bot": bot})
                await dispatcher.feed_update(bot, update)
            outcome = "done"
        except ChatUnreachable:
            outcome = "unreachable"
            raise
        except RetryLater:
            outcome = "retry"
            raise
        finally:
            metrics.turns.labels(outcome).inc()
            metrics.reply_latency.labels(outcome).observe(watch.seconds())

    worker = InboxWorker(
        db,
        ctx.inbox,
        process,
        concurrency=settings.worker_concurrency,
        lease_s=settings.inbox_lease_s,
        max_attempts=settings.max_attempts,
        backoff_s=settings.retry_backoff_s,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = [
            asyncio.create_task(db.migrate_until_ready()),
            asyncio.create_task(_register_commands(bot)),
            asyncio.create_task(_learn_identity(bot, ctx.identity)),
        ]
        loop_task = asyncio.create_task(worker.run()) if run_worker else None
        app.state.loop_task = loop_task
        yield
        handed_back = await worker.shutdown(loop_task, settings.shutdown_timeout_s)
        app.state.handed_back = handed_back
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await gateway.close()
        await bot.session.close()
        tracing.shutdown()  # flushes the last spans
        db.close()

    app = FastAPI(title="llm-stack telegram bot", lifespan=lifespan)
    app.state.ctx, app.state.inbox, app.state.worker, app.state.db = ctx, ctx.inbox, worker, db
    app.state.metrics, app.state.tracing = metrics, tracing

    @app.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> JSONResponse:
        with tracing.webhook():
            response = await handle_update(request)
        metrics.updates.labels(webhook_outcome(response.status_code, bytes(response.body))).inc()
        return response

    async def handle_update(request: Request) -> JSONResponse:
        if not _same(request.headers.get(SECRET_HEADER), settings.telegram_webhook_secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            judged = judge(await _body(request, settings.max_update_bytes))
        except TooLarge:
            return JSONResponse({"ok": False, "error": "update too large"}, status_code=413)
        except NotJson:
            return JSONResponse({"ok": False, "error": "malformed JSON"}, status_code=400)
        if judged.problem is not None:
            return await _rejected(judged.update_id, judged.payload, judged.problem)
        if judged.kind not in settings.allowed_updates:
            return JSONResponse({"ok": True, "ignored": "update type not registered"})
        assert judged.update_id is not None
        try:
            if not db.migrated.is_set():
                raise DatabaseUnavailable(db.problem or "not migrated yet")
            new = await db.run(
                ctx.inbox.accept, judged.update_id, judged.user_id, judged.chat_id, judged.payload
            )
        except DatabaseUnavailable as exc:
            # not stored: a non-2xx makes Telegram deliver it again later
            log.warning("could not store update %s: %s", judged.update_id, exc)
            return JSONResponse(
                {"ok": False, "error": "storage unavailable", "reason": str(exc)}, status_code=503
            )
        if new:
            tracing.remember_current(judged.update_id)  # its turn continues this trace
            worker.notify()
        return JSONResponse({"ok": True, "duplicate": not new})

    async def _rejected(update_id: int | None, payload: Any, problem: str) -> JSONResponse:
        kept = False
        if update_id is not None and db.migrated.is_set():
            try:
                kept = await db.run(ctx.inbox.reject, update_id, payload, problem)
            except DatabaseUnavailable:
                log.warning("could not keep rejected update %s for audit", update_id)
        else:
            kept = True  # nothing to keep by id: log it (once: answered 200, Telegram does not redeliver)
        if kept:
            # "update None" told an operator nothing: the problem itself names the bad update_id value
            shown = update_id if update_id is not None else "without an integer update_id"
            log.warning("update %s rejected, never processable: %s", shown, problem)
        return JSONResponse({"ok": True, "rejected": problem})

    @app.post("/alerts")
    async def alerts(request: Request) -> JSONResponse:
        if not _same(request.headers.get(ALERT_HEADER), settings.alerts_secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            alert = json.loads(await _body(request, settings.max_update_bytes))
        except TooLarge:
            return JSONResponse({"ok": False, "error": "alert too large"}, status_code=413)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"ok": False, "error": "malformed JSON"}, status_code=400)
        if settings.admin_chat_id is None:
            return JSONResponse({"ok": True, "forwarded": False}, status_code=202)
        await bot.send_message(settings.admin_chat_id, alert_text(alert), parse_mode=ParseMode.HTML)
        return JSONResponse({"ok": True, "forwarded": True})

    @app.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        # the public domain serves this path too: only a scraper holding the alerts secret reads it
        if not scrape_allowed(request.headers.get("authorization"), settings.alerts_secret):
            return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
        try:
            metrics.set_queue(await db.run(ctx.inbox.counts), len(worker.in_flight))
        except DatabaseUnavailable:  # the queue depth keeps its last value; /health says why
            metrics.in_flight.set(len(worker.in_flight))
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/health")
    async def health() -> JSONResponse:
        try:
            await db.check()
        except DatabaseUnavailable as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "in_flight": len(worker.in_flight)})

    return app


def alert_text(alert: dict[str, Any]) -> str:
    """The gateway's budget alert for the admin chat, in Telegram HTML (every value escaped).

    The gateway sends the 100% alert on a refusal by the cap even when the spend is below it (llmstack_gateway/
    alerts.py): then "100% reached" would be wrong, so the text says what stood in the way instead.
    """
    stack = html.escape(str(alert.get("stack", "?")))
    day = html.escape(str(alert.get("day", "?")))
    resets = html.escape(str(alert.get("resets_at", "?")))
    cap, spent = float(alert.get("cap_usd", 0)), float(alert.get("spent_usd", 0))
    threshold = float(alert.get("threshold", 0))
    if alert.get("refused") and spent < threshold * cap:
        return (
            f"<b>Budget alert</b> ({stack}): a request was refused by the ${cap:g} daily cap with ${spent:.4f} "
            f"spent on {day}: what requests in flight hold, or the request's own worst case (its max_tokens), "
            f"left no room for it. Resets at {resets}."
        )
    text = f"<b>Budget alert</b> ({stack}): {threshold:.0%} of ${cap:g} reached, ${spent:.4f} spent on {day}; resets at {resets}."
    if alert.get("refused"):
        text += " A request was refused: what is spent and held by requests in flight leaves no room for it."
    return text


def main() -> None:
    import uvicorn

    settings = Settings()
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(
        create_app(settings),
        host=settings.bind_host,
        port=settings.port,
        # webhook requests are short (whole seconds only); the rest of the stop budget goes to in-flight turns
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
