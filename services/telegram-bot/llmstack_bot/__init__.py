"""llm-stack's Telegram bot: a FastAPI webhook, a durable inbox, a turn journal, conversation history, and only
the gateway.

Deployed on its own (it never imports ``infra``): settings come from the environment, validated at start.
Layers: ``settings`` -> ``db``/``models``/``repositories``/``journal`` (storage) -> ``gateway``/``telegram``/
``media``/``delivery`` (the outside) -> ``routers``/``middlewares``/``turns`` (what the bot does, on aiogram's
Dispatcher) -> ``worker`` (the pool leasing the inbox) -> ``app`` (HTTP).
"""
