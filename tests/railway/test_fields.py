"""The field tables: every list a provider needs is derived from one declaration per resource."""

from __future__ import annotations

import pytest

from infra.railway.client import RailwayError
from infra.railway.fields import Field, ResourceFields
from infra.railway.provider import already_gone_is_done
from infra.railway.resources import DeploymentProvider, ServiceProvider, VariablesProvider
from tests.railway.fake_railway import FakeRailway


def test_keys_are_derived_from_the_service_table() -> None:
    fields = ServiceProvider.fields
    assert fields.input_keys == ("project_id", "environment_id", "name", "source", "settings")
    assert fields.replace_keys == ("project_id", "environment_id")
    assert fields.required_keys == ("project_id", "environment_id", "name", "source")
    assert fields.computed_keys == ("service_id", "private_domain", "adopted")


def test_props_come_from_the_wrappers_arguments() -> None:
    props = ServiceProvider.fields.props(
        {
            "project_id": "p",
            "environment_id": "e",
            "service_name": "gw",
            "source": {},
            "settings": None,
            "self": 1,
        }
    )
    assert props == {
        "project_id": "p",
        "environment_id": "e",
        "name": "gw",
        "source": {},
        "settings": None,
        "service_id": None,
        "private_domain": None,
        "adopted": None,
        "api_url": "https://backboard.railway.com/graphql/v2",
    }


def test_a_knob_that_is_not_compared_does_not_redeploy() -> None:
    olds = {"service_id": "s", "environment_id": "e", "revision": "r", "timeout_s": 600}
    diff = DeploymentProvider().diff("id", olds, {**olds, "timeout_s": 60})
    assert not diff.changes
    assert DeploymentProvider().diff("id", olds, {**olds, "revision": "r2"}).changes


def test_a_changed_secret_value_is_seen_through_its_digest() -> None:
    provider = VariablesProvider()
    outs = provider._variable_outs(
        {"project_id": "p", "environment_id": "e", "service_id": "s", "variables": {"K": "1"}}
    )
    assert "variables" not in outs
    news = {"project_id": "p", "environment_id": "e", "service_id": "s", "variables": {"K": "2"}}
    assert provider.diff("id", outs, news).changes
    assert not provider.diff("id", outs, {**news, "variables": {"K": "1"}}).changes


def test_a_table_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        ResourceFields((Field("a", "a"), Field("a", "b")))


def test_check_reports_each_missing_required_field() -> None:
    result = ServiceProvider().check({}, {"project_id": "p", "source": {"image": "i"}})
    assert [(f.property, f.reason) for f in result.failures] == [
        ("environment_id", "environment_id is required"),
        ("name", "name is required"),
    ]


def test_already_gone_is_done_only_for_gone_answers() -> None:
    with already_gone_is_done():
        raise RailwayError("ServiceDelete", "Not Authorized")
    with pytest.raises(RailwayError, match="Problem"), already_gone_is_done():
        raise RailwayError("ServiceDelete", "Problem processing request")


def test_read_reports_a_vanished_service_as_gone(railway: FakeRailway) -> None:
    props = {"project_id": "p", "environment_id": "e", "name": "gw", "api_url": railway.url}
    result = ServiceProvider().read("no-such-service", props)
    assert (result.id, result.outs) == ("", {})
