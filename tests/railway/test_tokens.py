"""Railway's token convention: RAILWAY_API_TOKEN (or config) is Bearer; a project token is refused up front."""

from __future__ import annotations

import pytest

from infra.railway.tokens import RailwayTokenError, resolve_token

SECRET = "3f0c7a52-1111-4222-8333-944455556666"


def test_config_token_wins_and_is_sent_as_bearer() -> None:
    token = resolve_token(SECRET, {"RAILWAY_API_TOKEN": "other", "RAILWAY_TOKEN": "project"})
    assert token.headers() == {"Authorization": f"Bearer {SECRET}"}
    assert token.origin == "config llmstack:railway_token"


def test_api_token_from_the_environment() -> None:
    token = resolve_token(None, {"RAILWAY_API_TOKEN": SECRET})
    assert token.value == SECRET and token.origin == "environment RAILWAY_API_TOKEN"
    assert SECRET not in repr(token) and SECRET not in str(token)


def test_a_project_token_alone_is_refused_with_what_to_set() -> None:
    with pytest.raises(RailwayTokenError) as caught:
        resolve_token("", {"RAILWAY_TOKEN": SECRET})
    message = str(caught.value)
    assert "RAILWAY_TOKEN is set" in message and "project token" in message
    assert "RAILWAY_API_TOKEN" in message and "llmstack:railway_token" in message
    assert SECRET not in message


def test_no_token_at_all_says_which_token_is_needed() -> None:
    with pytest.raises(
        RailwayTokenError, match="no Railway token: this stack needs a Railway account or workspace"
    ):
        resolve_token(None, {})
