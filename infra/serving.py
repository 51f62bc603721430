"""Proof that a deployed service serves, as a resource: ``pulumi up`` is green only when it does.

Railway reporting a deployment SUCCESS means its container passed Railway's own health check on the private
side. It does not mean the public domain routes to it, that the gateway runs this stack's config, or that it
accepts this stack's key. A ``ServingCheck`` comes after the service's ``Deployment``: it asks the public
domain, with bounded retries within a configurable time, and fails the update with which check failed, the
last answer (status and a body excerpt, never a key) and what to do. Whatever must not happen before the
service serves (the bot's deployment after the gateway; the Telegram webhook) depends on it.

The gateway's key is a secret input: the provider receives it, sends it only as a header, never returns it
as an output (so it is not in the outputs of the state at all; the engine keeps the input encrypted) and
replaces it with ``[key]`` in any body excerpt it reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pulumi.runtime import rpc

#: the longest body excerpt a failure message carries
EXCERPT_CHARS = 300
#: hosts a check may reach over plain http (tests against loopback servers); anything else needs https
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: inputs that decide whether the checks must run again
_COMPARED = ("base_url", "probes", "revision", "timeout_s", "interval_s", "request_timeout_s")


@dataclass(frozen=True)
class Probe:
    """One request and what its answer must be."""

    #: what the check proves, as the failure message names it ("gateway readiness")
    name: str
    path: str
    #: send the check's key as ``Authorization: Bearer``
    authenticated: bool = False
    expect_status: int = 200
    #: top-level JSON fields the body must have with these values
    expect_json: Mapping[str, Any] = field(default_factory=dict)
    #: ids that must be among an OpenAI-style list's ``data[].id`` (``GET /v1/models``)
    expect_model_ids: tuple[str, ...] = ()
    #: what to do when it fails, in the operator's words
    advice: str = ""

    def as_props(self) -> dict[str, Any]:
        props = asdict(self)
        props["expect_json"] = dict(self.expect_json)
        props["expect_model_ids"] = list(self.expect_model_ids)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> Probe:
        return cls(
            name=str(props["name"]),
            path=str(props["path"]),
            authenticated=bool(props.get("authenticated")),
            expect_status=int(props.get("expect_status") or 200),
            expect_json=dict(props.get("expect_json") or {}),
            expect_model_ids=tuple(str(i) for i in props.get("expect_model_ids") or ()),
            advice=str(props.get("advice") or ""),
        )


class NotServingError(Exception):
    """A service that does not serve: which check, the last answer, what to do. Never holds the key."""


def excerpt(text: str, secret: str | None) -> str:
    """A short, one-line body excerpt with the secret (if any) replaced."""
    if secret:
        text = text.replace(secret, "[key]")
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "…"


def judge(probe: Probe, status: int, body: str) -> str | None:
    """None when the answer is what the probe expects; otherwise why not (without the body)."""
    if status != probe.expect_status:
        return f"HTTP {status}, expected {probe.expect_status}"
    if not probe.expect_json and not probe.expect_model_ids:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return f"HTTP {status} but the body is not JSON"
    if not isinstance(document, dict):
        return f"HTTP {status} but the body is not a JSON object"
    wrong = {k: document.get(k) for k, v in probe.expect_json.items() if document.get(k) != v}
    if wrong:
        expected = {k: probe.expect_json[k] for k in wrong}
        return f"HTTP {status} but {json.dumps(wrong)} where {json.dumps(expected)} was expected"
    if probe.expect_model_ids:
        listed = document.get("data")
        ids = {str(m.get("id")) for m in listed if isinstance(m, dict)} if isinstance(listed, list) else set()
        missing = [i for i in probe.expect_model_ids if i not in ids]
        if missing:
            return f"HTTP {status} but the list lacks {_some(missing)} (it has {_some(sorted(ids))})"
    return None


def _some(names: Sequence[str], shown: int = 8) -> str:
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


@dataclass
class Attempts:
    """What one probe saw: how many tries, and the last failure with its body excerpt."""

    count: int = 0
    failure: str = ""
    body: str = ""


def wait_until_serving(
    base_url: str,
    probes: Sequence[Probe],
    *,
    key: str | None,
    timeout_s: float,
    interval_s: float,
    request_timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """Run each probe in order until it passes or ``timeout_s`` (shared by all probes) has passed.

    Returns attempts per probe; raises ``NotServingError`` naming the first probe that never passed.
    """
    deadline = clock() + timeout_s
    attempts: dict[str, int] = {}
    base = base_url.rstrip("/")
    with httpx.Client(timeout=request_timeout_s, follow_redirects=False) as client:
        for probe in probes:
            seen = Attempts()
            while True:
                seen.count += 1
                headers = {"Authorization": f"Bearer {key}"} if probe.authenticated and key else {}
                try:
                    response = client.get(f"{base}{probe.path}", headers=headers)
                    seen.body = excerpt(response.text, key)
                    problem = judge(probe, response.status_code, response.text)
                except httpx.HTTPError as exc:
                    # httpx's own message can hold the URL, never the header; the class name is enough here
                    problem, seen.body = f"no answer ({type(exc).__name__})", ""
                if problem is None:
                    attempts[probe.name] = seen.count
                    break
                seen.failure = problem
                remaining = deadline - clock()
                if remaining <= 0:
                    raise NotServingError(_failure_message(base, probe, seen, timeout_s))
                sleep(min(interval_s, remaining))
    return attempts


def _failure_message(base: str, probe: Probe, seen: Attempts, timeout_s: float) -> str:
    answer = seen.failure + (f": {seen.body}" if seen.body else "")
    lines = [
        f'serving check "{probe.name}" failed: GET {base}{probe.path}'
        f"{' (with the key)' if probe.authenticated else ''} did not answer as expected within "
        f"{timeout_s:g} s ({seen.count} attempt(s)).",
        f"last answer: {answer}",
    ]
    if probe.advice:
        lines.append(f"what to do: {probe.advice}")
    lines.append(
        "the deployment itself stays as Railway has it; fix the cause and run `pulumi up` again "
        "(the check runs again), or give it more time (llmstack:services.serving_timeout_s) if it was only slow."
    )
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    # the engine strips secrets for a provider that does not accept them; unwrap defensively all the same
    return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value


def is_unknown(value: Any) -> bool:
    """During a preview, computed inputs (the URL of a domain not created yet) are unknown: the engine sends
    its sentinel, which the dynamic-provider host hands ``check`` and ``diff`` as an ``Unknown`` object
    (pulumi/dynamic/__main__.py deserializes with ``keep_unknowns``)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


class ServingCheckProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        base_url = news.get("base_url")
        if not is_unknown(base_url):
            parts = urlsplit(str(base_url or ""))
            secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
            if not (secure and parts.hostname):
                failures.append(
                    CheckFailure("base_url", f"an https:// URL is required (got {str(base_url)[:80]!r})")
                )
        probes = news.get("probes")
        if not is_unknown(probes) and not probes:
            failures.append(CheckFailure("probes", "at least one probe is required"))
        needs_key = not is_unknown(probes) and any(
            isinstance(p, Mapping) and p.get("authenticated") for p in probes or ()
        )
        key = _plain(news.get("key"))
        if needs_key and not is_unknown(key) and not key:
            failures.append(CheckFailure("key", "an authenticated probe needs the key"))
        for name in ("timeout_s", "interval_s", "request_timeout_s"):
            value = news.get(name)
            if not is_unknown(value) and not (isinstance(value, (int, float)) and value > 0):
                failures.append(CheckFailure(name, f"{name} must be a positive number of seconds"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _COMPARED if _canonical(olds.get(k)) != _canonical(news.get(k))]
        return DiffResult(changes=bool(changed), replaces=[])

    def _run(self, props: Mapping[str, Any]) -> dict[str, Any]:
        probes = [Probe.from_props(p) for p in props["probes"]]
        key = _plain(props.get("key"))
        attempts = wait_until_serving(
            str(props["base_url"]),
            probes,
            key=str(key) if key else None,
            timeout_s=float(props["timeout_s"]),
            interval_s=float(props["interval_s"]),
            request_timeout_s=float(props["request_timeout_s"]),
        )
        # the key is deliberately not among the outputs
        return {**{k: props.get(k) for k in _COMPARED}, "attempts": attempts}

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._run(props)
        return CreateResult(f"serving-{urlsplit(str(props['base_url'])).hostname}", outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._run(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # a check leaves nothing behind


def _canonical(value: Any) -> Any:
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value


class ServingCheck(Resource, module="serving", name="Check"):
    """Completes only when every probe answers as expected over ``base_url``; re-runs when ``revision`` changes."""

    attempts: pulumi.Output[dict[str, int]]

    def __init__(
        self,
        name: str,
        *,
        base_url: pulumi.Input[str],
        probes: Sequence[Probe],
        revision: pulumi.Input[str],
        timeout_s: float,
        key: pulumi.Input[str] | None = None,
        interval_s: float = 5.0,
        request_timeout_s: float = 10.0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "base_url": base_url,
            "probes": [p.as_props() for p in probes],
            "revision": revision,
            "timeout_s": timeout_s,
            "interval_s": interval_s,
            "request_timeout_s": request_timeout_s,
            "key": None if key is None else pulumi.Output.secret(key),
            "attempts": None,
        }
        secret = pulumi.ResourceOptions(additional_secret_outputs=["key"])
        super().__init__(ServingCheckProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret))


def gateway_probes(model_ids: Sequence[str], budget_counter: str | None) -> list[Probe]:
    """The gateway serves: ready (its budget counter reachable), closed without its key, this stack's config."""
    ready: dict[str, Any] = {"status": "ready"}
    if budget_counter:
        ready["budget_counter"] = budget_counter
    return [
        Probe(
            name="gateway readiness",
            path="/health/ready",
            expect_json=ready,
            advice="503: the gateway cannot reach its budget counter (Redis; the reason is in the answer): "
            "read the redis and gateway services' deploy logs in Railway. 404: the public domain has not "
            "provisioned yet (wait, run again). 502: the gateway does not listen on its PORT. A "
            "budget_counter other than redis: the gateway runs a config other than this stack's.",
        ),
        Probe(
            name="gateway refuses a request without the key",
            path="/v1/models",
            expect_status=401,
            advice="the gateway answered without a key: its authentication is not in force (the rendered "
            "config's general_settings); take the domain down until it refuses.",
        ),
        Probe(
            name="gateway answers the stack's key with its routes and groups",
            path="/v1/models",
            authenticated=True,
            expect_model_ids=tuple(model_ids),
            advice="401: the gateway runs with a master key other than LITELLM-MASTER-KEY in Secret "
            "Manager (a variable edited by hand?). Missing ids: it runs a config other than this stack's "
            "rendering (an older deployment, or LITELLM_CONFIG_YAML edited by hand).",
        ),
    ]


def bot_probes() -> list[Probe]:
    """The bot serves: its health endpoint, which also asks its database."""
    return [
        Probe(
            name="bot health",
            path="/health",
            advice="503: the bot cannot reach its database (the class of the error is in the answer): read "
            "the postgres and bot services' deploy logs in Railway. 404: the public domain has not "
            "provisioned yet (wait, run again). 502: the bot does not listen on its PORT. The Telegram "
            "webhook was not registered, so Telegram sends nothing to a bot that does not serve.",
        )
    ]
