"""LiteLLM 1.108.7's fallback and retry semantics as pure functions: who answers when a provider is down.

This is the single source of truth used by the checks, ``explain``, ``diff``, the render (retry policies) and
the drill. What it models, read from ``litellm/router_utils/fallback_event_handlers.py::run_async_fallback``:

* a failed group walks its fallback list in order; each target runs its own fallbacks (transitive);
* one set of attempted groups is shared by the whole request, so a group is never tried twice (cycles and
  self-references are harmless at run time, but we still reject them as mistakes);
* every hop increments the depth, siblings included (the second target of a list at depth 0 runs at depth 2);
  a failed group whose depth has reached ``max_fallbacks`` does not walk its own list;
* retries happen inside a group before it fails over; each retry sleeps with exponential backoff
  (``INITIAL_RETRY_DELAY * 2**n`` capped at ``MAX_RETRY_DELAY``, plus up to ``JITTER``), or for as long as the
  provider's ``Retry-After`` says when that is at most 60 s; the router sleeps once more after the last retry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from infra.catalog.models import Catalog, Retries

# From litellm/constants.py and litellm/utils.py::calculate_retry_after (1.108.7); a test pins them.
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
JITTER_S = 0.75
MAX_HONOURED_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class Attempt:
    group: str
    #: None for a target that is not a model group (LiteLLM tries it, fails, and moves on)
    provider: str | None
    depth: int
    #: the group whose fallback list led here; None for the requested group
    via: str | None


@dataclass(frozen=True)
class EffectiveChain:
    """The order in which LiteLLM tries groups for a request to ``start`` when every attempt fails."""

    start: str
    attempts: tuple[Attempt, ...]
    #: declared (source, target) hops that ``max_fallbacks`` cuts off
    unreached: tuple[tuple[str, str], ...]

    @property
    def groups(self) -> list[str]:
        return [a.group for a in self.attempts]

    @property
    def providers(self) -> list[str]:
        seen: list[str] = []
        for attempt in self.attempts:
            if attempt.provider is not None and attempt.provider not in seen:
                seen.append(attempt.provider)
        return seen

    def answerer(self, down: set[str] | frozenset[str]) -> Attempt | None:
        """The first attempt that succeeds when the providers in ``down`` fail and every other one answers."""
        for attempt in self.attempts:
            if attempt.provider is not None and attempt.provider not in down:
                return attempt
        return None

    def survives_loss_of(self, provider: str) -> bool:
        return self.answerer({provider}) is not None


def effective_chain(
    start: str,
    fallbacks: Mapping[str, Sequence[str]],
    max_fallbacks: int,
    provider_of: Mapping[str, str],
) -> EffectiveChain:
    attempts: list[Attempt] = []
    attempted: set[str] = set()
    cut: list[tuple[str, str]] = []

    def visit(group: str, depth: int, via: str | None) -> None:
        attempts.append(Attempt(group, provider_of.get(group), depth, via))
        targets = fallbacks.get(group) or []
        if not targets:
            return
        attempted.add(group)
        if depth >= max_fallbacks:
            cut.extend((group, t) for t in targets if t != group and t not in attempted)
            return
        hop_depth = depth
        for target in targets:
            if target == group or target in attempted:
                continue
            attempted.add(target)
            hop_depth += 1
            visit(target, hop_depth, group)

    visit(start, 0, None)
    reached = {a.group for a in attempts}
    unreached = tuple(dict.fromkeys((s, t) for s, t in cut if t not in reached))
    return EffectiveChain(start, tuple(attempts), unreached)


def provider_map(catalog: Catalog) -> dict[str, str]:
    return {group: model.provider for group, model in catalog.models.items()}


def chain_for(catalog: Catalog, group: str, kind: str = "generic") -> EffectiveChain:
    """``kind``: ``generic`` (429, 5xx, timeouts), ``context_window`` or ``content_policy`` errors.

    LiteLLM uses a group's specific list for those errors when it has one, and its generic list otherwise.
    """
    table: Mapping[str, Sequence[str]] = catalog.fallbacks
    if kind == "context_window":
        table = {**catalog.fallbacks, **catalog.context_window_fallbacks}
    elif kind == "content_policy":
        table = {**catalog.fallbacks, **catalog.content_policy_fallbacks}
    return effective_chain(group, table, catalog.router.max_fallbacks, provider_map(catalog))


def all_chains(catalog: Catalog) -> dict[str, EffectiveChain]:
    """The generic chain of every enabled model group and route alias (a route behaves as its group)."""
    chains = {group: chain_for(catalog, group) for group in catalog.models}
    for route, group in catalog.routes.items():
        if group in chains:
            chains[route] = chains[group]
    return chains


# --- retries and time ---------------------------------------------------------------------------------


def retries_for(catalog: Catalog, group: str) -> Retries:
    """Retries the gateway renders for a group.

    A group with somewhere to fail over to never retries rate limits or server errors: a retry against the same
    single deployment only adds LiteLLM's backoff (about 5 s per failover with the original design's settings)
    before the fallback that would have answered anyway. Timeouts keep the catalog's retries.
    """
    configured = catalog.router.retries
    if catalog.fallbacks.get(group):
        return Retries(rate_limit=0, server_error=0, timeout=configured.timeout)
    return configured


def retry_sleeps_s(retries: int, *, retry_after_possible: bool) -> float:
    """The longest LiteLLM can sleep across ``retries`` retries of one group (one more sleep after the last)."""
    if retries == 0:
        return 0.0
    total = 0.0
    for n in range(retries + 1):
        backoff = min(INITIAL_RETRY_DELAY_S * 2.0**n, MAX_RETRY_DELAY_S)
        if retry_after_possible:
            backoff = max(backoff, MAX_HONOURED_RETRY_AFTER_S)
        total += backoff + JITTER_S
    return total


def group_worst_case_s(catalog: Catalog, group: str) -> float:
    """The longest one group can take before it gives up: every attempt hangs until the timeout, and every
    retry waits as long as LiteLLM lets it (a 429 or 5xx may carry Retry-After)."""
    retries = retries_for(catalog, group)
    most = max(retries.rate_limit, retries.server_error, retries.timeout)
    header_retries = max(retries.rate_limit, retries.server_error) > 0
    return (1 + most) * catalog.router.timeout_s + retry_sleeps_s(most, retry_after_possible=header_retries)


def worst_case_s(catalog: Catalog, chain: EffectiveChain) -> float:
    """The longest a request can take end to end: every group along its chain fails as slowly as it can."""
    return sum(group_worst_case_s(catalog, a.group) for a in chain.attempts if a.group in catalog.models)


def typical_cost_usd(catalog: Catalog, group: str) -> float:
    request = catalog.typical_request
    return catalog.models[group].cost_usd(request.input_tokens, request.output_tokens)


def max_price_per_token(catalog: Catalog, chain: EffectiveChain) -> tuple[float, float]:
    """The highest input and output price anywhere along a chain: what a budget reservation must assume."""
    models = [catalog.models[a.group] for a in chain.attempts if a.group in catalog.models]
    return (
        max(m.price_per_mtok.input for m in models) / 1e6,
        max(m.price_per_mtok.output for m in models) / 1e6,
    )
