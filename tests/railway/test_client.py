"""The GraphQL client against the fake: rate limits, transient errors, Railway's messages, no token leaks."""

from __future__ import annotations

import json

import pytest

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RailwayError, RetryPolicy, identified_url
from infra.railway.tokens import resolve_token
from tests.railway.fake_railway import FakeRailway, Fault


def client(fake: FakeRailway, **kwargs: object) -> tuple[RailwayClient, list[float]]:
    slept: list[float] = []
    return RailwayClient(fake.url, fake.token, sleep=slept.append, **kwargs), slept  # type: ignore[arg-type]


def test_retry_after_is_honoured(railway: FakeRailway) -> None:
    railway.state.faults.append(
        Fault(429, json.dumps({"errors": [{"message": "rate limited"}]}), {"Retry-After": "7"})
    )
    api, slept = client(railway)
    data = api.execute(ops.PROJECTS, {"workspaceId": None})
    assert data["projects"]["edges"] == []
    assert slept == [7.0]


def test_cloudflare_html_429_and_403_are_rate_limits(railway: FakeRailway) -> None:
    railway.state.faults += [Fault(429, "error code: 1015"), Fault(403, "<html>Access denied</html>")]
    api, slept = client(railway)
    api.execute(ops.PROJECTS, {"workspaceId": None})
    assert len(slept) == 2


def test_transient_graphql_errors_are_retried(railway: FakeRailway) -> None:
    for message in ("Problem processing request", "You are creating projects too quickly"):
        railway.state.faults.append(Fault(200, json.dumps({"data": None, "errors": [{"message": message}]})))
    api, slept = client(railway)
    api.execute(ops.PROJECTS, {"workspaceId": None})
    assert len(slept) == 2


def test_retries_are_bounded(railway: FakeRailway) -> None:
    railway.state.faults += [Fault(503, "unavailable") for _ in range(10)]
    api, slept = client(railway, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    with pytest.raises(RailwayError, match="still failing after 3 attempts"):
        api.execute(ops.PROJECTS, {"workspaceId": None})
    assert len(slept) == 2


def test_railways_own_message_is_reported(railway: FakeRailway) -> None:
    api, _ = client(railway)
    with pytest.raises(RailwayError) as caught:
        api.execute(ops.PROJECT_GET, {"id": "no-such-project"})
    assert caught.value.railway_message == "Project not found"
    assert caught.value.is_not_found
    assert "ProjectGet" in str(caught.value)


def test_a_wrong_token_fails_without_printing_it(railway: FakeRailway) -> None:
    secret = "wrong-token-" + "9" * 20
    api = RailwayClient(railway.url, secret, sleep=lambda _: None)
    with pytest.raises(RailwayError) as caught:
        api.execute(ops.PROJECTS, {"workspaceId": None})
    assert "Not Authorized" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(caught.value)


def test_no_token_is_a_clear_error() -> None:
    with pytest.raises(RailwayError, match="llmstack:railway_token"):
        RailwayClient("http://127.0.0.1:9/graphql/v2", "")


def test_unreachable_api_is_retried_then_reported() -> None:
    slept: list[float] = []
    api = RailwayClient(
        "http://127.0.0.1:9/graphql/v2",
        "t",
        sleep=slept.append,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.01),
    )
    with pytest.raises(RailwayError, match="network error"):
        api.execute(ops.PROJECTS, {"workspaceId": None})
    assert len(slept) == 1


def test_every_request_the_fake_saw_was_valid(railway: FakeRailway) -> None:
    api, _ = client(railway)
    api.execute(ops.PROJECT_CREATE, {"input": {"name": "p", "defaultEnvironmentName": "dev"}})
    assert railway.rejected == []
    assert railway.state.operations() == ["ProjectCreate"]


def test_the_source_is_added_to_the_url_once() -> None:
    assert identified_url("https://backboard.railway.com/graphql/v2") == (
        "https://backboard.railway.com/graphql/v2?source=llmstack"
    )
    assert (
        identified_url("http://127.0.0.1:5/graphql/v2?x=1")
        == "http://127.0.0.1:5/graphql/v2?x=1&source=llmstack"
    )
    assert identified_url("http://h/graphql/v2?source=mine") == "http://h/graphql/v2?source=mine"


@pytest.mark.parametrize(
    ("config_token", "environ", "origin"),
    [
        ("{project}", {}, "token from config llmstack:railway_token"),
        (None, {"RAILWAY_API_TOKEN": "{project}"}, "token from environment RAILWAY_API_TOKEN"),
    ],
)
def test_a_project_token_in_the_account_token_place_is_named_when_refused(
    railway: FakeRailway, config_token: str | None, environ: dict[str, str], origin: str
) -> None:
    """Tokens are all UUIDs, so a project token set as the account token is only found by Railway's answer:
    the error names where the token came from and which kind the stack needs, never the token."""
    project = railway.project_token
    token = resolve_token(
        config_token and config_token.format(project=project),
        {k: v.format(project=project) for k, v in environ.items()},
    )
    api = RailwayClient(railway.url, token, sleep=lambda _: None)
    with pytest.raises(RailwayError) as caught:
        api.execute(ops.PROJECTS, {"workspaceId": None})
    message = str(caught.value)
    assert f"Not Authorized (Railway refused the {origin}" in message
    assert "railway.com/account/tokens" in message and "a project token" in message
    assert project not in message
    assert caught.value.is_gone and not caught.value.is_not_found  # a delete still treats it as gone


@pytest.mark.parametrize(
    ("fault", "next_step"),
    [
        # Cloudflare's HTML 1015 page (terraform-provider-railway issues #43, #63)
        (Fault(429, "<html><p>error code: 1015</p></html>"), "Railway's edge (Cloudflare) keeps refusing"),
        (
            Fault(
                200,
                json.dumps({"data": None, "errors": [{"message": "You are creating projects too quickly"}]}),
            ),
            "Railway kept answering that it is busy",
        ),
        (Fault(502, "bad gateway"), "Railway is failing or unreachable (status.railway.com)"),
    ],
)
def test_spent_retries_say_what_to_do_for_what_kept_failing(
    railway: FakeRailway, fault: Fault, next_step: str
) -> None:
    railway.state.faults += [fault for _ in range(3)]
    api, _ = client(railway, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01))
    with pytest.raises(RailwayError) as caught:
        api.execute(ops.PROJECTS, {"workspaceId": None})
    message = str(caught.value)
    assert "still failing after 3 attempts" in message and f"Next: {next_step}" in message
    assert "run `pulumi up` again" in message and railway.token not in message
