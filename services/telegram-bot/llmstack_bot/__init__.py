"""llm-stack's Telegram bot: a FastAPI webhook, a durable inbox, conversation history, and only the gateway.

Deployed on its own (it never imports ``infra``): settings come from the environment, validated at start.
Layers: ``settings`` -> ``db``/``models``/``repositories`` (storage) -> ``gateway``/``telegram`` (the outside) ->
``handlers`` (what the bot does) -> ``worker`` (the inbox loop) -> ``app`` (HTTP).
"""
