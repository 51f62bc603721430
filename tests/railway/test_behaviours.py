"""Each real-Railway behaviour of the fake, and the provider coping with it (in process, against the fake).

Every test here failed on the provider before issue 10: it connected before configuring, never waited,
did not retry "not found" after create, had no shared pace, dropped ``serviceId`` on volume updates, read one
page without a workspace, and sent ``RAILWAY_TOKEN`` as Bearer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RetryPolicy
from infra.railway.deployment_wait import DeploymentError, WaitPolicy, wait_for_success
from infra.railway.pacing import DEFAULT_BURST, DEFAULT_RATE_PER_S, RequestPace
from infra.railway.resources import (
    DeploymentProvider,
    EnvironmentProvider,
    ProjectProvider,
    ServiceProvider,
    VariablesProvider,
    VolumeProvider,
    instance_input,
)
from infra.railway.tokens import RailwayTokenError
from tests.railway.fake_railway import FakeRailway, Fault
from tests.railway.stack_fixture import deployment_props, service_props


@pytest.fixture
def slow_railway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRailway]:
    """Deployments take 0.1 s to build and 0.1 s to deploy; an instance is invisible 0.2 s after create."""
    fake = FakeRailway(build_s=0.1, deploy_s=0.1, not_found_window_s=0.2)
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    monkeypatch.setenv("RAILWAY_API_TOKEN", fake.token)
    monkeypatch.setenv("LLMSTACK_RAILWAY_RETRY_BASE_S", "0.02")
    with fake.running():
        yield fake


def project_env(fake: FakeRailway, workspace_id: str | None = None) -> tuple[str, str]:
    props = {
        "name": "llmstack-dev",
        "default_environment": "dev",
        "workspace_id": workspace_id,
        "api_url": fake.url,
    }
    pid = ProjectProvider().create(props).id
    env_id = EnvironmentProvider().create({"project_id": pid, "name": "dev", "api_url": fake.url}).id
    return str(pid), str(env_id)


def create_service(fake: FakeRailway, pid: str, env_id: str, name: str, **kw: Any) -> dict[str, Any]:
    result = ServiceProvider().create(service_props(fake, pid, env_id, name, **kw))
    assert result.outs is not None
    return dict(result.outs)


def test_settings_and_variables_are_in_place_before_the_first_deployment(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    gateway = create_service(
        fake, pid, env_id, "gateway", repo="acme/llm-stack", root_directory="services/gw"
    )
    assert fake.state.deploys == [], "creating the service must not start a deployment"
    VariablesProvider().create(
        {
            **{k: gateway[k] for k in ("project_id", "environment_id", "service_id", "api_url")},
            "variables": {"PORT": "4000"},
        }
    )
    DeploymentProvider().create(deployment_props(fake, gateway, "r1"))
    [first] = fake.state.book.all
    assert first.snapshot["settings"]["rootDirectory"] == "services/gw"
    assert first.snapshot["variables"] == {"PORT": "4000"}
    assert first.snapshot["source"]["repo"] == "acme/llm-stack"
    assert fake.state.operations().count("ServiceConnect") == 1


def test_an_update_reconfigures_without_reconnecting_or_deploying(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    props = service_props(fake, pid, env_id, "bot", repo="acme/llm-stack", root_directory="services/bot")
    created = ServiceProvider().create(props)
    olds = dict(created.outs or {})
    news = {**props, "settings": {**props["settings"], "start_command": "python -m bot"}}
    ServiceProvider().update(str(created.id), olds, news)
    assert "ServiceConnect" not in fake.state.operations()
    assert fake.state.deploys == []
    assert fake.state.db_instances[(str(created.id), env_id)]["startCommand"] == "python -m bot"


def test_deployment_completes_only_on_success(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    postgres = create_service(fake, pid, env_id, "postgres")
    outs = DeploymentProvider().create(deployment_props(fake, postgres, "r1")).outs or {}
    assert outs["status"] == "SUCCESS"
    [deployment] = fake.state.book.all
    assert fake.state.book.status(deployment) == "SUCCESS", "create returned before Railway reported SUCCESS"
    statuses = [v["id"] for name, v in fake.state.calls if name == "DeploymentStatus"]
    assert len(statuses) >= 2, "the status was polled through BUILDING and DEPLOYING"


@pytest.mark.parametrize(
    ("outcome", "log_line", "next_step"),
    [
        (
            "FAILED",
            "ERROR: failed to solve: COPY requirements.txt: not found",
            "the build failed, or the container never answered its health check",
        ),
        ("CRASHED", "KeyError: 'LITELLM_MASTER_KEY'", "the container started and then exited"),
        # a crash loop under a health check: built, deployed, then FAILED with the story in the deploy log
        (
            "UNHEALTHY",
            "KeyError: 'LITELLM_MASTER_KEY'",
            "the build failed, or the container never answered its health check (healthcheck_path)",
        ),
    ],
)
def test_a_failed_deployment_fails_with_status_logs_and_next_step(
    slow_railway: FakeRailway, outcome: str, log_line: str, next_step: str
) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    gateway = create_service(fake, pid, env_id, "gateway")
    fake.state.book.outcomes["gateway"] = [(outcome, [log_line])]
    with pytest.raises(DeploymentError) as caught:
        DeploymentProvider().create(deployment_props(fake, gateway, "r1"))
    message = str(caught.value)
    status = "FAILED" if outcome == "UNHEALTHY" else outcome
    assert f"of service 'gateway' ended {status}" in message
    assert log_line in message
    if outcome == "UNHEALTHY":
        assert "Last deploy log lines:" in message and "Healthcheck failed!" in message
    assert f"Next: {next_step}" in message
    assert fake.token not in message


def test_a_deployment_that_takes_too_long_fails_at_the_timeout(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    fake.state.book.build_s = 30.0
    pid, env_id = project_env(fake)
    gateway = create_service(fake, pid, env_id, "gateway")
    with pytest.raises(DeploymentError) as caught:
        DeploymentProvider().create(deployment_props(fake, gateway, "r1", timeout_s=0.3))
    assert "is still BUILDING after 0.3 s (the Deployment's timeout_s)" in str(caught.value)
    assert "raise timeout_s" in str(caught.value)


def test_a_replaced_deployment_is_reported_removed(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    gateway = create_service(fake, pid, env_id, "gateway")
    errors: list[BaseException] = []

    def deploy() -> None:
        try:
            DeploymentProvider().create(deployment_props(fake, gateway, "r1"))
        except DeploymentError as exc:
            errors.append(exc)

    first = threading.Thread(target=deploy)
    first.start()
    deadline = time.monotonic() + 10
    while not fake.state.book.all and time.monotonic() < deadline:
        time.sleep(0.005)
    fake.state.serviceInstanceDeployV2(None, gateway["service_id"], env_id)  # someone redeploys meanwhile
    first.join(timeout=10)
    assert [str(e).split("\n")[0].endswith("ended REMOVED.") for e in errors] == [True]


def test_not_found_right_after_create_is_retried(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    gateway = create_service(fake, pid, env_id, "gateway", healthcheck_path="/health/ready")
    assert fake.state.db_instances[(gateway["service_id"], env_id)]["healthcheckPath"] == "/health/ready"
    # the first answers were "ServiceInstance not found" (the fake's window after create), then it took
    assert fake.state.operations().count("ServiceInstanceUpdate") > 1


def test_not_found_is_retried_only_where_asked_and_boundedly(railway: FakeRailway) -> None:
    api = RailwayClient(railway.url, railway.token, sleep=lambda _: None, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(Exception, match="Project not found"):
        api.execute(ops.PROJECT_GET, {"id": "nope"})
    assert railway.state.operations() == ["ProjectGet"]
    slept: list[float] = []
    patient = RailwayClient(railway.url, railway.token, sleep=slept.append)
    with pytest.raises(Exception, match=r"Project not found \(still, after 6 attempts\)"):
        patient.execute(ops.PROJECT_GET, {"id": "nope"}, retry_not_found=True)
    assert len(slept) == 5, "a real absence fails after a few short waits, not the whole retry budget"


def test_a_burst_stays_under_cloudflares_limit_with_the_shared_pace(railway: FakeRailway) -> None:
    railway.rps_limit = 10
    pace = RequestPace(DEFAULT_RATE_PER_S, DEFAULT_BURST)  # the defaults every run uses
    api = RailwayClient(railway.url, railway.token, pace=pace)

    def burst() -> None:
        for _ in range(5):
            api.execute(ops.PROJECTS, {"workspaceId": None})

    threads = [threading.Thread(target=burst) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert railway.rate_limited == 0 and len(railway.state.calls) == 15
    assert railway.peak_per_second() <= 10


def test_cloudflares_html_1015_page_is_a_rate_limit(railway: FakeRailway) -> None:
    railway.rps_limit = 2
    slept: list[float] = []
    api = RailwayClient(railway.url, railway.token, sleep=slept.append, pace=RequestPace(1000, 1000))
    for _ in range(3):
        try:
            api.execute(ops.PROJECTS, {"workspaceId": None}, retry_not_found=False)
        except Exception as exc:  # the fake's window does not move while sleep is a no-op
            assert "rate limited (HTTP 429, Cloudflare 1015)" in str(exc)
    assert railway.rate_limited >= 1 and slept


def test_the_client_identifies_itself_and_reuses_one_connection(railway: FakeRailway) -> None:
    api = RailwayClient(railway.url, railway.token)
    for _ in range(5):
        api.execute(ops.PROJECTS, {"workspaceId": None})
    assert set(railway.sources) == {("llmstack", "llmstack")}
    assert len(railway.connections) == 1


def test_a_volume_stays_attached_on_update(railway: FakeRailway) -> None:
    pid, env_id = project_env(railway)
    postgres = create_service(railway, pid, env_id, "postgres")
    props = {
        **{k: postgres[k] for k in ("project_id", "environment_id", "service_id")},
        "api_url": railway.url,
    }
    created = VolumeProvider().create({**props, "mount_path": "/var/lib/postgresql/data"})
    VolumeProvider().update(str(created.id), dict(created.outs or {}), {**props, "mount_path": "/data"})
    [instance] = railway.state.db_volumes[str(created.id)]["instances"]
    assert instance["serviceId"] == postgres["service_id"] and instance["mountPath"] == "/data"


def test_the_fake_detaches_a_volume_updated_without_service_id(railway: FakeRailway) -> None:
    pid, env_id = project_env(railway)
    postgres = create_service(railway, pid, env_id, "postgres")
    volume = railway.state.volumeCreate(
        None,
        {"projectId": pid, "environmentId": env_id, "serviceId": postgres["service_id"], "mountPath": "/d"},
    )
    railway.state.volumeInstanceUpdate(None, volume["id"], {"mountPath": "/e"}, env_id)
    assert railway.state.db_volumes[volume["id"]]["instances"][0]["serviceId"] is None


def test_adoption_reads_every_page_of_the_workspace(railway: FakeRailway) -> None:
    railway.state.page_size_cap = 2
    for i in range(5):
        railway.state.projectCreate(None, {"name": f"other-{i}", "workspaceId": "team-1"})
    railway.state.projectCreate(None, {"name": "llmstack-dev", "workspaceId": None})  # a personal namesake
    existing = railway.state.projectCreate(None, {"name": "llmstack-dev", "workspaceId": "team-1"})
    props = {
        "name": "llmstack-dev",
        "default_environment": "dev",
        "workspace_id": "team-1",
        "api_url": railway.url,
    }
    result = ProjectProvider().create(props)
    assert result.id == existing["id"] and (result.outs or {})["adopted"] is True
    assert len(railway.state.db_projects) == 7, "no project was created"
    pages = [v for name, v in railway.state.calls if name == "Projects"]
    assert len(pages) == 3 and all(v["workspaceId"] == "team-1" for v in pages)


def test_service_adoption_reads_every_page(railway: FakeRailway) -> None:
    pid, env_id = project_env(railway)
    railway.state.page_size_cap = 2
    for name in ("a", "b", "c", "bot"):
        railway.state.serviceCreate(None, {"projectId": pid, "name": name})
    outs = create_service(railway, pid, env_id, "bot", repo="acme/llm-stack")
    assert outs["adopted"] is True
    assert [s["name"] for s in railway.state.db_services.values()].count("bot") == 1


def test_a_project_token_is_refused_before_any_call(
    railway: FakeRailway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILWAY_API_TOKEN")
    monkeypatch.setenv("RAILWAY_TOKEN", railway.project_token)
    with pytest.raises(RailwayTokenError, match="RAILWAY_TOKEN is set"):
        ProjectProvider().create({"name": "p", "default_environment": "dev", "api_url": railway.url})
    assert railway.state.calls == []


def test_the_fake_knows_the_two_token_kinds(railway: FakeRailway) -> None:
    as_bearer = RailwayClient(railway.url, railway.project_token, retry=RetryPolicy(max_attempts=1))
    with pytest.raises(Exception, match="Not Authorized"):
        as_bearer.execute(ops.PROJECTS, {"workspaceId": None})

    def as_project_token(document: str, variables: dict[str, Any]) -> Any:
        body = {"query": document, "variables": variables, "operationName": ops.operation_name(document)}
        headers = {"Project-Access-Token": railway.project_token}
        return httpx.post(railway.url, json=body, headers=headers).json()

    refused = as_project_token(ops.PROJECTS, {"workspaceId": None})
    assert refused["errors"][0]["message"] == "Not Authorized"  # it cannot list (or create) projects
    pid, env_id = project_env(railway)
    allowed = as_project_token(ops.ENVIRONMENTS, {"projectId": pid})
    assert [e["node"]["id"] for e in allowed["data"]["environments"]["edges"]] == [env_id]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"replicas": 2, "region": "europe-west4"},
            {"multiRegionConfig": {"europe-west4": {"numReplicas": 2}}},
        ),
        ({"replicas": 2}, {"numReplicas": 2}),
    ],
)
def test_replicas_and_region_are_sent_one_way(settings: dict[str, Any], expected: dict[str, Any]) -> None:
    sent = instance_input({}, settings)
    assert sent == expected
    assert "region" not in sent


def test_a_rate_limit_with_retry_after_is_honoured_in_the_error(railway: FakeRailway) -> None:
    railway.state.faults += [Fault(429, "error code: 1015", {"Retry-After": "3"}) for _ in range(3)]
    slept: list[float] = []
    api = RailwayClient(railway.url, railway.token, sleep=slept.append, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(Exception, match=r"still failing after 3 attempts \(6s waited\): rate limited"):
        api.execute(ops.PROJECTS, {"workspaceId": None})
    assert slept == [3.0, 3.0]


def test_polling_slows_down_so_a_long_build_costs_few_calls(railway: FakeRailway) -> None:
    pid, env_id = project_env(railway)
    gateway = create_service(railway, pid, env_id, "gateway")
    railway.state.book.build_s = 10_000.0  # stays BUILDING
    deployment_id = railway.state.serviceInstanceDeployV2(None, gateway["service_id"], env_id)
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    api = RailwayClient(railway.url, railway.token)
    with pytest.raises(DeploymentError, match="still BUILDING after 300 s"):
        wait_for_success(
            api,
            deployment_id,
            service="gateway",
            policy=WaitPolicy(300, 5),
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert waits[:3] == [5, 7.5, 11.25] and max(waits) == 30
    assert len(waits) <= 14, "five minutes of BUILDING cost at most 15 status calls, not 60"


def test_a_workspace_token_finds_and_creates_the_project_in_its_workspace(railway: FakeRailway) -> None:
    railway.state.workspace_token = True
    railway.state.token_workspaces = [{"id": "team-1", "name": "acme"}]
    props = {
        "name": "llmstack-dev",
        "default_environment": "dev",
        "workspace_id": None,
        "api_url": railway.url,
    }
    first = ProjectProvider().create(props)
    assert railway.state.db_projects[str(first.id)]["workspaceId"] == "team-1"
    again = ProjectProvider().create(props)  # a re-run after a half-failed up
    assert again.id == first.id and len(railway.state.db_projects) == 1


def test_a_token_with_several_workspaces_must_be_told_which(railway: FakeRailway) -> None:
    railway.state.token_workspaces = [{"id": "w1", "name": "acme"}, {"id": "w2", "name": "personal"}]
    props = {"name": "llmstack-dev", "default_environment": "dev", "api_url": railway.url}
    with pytest.raises(Exception, match=r"several workspaces \(acme \(w1\), personal \(w2\)\).*workspace_id"):
        ProjectProvider().create(props)
    assert railway.state.db_projects == {}


def test_a_deployment_that_served_and_then_slept_counts_as_served(slow_railway: FakeRailway) -> None:
    fake = slow_railway
    pid, env_id = project_env(fake)
    gateway = create_service(fake, pid, env_id, "gateway")
    fake.state.book.outcomes["gateway"] = [("SLEEPING", [])]
    outs = DeploymentProvider().create(deployment_props(fake, gateway, "r1")).outs or {}
    assert outs["status"] == "SLEEPING"


BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head></html>"
PROBLEM = json.dumps({"data": None, "errors": [{"message": "Problem processing request"}]})


@pytest.mark.parametrize(("status", "body"), [(502, BAD_GATEWAY), (200, PROBLEM)])
def test_a_create_whose_answer_was_lost_is_adopted_not_repeated(
    railway: FakeRailway, status: int, body: str
) -> None:
    pid, env_id = project_env(railway)
    railway.state.faults.append(Fault(status, body, operation="ServiceCreate", after_execution=True))
    outs = create_service(railway, pid, env_id, "gateway")
    assert outs["adopted"] is True
    assert [s["name"] for s in railway.state.db_services.values()] == ["gateway"]
    assert railway.state.operations().count("ServiceCreate") == 1


def test_a_create_that_failed_ambiguously_and_left_nothing_says_to_run_again(railway: FakeRailway) -> None:
    railway.state.faults.append(Fault(502, BAD_GATEWAY, operation="ProjectCreate"))
    props = {"name": "llmstack-dev", "default_environment": "dev", "api_url": railway.url}
    with pytest.raises(
        Exception, match=r"HTTP 502 from Railway; Railway may still have done it: run `pulumi up` again"
    ):
        ProjectProvider().create(props)
    assert railway.state.db_projects == {}
    ProjectProvider().create(props)  # the next run
    assert len(railway.state.db_projects) == 1
