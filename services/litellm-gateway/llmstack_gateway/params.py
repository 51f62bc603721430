"""Request parameters a model would not honour: honoured where the provider has a way (JSON mode on Anthropic),
otherwise made visible (a response header naming what LiteLLM dropped).

JSON mode. LiteLLM 1.108.7 maps ``response_format: {"type": "json_object"}`` for Anthropic to nothing:
``AnthropicConfig.map_openai_params`` (``llms/anthropic/chat/transformation.py``) looks for a schema in the
response format (``_extract_json_schema_from_response_format``), finds none, sends neither ``output_format`` nor a
tool, and only sets its internal ``json_mode`` flag, so Claude answers prose. Anthropic's documented JSON mode is a
forced tool (docs.anthropic.com, tool use, "JSON mode"); LiteLLM already turns a tool named
``json_tool_call`` back into the message content when ``json_mode`` is set
(``_resolve_json_mode_non_streaming``). So, per deployment attempt (``async_pre_call_deployment_hook``, which the
``client`` wrapper in ``litellm/utils.py`` runs for every deployment, fallbacks included), a ``json_object`` request
that reaches an Anthropic deployment gets that tool, forced. OpenAI honours ``json_object`` natively; Gemini gets
``response_mime_type: application/json`` (``apply_response_schema_transformation``); ``json_schema`` is honoured
by all three (Anthropic: native ``output_format``). ``llmstack check`` refuses a group that claims ``json`` on a
model without these paths (``infra/checks/json_mode.py``).

Dropped parameters. With ``drop_params: true``, ``get_optional_params`` (``litellm/utils.py``) silently removes
every non-default OpenAI parameter the provider's ``get_supported_openai_params`` does not list. The deployment
hook computes the same set from the very arguments LiteLLM is about to map, for the deployment it is about to
call (the last attempt is the one that served), on every call that goes through that mapping: chat completions,
and ``/v1/responses`` and ``/v1/completions`` where LiteLLM bridges them to it. The response-header hook, which
the proxy awaits for streamed and non-streamed responses alike (``common_request_processing.py``, both success
paths and the failure path), names it in ``x-llmstack-dropped-params``. Both hooks of one request run in the
worker that accepted it, and share LiteLLM's ``litellm_call_id``.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import litellm
from litellm.constants import DEFAULT_CHAT_COMPLETION_PARAM_VALUES, RESPONSE_FORMAT_TOOL_NAME
from litellm.integrations.custom_logger import CustomLogger
from litellm.utils import PROVIDER_UNVALIDATED_PARAMS, get_supported_openai_params

DROPPED_HEADER = "x-llmstack-dropped-params"
#: deployment calls whose arguments go through ``get_optional_params``: chat, and the Responses API and text
#: completions where LiteLLM serves them through it (for a Responses call to a provider without a Responses API,
#: the bridge's own ``acompletion`` carries the mapped arguments)
MAPPED_CALL_TYPES = frozenset({"completion", "acompletion", "text_completion", "atext_completion"})
#: how many requests' dropped sets a worker keeps until their headers are written (a request that never reaches
#: the header hook must not grow the map forever)
PENDING_REQUESTS = 4096
#: keys LiteLLM never treats as droppable parameters (``base_pre_process_non_default_params`` skips them;
#: ``messages`` is the chat endpoint's own; ``metadata`` is the proxy's bookkeeping, not sent to a provider)
NOT_PARAMETERS = frozenset(
    {
        "model",
        "custom_llm_provider",
        "api_version",
        "drop_params",
        "allowed_openai_params",
        "additional_drop_params",
        "messages",
        "metadata",
    }
)
#: provider kinds whose LiteLLM mapping drops ``json_object``, and so get the forced JSON tool
JSON_OBJECT_AS_FORCED_TOOL = frozenset({"anthropic"})


def sent_parameters(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat parameters a request carries with a non-default value, as ``get_optional_params`` sees them."""
    return {
        name: value
        for name, value in body.items()
        if name in DEFAULT_CHAT_COMPLETION_PARAM_VALUES
        and name not in NOT_PARAMETERS
        and value != DEFAULT_CHAT_COMPLETION_PARAM_VALUES[name]
    }


@functools.cache
def supported_parameters(model: str, provider: str) -> frozenset[str]:
    """LiteLLM's list for one deployment: fixed for a pinned LiteLLM, so looked up once per model."""
    return frozenset(get_supported_openai_params(model=model, custom_llm_provider=provider) or [])


def dropped_parameters(
    sent: Mapping[str, Any], body: Mapping[str, Any], model: str, provider: str
) -> list[str]:
    """What LiteLLM drops for this deployment: ``_check_valid_arg`` in ``get_optional_params``, plus the names a
    client asks to drop itself (``additional_drop_params``, ``_should_drop_param``)."""
    supported = supported_parameters(model, provider) | set(body.get("allowed_openai_params") or [])
    asked = set(body.get("additional_drop_params") or [])
    dropped = set()
    for name, value in sent.items():
        ignored_n = name == "n" and value == 1  # LiteLLM ignores n=1, which some SDKs send by default
        unchecked = name in supported or name in PROVIDER_UNVALIDATED_PARAMS or ignored_n
        if name in asked or not unchecked:
            dropped.add(name)
    return sorted(dropped)


def provider_of(litellm_model: str, custom_llm_provider: str | None = None) -> tuple[str, str]:
    """``anthropic/claude-sonnet-4-6`` -> (``claude-sonnet-4-6``, ``anthropic``), as LiteLLM resolves it."""
    model, provider, _, _ = litellm.get_llm_provider(
        model=litellm_model, custom_llm_provider=custom_llm_provider
    )
    return model, provider


def with_json_tool(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request with Anthropic's JSON mode: an object-typed tool named as LiteLLM's own response-format tool,
    forced unless the client offers tools of its own (then the model may pick either; LiteLLM merges the JSON
    tool's payload into the content). The original ``response_format`` stays, so LiteLLM sets ``json_mode``."""
    tool = {
        "type": "function",
        "function": {
            "name": RESPONSE_FORMAT_TOOL_NAME,
            "description": "Respond with a JSON object.",
            "parameters": {"type": "object"},
        },
    }
    client_tools = list(kwargs.get("tools") or [])
    out = {**kwargs, "tools": [*client_tools, tool]}
    # forced tool use is refused together with extended thinking (Anthropic tool use docs); leave it unforced then
    if not client_tools and not kwargs.get("thinking") and kwargs.get("tool_choice") in (None, "auto"):
        out["tool_choice"] = {"type": "function", "function": {"name": RESPONSE_FORMAT_TOOL_NAME}}
    return out


def asks_for_json_object(kwargs: Mapping[str, Any]) -> bool:
    response_format = kwargs.get("response_format")
    return isinstance(response_format, Mapping) and response_format.get("type") == "json_object"


class RequestParameters(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        #: litellm_call_id -> what the latest deployment attempt drops, until the response's headers are written
        self._dropped: OrderedDict[str, list[str]] = OrderedDict()

    def _remember(self, call_id: str, dropped: list[str]) -> None:
        self._dropped[call_id] = dropped
        self._dropped.move_to_end(call_id)
        while len(self._dropped) > PENDING_REQUESTS:
            self._dropped.popitem(last=False)

    async def async_pre_call_deployment_hook(  # type: ignore[override]
        self, kwargs: dict[str, Any], call_type: Any
    ) -> dict[str, Any] | None:
        call_id = kwargs.get("litellm_call_id")
        mapped = getattr(call_type, "value", call_type) in MAPPED_CALL_TYPES and bool(call_id)
        json_object = asks_for_json_object(kwargs)
        if not mapped and not json_object:
            return None  # e.g. /v1/messages to Anthropic itself: nothing is mapped, nothing to look up
        model, provider = provider_of(str(kwargs.get("model", "")), kwargs.get("custom_llm_provider"))
        if mapped:
            self._remember(str(call_id), dropped_parameters(sent_parameters(kwargs), kwargs, model, provider))
        if json_object and provider in JSON_OBJECT_AS_FORCED_TOOL:
            return with_json_tool(kwargs)
        return None

    async def async_post_call_response_headers_hook(  # type: ignore[override]
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, Any] | None = None,
    ) -> dict[str, str] | None:
        dropped = self._dropped.pop(str(data.get("litellm_call_id")), None)
        if response is None or not dropped:
            return None  # a failure answers nothing about parameters; nothing dropped needs no header
        return {DROPPED_HEADER: ",".join(dropped)}


request_parameters = RequestParameters()
