"""Route aliases resolved before routing (``litellm_settings.callbacks``, ahead of the budget hook).

LiteLLM looks fallbacks up by the name the client asked for. With ``model_group_alias`` alone, a request for the
route ``balanced`` reaches ``claude-sonnet`` but has no fallbacks at all: measured with ``llmstack drill``, the
route failed while its group fell back. Rewriting the alias to its group before the router sees the request
makes a route behave exactly as its group, which is what the catalog's checks assume.
"""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway.settings import load_routes


class RouteAliases(CustomLogger):
    def __init__(self, routes: dict[str, str] | None = None) -> None:
        super().__init__()
        self._routes = routes

    @property
    def routes(self) -> dict[str, str]:
        if self._routes is None:
            self._routes = load_routes()
        return self._routes

    async def async_pre_call_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        requested = data.get("model")
        group = self.routes.get(str(requested))
        if group is not None:
            data["model"] = group
            # /v1/messages and /v1/responses carry LiteLLM's own metadata in ``litellm_metadata``: their
            # ``metadata`` is forwarded to the provider (Anthropic accepts only ``user_id`` there)
            bucket = "litellm_metadata" if "litellm_metadata" in data else "metadata"
            data.setdefault(bucket, {})["llmstack_route"] = requested
        return data


route_aliases = RouteAliases()
