"""A request's deployment attempts (the primary, then each fallback) and how each one ended.

Each attempt starts with LiteLLM's ``log_pre_api_call`` (``Logging.pre_call``, once per provider call); a failed
one then gets ``async_log_failure_event``, but only the first failure of a request does (measured on 1.108.7: a
fallback that fails too logs nothing, the logging object has already logged its failure). A failed fallback's
outcome is then read from the error LiteLLM raises, whose text says "Fallback to <group> also failed:
litellm.<ErrorClass>" (``router_utils/common_utils.py``, ``format_fallback_outcome_message``).

A request refused before routing (our hooks' 403 and 429s, a wrong key's 401, a client gone before a deployment was
picked) gets the same two events: the proxy logs every proxy-level failure as if it were a call
(``proxy/utils.py``, ``_handle_logging_proxy_only_error``: ``pre_call`` then ``async_failure_handler``), with a
provider guessed from the group (``_stamp_deployment_attribution``), no ``model_info`` in ``litellm_params``, and
``proxy_rejected_before_routing`` set. Such an event is no deployment attempt, so it is not counted as one: an
alert on a provider's 429s must not fire on our own refusals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from litellm.constants import LITELLM_LOGGING_NO_UPSTREAM_LLM_CALL, PROXY_REJECTED_BEFORE_ROUTING_KEY

from llmstack_gateway.budget import CLIENT_CLOSED_REQUEST

#: the class of a failed fallback's error in the text LiteLLM raises (router_utils/common_utils.py)
FALLBACK_FAILURE = re.compile(r"also failed: litellm\.(\w+)")
#: LiteLLM's exception classes (litellm/exceptions.py) -> their HTTP status
ERROR_CLASS_STATUS = {
    "RateLimitError": 429,
    "InternalServerError": 500,
    "ServiceUnavailableError": 503,
    "APIConnectionError": 500,
    "Timeout": 408,
    "BadRequestError": 400,
    "AuthenticationError": 401,
    "NotFoundError": 404,
}
PENDING = "pending"
#: outcomes that are not a failure of the deployment
NOT_FAILED = ("ok", "client_closed")


def attempt_outcome(status: int | None, exception: BaseException | None) -> str:
    """How a deployment attempt ended, in the words of the issue: 429, 5xx, timeout, or another error."""
    name = type(exception).__name__.lower() if exception is not None else ""
    if "timeout" in name or status == 408:
        return "timeout"
    if status == 429:
        return "429"
    if status is not None and 500 <= status < 600:
        return "5xx"
    return "error"


def status_of(exception: BaseException | None) -> int | None:
    value = getattr(exception, "status_code", None)
    return int(value) if isinstance(value, int) else None


def fallback_failure_status(exception: BaseException | None) -> int | None:
    found = FALLBACK_FAILURE.search(str(exception or ""))
    return ERROR_CLASS_STATUS.get(found.group(1)) if found else None


@dataclass
class Attempt:
    group: str | None
    deployment: str | None
    provider: str | None
    outcome: str = PENDING
    status: int | None = None

    @classmethod
    def of_call(cls, kwargs: Mapping[str, Any]) -> Attempt:
        """The deployment of one provider call, from LiteLLM's ``model_call_details``."""
        params = kwargs.get("litellm_params") or {}
        info = params.get("model_info") or {}
        metadata = params.get("metadata") or params.get("litellm_metadata") or {}
        group = metadata.get("model_group") if isinstance(metadata, Mapping) else None
        deployment = info.get("id") if isinstance(info, Mapping) else None
        provider = kwargs.get("custom_llm_provider") or params.get("custom_llm_provider")
        return cls(
            str(group) if group else None,
            str(deployment) if deployment else None,
            str(provider) if provider else None,
        )

    @staticmethod
    def reached_deployment(kwargs: Mapping[str, Any]) -> bool:
        """Whether LiteLLM's event is about a call to a deployment: it names one (every deployment the router
        picks has a ``model_info.id``), and the proxy did not mark it as refused before routing."""
        params = kwargs.get("litellm_params") or {}
        info = params.get("model_info") or {}
        if not isinstance(info, Mapping) or not info.get("id"):
            return False
        return not (
            params.get(PROXY_REJECTED_BEFORE_ROUTING_KEY) or kwargs.get(LITELLM_LOGGING_NO_UPSTREAM_LLM_CALL)
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Attempts:
    """The attempts of one request, in the order LiteLLM made them."""

    items: list[Attempt] = field(default_factory=list)

    def start(self, kwargs: Mapping[str, Any]) -> None:
        """A deployment attempt starts (LiteLLM may log the same pre-call twice: one attempt); an event naming
        no deployment is none (see above)."""
        if not Attempt.reached_deployment(kwargs):
            return
        attempt = Attempt.of_call(kwargs)
        last = self.items[-1] if self.items else None
        if last is None or last.deployment != attempt.deployment or last.outcome != PENDING:
            self.items.append(attempt)

    def fail(self, kwargs: Mapping[str, Any], exception: BaseException | None) -> None:
        """A deployment attempt failed (its failure event); a failure event naming no deployment is a refusal or
        an error before routing, not an attempt (see above)."""
        if not Attempt.reached_deployment(kwargs):
            return
        failed = Attempt.of_call(kwargs)
        attempt = next(
            (a for a in self.items if a.deployment == failed.deployment and a.outcome == PENDING), None
        )
        if attempt is None:
            self.items.append(failed)
            attempt = failed
        attempt.status = status_of(exception)
        attempt.outcome = attempt_outcome(attempt.status, exception)

    def settle(
        self,
        status: int,
        served: tuple[str | None, str | None, str | None],
        exception: BaseException | None,
    ) -> None:
        """Outcomes for attempts no failure event described: the one that served (``served``: its group,
        deployment and provider; added when no attempt was seen, e.g. a cache hit), or the request's own error."""
        deployment = served[1]
        for attempt in self.items:
            if attempt.outcome != PENDING:
                continue
            if status < 400 and attempt.deployment == deployment:
                attempt.outcome, attempt.status = "ok", status
            elif status == CLIENT_CLOSED_REQUEST:
                attempt.outcome, attempt.status = "client_closed", status
            else:
                # a failed fallback (no failure event): its class from LiteLLM's text, else the request's status
                attempt.status = fallback_failure_status(exception) or status
                attempt.outcome = attempt_outcome(attempt.status, None)
        if status < 400 and not any(a.outcome == "ok" for a in self.items):
            self.items.append(Attempt(*served, "ok", status))

    def answering(self) -> Attempt | None:
        """The deployment a client left while it was answering (after ``settle``): the last attempt so marked."""
        return next((a for a in reversed(self.items) if a.outcome == "client_closed"), None)

    def failed(self) -> list[Attempt]:
        return [a for a in self.items if a.outcome not in NOT_FAILED]
