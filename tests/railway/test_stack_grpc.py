"""A whole ``dev`` stack through the provider host over gRPC: first ``up``, an update after a catalog edit,
a half-failed ``up`` and its re-run, and ``destroy``; each asserting the deployments it produced."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import grpc
import pytest

from tests.railway.dev_stack import Engine, dev_apps, dev_steps
from tests.railway.fake_railway import FakeRailway
from tests.railway.provider_host import ProviderHost, provider_host


@pytest.fixture
def lifecycle_railway() -> Iterator[FakeRailway]:
    fake = FakeRailway(build_s=0.05, deploy_s=0.05, not_found_window_s=0.05)
    with fake.running():
        yield fake


@pytest.fixture(scope="module")
def host() -> Iterator[ProviderHost]:
    """One provider process for the module, as one serves a whole run (every fake uses the same token)."""
    with provider_host(FakeRailway().token) as running:
        yield running


@pytest.fixture
def engine(host: ProviderHost, lifecycle_railway: FakeRailway) -> Engine:
    return Engine(host)


def deployments_per_service(fake: FakeRailway) -> Counter[str]:
    return Counter(fake.state.db_services[d.service_id]["name"] for d in fake.state.book.all)


def test_first_up_deploys_each_service_once_with_its_settings(
    engine: Engine, lifecycle_railway: FakeRailway
) -> None:
    fake = lifecycle_railway
    engine.up(dev_steps(fake.url, dev_apps()))
    assert deployments_per_service(fake) == {"postgres": 1, "redis": 1, "gateway": 1, "bot": 1}
    for deployment in fake.state.book.all:
        assert fake.state.book.status(deployment) == "SUCCESS"
        name = fake.state.db_services[deployment.service_id]["name"]
        # every deployment was built with its settings and variables in place (nothing deployed early)
        assert deployment.snapshot["variables"], name
        if name in ("gateway", "bot"):
            assert deployment.snapshot["settings"]["rootDirectory"].startswith("services/"), name
            assert deployment.snapshot["source"]["repo"] == "acme/llm-stack"
        else:
            assert deployment.snapshot["multiRegionConfig"] == {"europe-west4": {"numReplicas": 1}}
    assert all(
        engine.state[f"{n}-deployment"][1]["status"] == "SUCCESS"
        for n in ("postgres", "redis", "gateway", "bot")
    )
    assert len(fake.state.db_projects) == 1 and len(fake.state.db_services) == 4
    assert len(fake.state.db_volumes) == 2 and len(fake.state.db_domains) == 2
    assert fake.rejected == []


def test_a_catalog_edit_deploys_only_what_changed_once(
    engine: Engine, lifecycle_railway: FakeRailway
) -> None:
    fake = lifecycle_railway
    engine.up(dev_steps(fake.url, dev_apps()))
    before = deployments_per_service(fake)
    engine.up(dev_steps(fake.url, dev_apps()))  # nothing changed: nothing deploys
    assert deployments_per_service(fake) == before
    engine.up(dev_steps(fake.url, dev_apps(gateway_workers=4)))
    assert deployments_per_service(fake) - before == {"gateway": 1}
    latest = fake.state.book.all[-1]
    assert latest.snapshot["variables"]["LITELLM_NUM_WORKERS"] == "4"
    assert fake.state.operations().count("ServiceConnect") == 2, "connected once per repo service, ever"


def test_a_half_failed_up_and_its_rerun(engine: Engine, lifecycle_railway: FakeRailway) -> None:
    fake = lifecycle_railway
    fake.state.book.outcomes["bot"] = [("FAILED", ["ERROR: failed to solve: COPY uv.lock: not found"])]
    with pytest.raises(grpc.RpcError) as caught:
        engine.up(dev_steps(fake.url, dev_apps()))
    details = caught.value.details() or ""
    assert "of service 'bot' ended FAILED" in details and "COPY uv.lock" in details and "Next:" in details
    assert "bot-deployment" not in engine.state and "gateway-deployment" in engine.state
    engine.up(dev_steps(fake.url, dev_apps()))  # the fix is pushed; the same `up` again
    assert deployments_per_service(fake) == {"postgres": 1, "redis": 1, "gateway": 1, "bot": 2}
    assert fake.state.book.status(fake.state.book.all[-1]) == "SUCCESS"
    # nothing was created twice
    assert len(fake.state.db_projects) == 1 and len(fake.state.db_services) == 4
    assert len(fake.state.db_volumes) == 2 and len(fake.state.db_domains) == 2


def test_a_rerun_after_a_crash_mid_create_adopts_everything(
    engine: Engine, lifecycle_railway: FakeRailway
) -> None:
    fake = lifecycle_railway
    engine.up(dev_steps(fake.url, dev_apps()))
    engine.state.clear()  # the state never recorded any of it (the run died before writing it)
    engine.up(dev_steps(fake.url, dev_apps()))
    assert len(fake.state.db_projects) == 1 and len(fake.state.db_services) == 4
    assert len(fake.state.db_volumes) == 2 and len(fake.state.db_domains) == 2
    assert engine.state["project"][1]["adopted"] is True


def test_destroy_leaves_nothing_behind(engine: Engine, lifecycle_railway: FakeRailway) -> None:
    fake = lifecycle_railway
    steps = dev_steps(fake.url, dev_apps())
    engine.up(steps)
    engine.destroy(steps)
    assert engine.state == {}
    state = fake.state
    leftovers = [
        state.db_projects,
        state.db_environments,
        state.db_services,
        state.db_volumes,
        state.db_domains,
    ]
    assert all(table == {} for table in leftovers), leftovers
    assert not any(state.db_variables.values()) and state.book.all == []
