"""`make demo`: the simulator, the real gateway and the bot on 127.0.0.1, and a scripted conversation through the
bot's webhook, with a provider outage and the budget cap. Prints what happened; needs no account and no key.

The demo stack is `dev` with two changes so the cap is reached in a few messages: replies are capped at 256
tokens (so one reservation is small) and the daily budget is $0.006.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from infra.catalog import load_stack
from infra.catalog.models import Budget
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalBot, LocalGateway
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator
from infra.simulator.telegram import FakeTelegram

USER, ADMIN = 4242, 4343
GROUP = {"id": -4001234567, "type": "group", "title": "Demo friends"}
#: a Bot API Sticker (the fields the docs mark required)
STICKER = {
    "file_id": "sticker-1",
    "file_unique_id": "st1",
    "type": "regular",
    "width": 512,
    "height": 512,
    "is_animated": False,
    "is_video": False,
}
TOKEN = "123456789:" + "D" * 35


def main() -> None:
    loaded = load_stack("dev").spec
    assert loaded is not None
    spec = single_process(loaded)
    models = {g: m.model_copy(update={"max_output_tokens": 256}) for g, m in spec.catalog.models.items()}
    budget = Budget(daily_usd=0.006, alert_thresholds=[0.5, 1.0])
    spec = dataclasses.replace(
        spec, catalog=spec.catalog.model_copy(update={"models": models, "budget": budget})
    )
    master_key = "sk-demo-" + secrets.token_hex(16)
    webhook_secret, alerts_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    telegram = FakeTelegram(TOKEN)
    with (
        tempfile.TemporaryDirectory(prefix="llmstack-demo-") as tmp,
        ProviderSimulator().running() as sim,
        telegram.running(),
    ):
        bot = LocalBot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": webhook_secret,
                "TELEGRAM_API_BASE": telegram.api_base,
                "ALERTS_SECRET": alerts_secret,
                "GATEWAY_API_KEY": master_key,
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bot.db'}",
                "ALLOWED_USER_IDS": str(USER),
                "ADMIN_CHAT_ID": str(ADMIN),
                "DEFAULT_ROUTE": "balanced",
                "ROUTES": '["balanced", "simple", "long-context", "vision"]',
                "GATEWAY_ATTEMPTS": "1",
                "REQUESTS_PER_MINUTE": "60",
                # loopback only: the demo's bot is for this laptop
                "BIND_HOST": "127.0.0.1",
            }
        )
        gateway = LocalGateway(
            render_gateway_config(spec, sim.api_bases()),
            master_key,
            env={
                **SIMULATED_KEYS,
                "BUDGET_ALERT_URL": f"{bot.url}/alerts",
                "BUDGET_ALERT_SECRET": alerts_secret,
            },
        )
        bot.env = {**bot.env, "GATEWAY_BASE_URL": gateway.url}
        print("starting the provider simulator, the LiteLLM gateway and the bot (about 20 s) ...")
        with gateway.running(), bot.running():
            update_id = 0

            def say(
                shown: str, *, chat: dict[str, Any] | None = None, silence: bool = False, **fields: Any
            ) -> None:
                """Post a message as Telegram would (text, or ``fields`` such as a photo) and show the reply;
                ``silence``: the bot is expected not to answer (waits 2 s to show that)."""
                nonlocal update_id
                update_id += 1
                where = chat or {"id": USER, "type": "private", "first_name": "demo"}
                before, asked = len(telegram.sent(where["id"])), len(sim.requests())
                update = {
                    "update_id": update_id,
                    "message": {
                        "message_id": update_id,
                        "date": int(time.time()),
                        **(fields or {"text": shown}),
                        "from": {"id": USER, "is_bot": False, "first_name": "demo"},
                        "chat": where,
                    },
                }
                httpx.post(
                    f"{bot.url}/telegram/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": webhook_secret},
                    timeout=30,
                ).raise_for_status()
                deadline = time.monotonic() + (2 if silence else 60)
                while time.monotonic() < deadline and len(telegram.sent(where["id"])) == before:
                    time.sleep(0.05)
                replies = [p["text"] for p in telegram.sent(where["id"])[before:]] or ["(no reply)"]
                tried = (
                    ", ".join(f"{r.provider}/{r.model} {r.status}" for r in sim.requests()[asked:])
                    or "no provider"
                )
                print(f"  you : {shown}\n  bot : {replies[-1][:100]}\n        [{tried}]")

            print("\n1. a normal exchange (route balanced -> claude-sonnet)")
            say("Hello! Who answers?")
            print("\n2. choose the cheap route")
            say("/model simple")
            say("And now?")
            print("\n3. Gemini is down: the simple route falls back to Claude, the user just gets an answer")
            sim.set("gemini", "503")
            say("Still there during the outage?")
            sim.reset()
            print("\n4. in a group the bot answers only when addressed; media it cannot read get a pointer")
            say("lunch at noon?", chat=GROUP, silence=True)
            mention = f"@{telegram.username} what is 2+2?"
            say(
                mention,
                chat=GROUP,
                entities=[{"offset": 0, "length": len(telegram.username) + 1, "type": "mention"}],
                text=mention,
            )
            say("(a sticker)", sticker=STICKER)
            print("\n5. the daily budget ($0.006 here): requests until the gateway refuses")
            say("/model balanced")
            for n in range(12):
                say(f"question {n + 1}")
                if "daily budget" in telegram.sent(USER)[-1]["text"]:
                    break
            say("/usage")
            time.sleep(1)
            print("\n6. what the admin chat received from the gateway's budget alerts")
            for alert in telegram.sent(ADMIN):
                print(f"  {alert['text']}")


if __name__ == "__main__":
    main()
