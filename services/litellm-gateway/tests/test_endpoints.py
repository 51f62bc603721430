"""The guard ahead of LiteLLM's routes: what is not served is refused naming the API the client called."""

from __future__ import annotations

import pytest
from llmstack_gateway.endpoints import NotServedRoute, body_refusal, is_served
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect


def app() -> Starlette:
    async def reached(request: object) -> PlainTextResponse:
        return PlainTextResponse("reached LiteLLM")

    # LiteLLM's catch-alls stand in for its hundreds of routes; the guard is inserted first, as in the proxy
    application = Starlette(routes=[Route("/{path:path}", reached, methods=["GET", "POST", "DELETE"])])
    application.router.routes.insert(0, NotServedRoute())
    return application


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/completions",
        "/v1/messages",
        "/v1/responses",
        "/responses/",
    ],
)
def test_the_served_apis_reach_litellm(path: str) -> None:
    assert is_served("POST", path)
    assert TestClient(app()).post(path, json={}).text == "reached LiteLLM"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/embeddings"),
        ("POST", "/v1/images/generations"),
        ("POST", "/v1/audio/transcriptions"),
        ("POST", "/anthropic/v1/messages"),  # LiteLLM's pass-through: no pre-call hook, so no budget
        ("DELETE", "/v1/responses/resp_1"),
    ],
)
def test_everything_else_is_refused_naming_the_api(method: str, path: str) -> None:
    response = TestClient(app()).request(method, path, json={})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["message"] == (
        f"{method} {path} is not served by this gateway; served: POST /v1/chat/completions, "
        "POST /v1/completions, POST /v1/messages, POST /v1/responses"
    )
    assert error["code"] == "endpoint_not_served"


def test_reads_pass_and_websockets_are_refused() -> None:
    client = TestClient(app())
    assert client.get("/v1/models").text == "reached LiteLLM"
    with pytest.raises(WebSocketDisconnect) as caught, client.websocket_connect("/v1/realtime"):
        pass
    assert caught.value.code == 1008 and "WEBSOCKET /v1/realtime is not served" in caught.value.reason


def test_litellms_body_refusal_becomes_a_400_naming_the_parameter() -> None:
    # the texts LiteLLM 1.108.7 raises (proxy/auth/auth_utils.py, is_request_body_safe / _check_banned_params)
    banned = ValueError(
        "Rejected Request: api_base is not allowed in request body. Clientside passthrough requires explicit "
        "admin opt-in via either `general_settings.allow_client_side_credentials = true` (proxy-wide) or ..."
    )
    refused = body_refusal(banned)
    assert refused is not None and refused.status_code == 400
    assert "may not set 'api_base'" in str(refused.detail)
    assert "allow_client_side_credentials" not in str(refused.detail)  # a setting this stack never renders
    listed = body_refusal(ValueError("Rejected Request: model_list is not allowed in the request body."))
    assert listed is not None and "'model_list'" in str(listed.detail)


@pytest.mark.parametrize(
    "exception",
    [
        ValueError("something else went wrong"),
        RuntimeError("Rejected Request: api_base is not allowed"),
        None,
    ],
)
def test_other_failures_are_left_as_they_are(exception: BaseException | None) -> None:
    assert body_refusal(exception) is None


def test_litellms_other_body_refusals_are_a_400_too() -> None:
    # the same auth code's other refusals (proxy/auth/auth_utils.py): they name no parameter
    fallback = ValueError(
        "Rejected Request: URL-valued fallback destination 'https://x.example/v1' is not allowed. Clientside "
        "passthrough requires explicit admin opt-in via ..."
    )
    refused = body_refusal(fallback)
    assert refused is not None and refused.status_code == 400
    assert refused.detail == (
        "the request body was refused: URL-valued fallback destination 'https://x.example/v1' is not allowed."
    )
    nested = body_refusal(
        ValueError("Rejected Request: fallback nesting exceeds the allowed validation depth.")
    )
    assert nested is not None and "fallback nesting exceeds" in str(nested.detail)
