"""``json`` is a promise: a group that claims it answers JSON for ``response_format`` ``json_object`` and
``json_schema`` alike, on the model it is served by.

What each provider kind needs, in LiteLLM 1.108.7 plus the gateway's ``llmstack_gateway/params.py``:

- openai: both formats are passed through; ``json_schema`` needs a model with structured outputs
  (``supports_response_schema`` in LiteLLM's map).
- gemini: ``json_object`` becomes ``response_mime_type: application/json`` and ``json_schema`` a response schema
  (``apply_response_schema_transformation``); the model must take a response schema (``supports_response_schema``).
- anthropic: LiteLLM maps ``json_object`` to nothing, so the gateway forces a JSON tool (Anthropic's documented
  JSON mode): the model needs tool use, ``tool_choice``, and forced tool use (LiteLLM's map marks the models that
  refuse it with ``supports_forced_tool_use: false``, and then downgrades the choice to ``auto``). ``json_schema``
  goes to native structured outputs (``supports_native_structured_output``) or, failing that, to the same tool.

The flags are read from LiteLLM's bundled cost map as data (``infra.costmap``): the check never imports LiteLLM.
A model the map does not know is left to the ``unknown-model`` warning.
"""

from __future__ import annotations

from typing import Any

from infra import costmap
from infra.catalog import Finding, Severity
from infra.checks.context import CheckContext


def json_gaps(kind: str, flags: dict[str, Any]) -> list[str]:
    """Why this provider kind's model cannot honour each response format, or nothing when it can."""
    gaps: list[str] = []
    if kind in ("openai", "gemini"):
        if flags.get("supports_response_schema") is not True:
            gaps.append("json_schema: the model takes no response schema (supports_response_schema)")
    elif kind == "anthropic":
        tools = flags.get("supports_function_calling") is True and flags.get("supports_tool_choice") is True
        if not tools:
            gaps.append(
                "json_object: the gateway's JSON tool needs tool use and tool_choice "
                "(supports_function_calling, supports_tool_choice)"
            )
        elif flags.get("supports_forced_tool_use") is False:
            gaps.append(
                "json_object: the model refuses forced tool use (supports_forced_tool_use: false), so the JSON "
                "tool would only be offered, and the answer may be prose"
            )
        if not tools and flags.get("supports_native_structured_output") is not True:
            gaps.append(
                "json_schema: neither structured outputs nor tool use (supports_native_structured_output)"
            )
    else:
        gaps.append(f"no JSON mode is known for provider kind {kind!r}")
    return gaps


def check_json_mode(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    cost_map = costmap.load_cost_map()
    if cost_map is None:
        return []  # check_cost_map already says the map is missing
    out: list[Finding] = []
    for group, model in catalog.models.items():
        provider = catalog.providers.get(model.provider)
        if "json" not in model.capabilities or provider is None:  # an undeclared provider: check_references
            continue
        kind = provider.resolved_kind(model.provider)
        entry = costmap.lookup(kind, model.model)
        if entry is None:
            continue
        gaps = json_gaps(kind, cost_map[entry.key])
        if gaps:
            out.append(
                Finding(
                    Severity.ERROR,
                    "json-unsupported",
                    spec.locate("models", group, "capabilities"),
                    f"'{group}' claims json, but {kind}/{model.model} cannot answer JSON for every response "
                    f"format a client sends: {'; '.join(gaps)}",
                    f"remove json from models.{group}.capabilities, or serve the group with a model that "
                    "honours both json_object and json_schema",
                    subject=group,
                )
            )
    return out
