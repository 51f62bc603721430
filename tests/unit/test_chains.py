"""LiteLLM's fallback semantics as modelled in infra.chains (the proxy itself confirms them in the drill tests)."""

from __future__ import annotations

from infra.chains import effective_chain, retry_sleeps_s

PROVIDERS = {"a": "p1", "b": "p2", "c": "p3", "d": "p4", "e": "p5"}


def order(fallbacks: dict[str, list[str]], start: str = "a", max_fallbacks: int = 5) -> list[tuple[str, int]]:
    chain = effective_chain(start, fallbacks, max_fallbacks, PROVIDERS)
    return [(x.group, x.depth) for x in chain.attempts]


def test_fallbacks_are_transitive_and_in_list_order() -> None:
    assert order({"a": ["b"], "b": ["c"]}) == [("a", 0), ("b", 1), ("c", 2)]


def test_siblings_increment_the_depth() -> None:
    # the second target of a list at depth 0 runs at depth 2 (x-litellm-attempted-fallbacks: 2)
    assert order({"a": ["b", "c"]}) == [("a", 0), ("b", 1), ("c", 2)]


def test_max_fallbacks_stops_a_failed_group_from_walking_its_list_but_not_siblings() -> None:
    # research: max_fallbacks=1, claude and gpt failing: gemini-pro still tried; gemini-flash never reached
    fallbacks = {"a": ["b", "c"], "c": ["d"]}
    chain = effective_chain("a", fallbacks, 1, PROVIDERS)
    assert [x.group for x in chain.attempts] == ["a", "b", "c"]
    assert chain.unreached == (("c", "d"),)


def test_recursive_per_frame_depth() -> None:
    # agentgateway's reverse-engineering: A:[B,C], B:[D] with max 2 tries B, D, C
    assert [g for g, _ in order({"a": ["b", "c"], "b": ["d"]}, max_fallbacks=2)] == ["a", "b", "d", "c"]


def test_cycles_and_self_references_try_each_group_once() -> None:
    assert order({"a": ["b"], "b": ["a"]}) == [("a", 0), ("b", 1)]
    assert order({"a": ["a", "b"]}) == [("a", 0), ("b", 1)]


def test_a_group_reached_twice_is_tried_once() -> None:
    assert [g for g, _ in order({"a": ["b", "c"], "b": ["c"]})] == ["a", "b", "c"]


def test_answerer_is_the_first_healthy_provider() -> None:
    chain = effective_chain("a", {"a": ["b", "c"]}, 5, PROVIDERS)
    assert chain.answerer(set()) is not None and chain.answerer(set()).group == "a"  # type: ignore[union-attr]
    assert chain.answerer({"p1"}).group == "b"  # type: ignore[union-attr]
    assert chain.answerer({"p1", "p2"}).group == "c"  # type: ignore[union-attr]
    assert chain.answerer({"p1", "p2", "p3"}) is None
    assert chain.survives_loss_of("p1")


def test_unknown_targets_consume_an_attempt_without_a_provider() -> None:
    chain = effective_chain("a", {"a": ["zzz", "b"]}, 5, PROVIDERS)
    assert [(x.group, x.provider) for x in chain.attempts] == [("a", "p1"), ("zzz", None), ("b", "p2")]
    assert chain.answerer({"p1"}).group == "b"  # type: ignore[union-attr]


def test_retry_sleeps_match_litellms_measured_backoff() -> None:
    # research: num_retries 2 -> three sleeps (1.13, 1.02, 2.1 s measured); jitter adds up to 0.75 s each
    assert retry_sleeps_s(0, retry_after_possible=False) == 0
    assert retry_sleeps_s(2, retry_after_possible=False) == (0.5 + 1 + 2) + 3 * 0.75
    # num_retries 5: 0.5, 1, 2, 4, 8, 8 (capped) plus jitter; 25.5 s measured to the fallback
    assert retry_sleeps_s(5, retry_after_possible=False) == 23.5 + 6 * 0.75
    assert retry_sleeps_s(1, retry_after_possible=True) == 2 * 60.75
