"""A request's worst-case cost, reckoned before it is sent: what the budget hook reserves.

An upper bound of its input tokens (a token is at least one byte of UTF-8, plus an allowance per message and
image) plus its output limit times every choice it asks for (``n``, ``best_of``), priced at the highest price
along its fallback chain (``settings.GroupBudget``). The output limit (``max_tokens``, ``max_completion_tokens``,
``max_output_tokens``) is clamped to the catalog's ``max_output_tokens``, and set to it when the client sends
none, so one request never reserves more than the catalog allows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmstack_gateway.counter import to_nano
from llmstack_gateway.settings import GroupBudget

#: LiteLLM's call types for the endpoints this gateway serves -> the request field that limits the output
OUTPUT_LIMIT_FIELD = {
    "completion": "max_tokens",
    "acompletion": "max_tokens",
    "text_completion": "max_tokens",
    "atext_completion": "max_tokens",
    "anthropic_messages": "max_tokens",
    "responses": "max_output_tokens",
    "aresponses": "max_output_tokens",
}
#: output limits a client may send instead (OpenAI's newer name for chat)
OUTPUT_LIMIT_ALIASES = ("max_completion_tokens",)
PER_MESSAGE_TOKENS = 16
PER_IMAGE_TOKENS = 2_000


def input_token_bound(data: Mapping[str, Any]) -> int:
    """An upper bound on the prompt's tokens without a tokenizer: BPE tokens are at least one byte each."""
    tokens = 0
    for message in data.get("messages") or []:
        tokens += PER_MESSAGE_TOKENS
        content = message.get("content") if isinstance(message, Mapping) else message
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in ("image_url", "image", "input_image"):
                    tokens += PER_IMAGE_TOKENS
                else:
                    tokens += len(json.dumps(part, ensure_ascii=False).encode())
        else:
            tokens += len(str(content or "").encode())
        for key in ("tool_calls", "name"):
            if isinstance(message, Mapping) and message.get(key):
                tokens += len(json.dumps(message[key], ensure_ascii=False).encode())
    for key in ("prompt", "system", "tools", "functions", "response_format", "input", "instructions"):
        if data.get(key):
            tokens += len(json.dumps(data[key], ensure_ascii=False).encode())
    return tokens


def choices_requested(data: Mapping[str, Any]) -> int:
    """How many outputs the provider generates for this request: ``n`` choices, ``best_of`` candidates."""
    counts = [1]
    for key in ("n", "best_of"):
        try:
            counts.append(int(data.get(key) or 1))
        except (TypeError, ValueError):
            continue
    return max(counts)


def clamp_output_limit(data: dict[str, Any], limit_field: str, group: GroupBudget) -> int:
    """Writes the request's output limit, clamped to the catalog's, into ``limit_field`` (dropping its aliases)."""
    requested = data.get(limit_field) or next((data[k] for k in OUTPUT_LIMIT_ALIASES if data.get(k)), None)
    max_tokens = group.max_output_tokens if not requested else min(int(requested), group.max_output_tokens)
    data[limit_field] = max_tokens
    for alias in OUTPUT_LIMIT_ALIASES:
        data.pop(alias, None)
    return max_tokens


@dataclass(frozen=True)
class WorstCase:
    #: the input tokens the request cannot exceed (a stream cut off before the provider's usage is priced at it)
    input_bound: int
    #: nano-USD, at least 1
    amount: int


def worst_case(data: Mapping[str, Any], group: GroupBudget, max_tokens: int) -> WorstCase:
    """What the request can cost at most, its output limit already clamped (``clamp_output_limit``)."""
    input_bound = input_token_bound(data)
    cost = input_bound * group.input_per_token + max_tokens * choices_requested(data) * group.output_per_token
    return WorstCase(input_bound, max(1, to_nano(cost)))


def never_fits(amount: int, limit_field: str) -> str:
    """The refusal's explanation when a request's worst case (``amount``, nano-USD) is more than a whole cap: it is
    refused on every day, so the caller must make the request smaller, not wait for the reset."""
    return (
        f"on any day: its worst case (up to ${amount / 1e9:.6f}) is more than the whole cap, so waiting for the "
        f"reset will not help; lower {limit_field} (the output limit the worst case counts, times n choices) or "
        "shorten the input"
    )
