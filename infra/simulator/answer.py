"""What the simulator answers, whatever the wire format: a fixed text, deterministic usage, an optional tool call.

Usage is a pure function of the request so a test can compute the exact cost of any answer:

* input tokens: 10 of overhead plus one per 4 characters of prompt text;
* output tokens: ``min(16, max_tokens)`` per choice (16 when the request sets no limit), times ``n`` choices
  (times ``best_of`` on ``/v1/completions``, which generates that many and returns the best ``n``).

A streamed answer sends the same text cut into exactly one delta per output token, so a client that counted k
content deltas before it hung up received exactly k tokens of the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: output tokens of one choice when the request sets no limit
DEFAULT_OUTPUT_TOKENS = 16
#: input tokens every request costs on top of its prompt text
PROMPT_OVERHEAD_TOKENS = 10


@dataclass(frozen=True)
class ToolCall:
    """The call the simulated model makes when the request offers tools: the first tool, its required fields."""

    id: str
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class SimulatedAnswer:
    provider: str
    model: str
    text: str
    input_tokens: int
    #: output tokens of ONE choice
    tokens_per_choice: int
    choices: int = 1
    tool_call: ToolCall | None = None
    #: choices generated and billed; more than ``choices`` only with ``best_of`` (legacy completions)
    generated: int = 0

    @property
    def output_tokens(self) -> int:
        """What the provider bills: every choice counts (OpenAI's ``usage`` sums all ``n`` choices, and all
        ``best_of`` candidates: "generates best_of completions server-side ... can quickly consume your token
        quota", API reference, ``/v1/completions``)."""
        return self.tokens_per_choice * max(self.choices, self.generated)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def text_deltas(self) -> list[str]:
        """The text cut into ``tokens_per_choice`` contiguous non-empty pieces whose concatenation is the text."""
        count = max(1, min(self.tokens_per_choice, len(self.text)))
        size, extra = divmod(len(self.text), count)
        pieces, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            pieces.append(self.text[start:end])
            start = end
        return pieces

    def argument_deltas(self) -> list[str]:
        """A tool call's JSON arguments in a few pieces, as providers stream them (partial JSON, not parseable alone)."""
        if self.tool_call is None:
            return []
        raw = self.tool_call.arguments_json
        step = max(1, len(raw) // 3)
        return [raw[i : i + step] for i in range(0, len(raw), step)]


def answer_for(
    provider: str,
    model: str,
    prompt: str,
    max_tokens: int | None,
    *,
    choices: int = 1,
    generated: int = 0,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: Any = None,
    json_mode: bool = False,
) -> SimulatedAnswer:
    tokens_per_choice = min(DEFAULT_OUTPUT_TOKENS, max_tokens or DEFAULT_OUTPUT_TOKENS)
    text = f"[{provider}/{model}] simulated answer"
    return SimulatedAnswer(
        provider=provider,
        model=model,
        # a JSON mode's text is one JSON object (see asks_for_json); usage is the same either way
        text=json.dumps({"answer": text}) if json_mode else text,
        input_tokens=PROMPT_OVERHEAD_TOKENS + len(prompt) // 4,
        tokens_per_choice=max(1, tokens_per_choice),
        choices=max(1, choices),
        generated=generated,
        tool_call=_tool_call(tools, forced_tool_name(tool_choice)) if tools else None,
    )


def asks_for_json(provider: str, payload: dict[str, Any]) -> bool:
    """Whether the request turns on the provider's JSON mode, whose answer text is then a JSON object:
    OpenAI chat ``response_format`` and Responses ``text.format`` of type ``json_object`` or ``json_schema``
    (API reference: "ensures the message the model generates is valid JSON"); Anthropic structured outputs
    ``output_format`` (or the newer ``output_config.format``) of type ``json_schema`` (docs, "Structured
    outputs": the JSON is in the text block); Gemini ``generationConfig.responseMimeType`` ``application/json``
    (LiteLLM writes it ``response_mime_type``; both spellings are accepted by the API)."""
    if provider == "gemini":
        config = payload.get("generationConfig") or payload.get("generation_config") or {}
        mime = config.get("responseMimeType") or config.get("response_mime_type")
        return mime == "application/json"
    if provider == "anthropic":
        output_format = payload.get("output_format") or (payload.get("output_config") or {}).get("format")
        return isinstance(output_format, dict) and output_format.get("type") == "json_schema"
    response_format = payload.get("response_format") or (payload.get("text") or {}).get("format")
    return isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema")


def forced_tool_name(tool_choice: Any) -> str | None:
    """The tool a request forces by name: OpenAI chat ``{"type": "function", "function": {"name"}}``, OpenAI
    Responses ``{"type": "function", "name"}``, Anthropic ``{"type": "tool", "name"}``, Gemini
    ``functionCallingConfig.allowedFunctionNames`` (the server passes that config here)."""
    if not isinstance(tool_choice, dict):
        return None
    allowed = tool_choice.get("allowedFunctionNames") or tool_choice.get("allowed_function_names")
    if allowed:
        return str(allowed[0])
    named = tool_choice.get("function", tool_choice).get("name")
    return str(named) if named else None


def _tool_call(tools: list[dict[str, Any]], wanted: str | None) -> ToolCall | None:
    """Call the tool the request forces, else the first one offered, filling each required property with a
    placeholder of its JSON type.

    The three formats nest a tool differently: OpenAI chat ``{"type": "function", "function": {name, parameters}}``,
    OpenAI Responses ``{"type": "function", name, parameters}``, Anthropic ``{name, input_schema}``, Gemini
    ``{"functionDeclarations": [{name, parameters}]}``.
    """
    specs: list[dict[str, Any]] = []
    for tool in tools:
        declarations = tool.get("functionDeclarations") or tool.get("function_declarations")
        specs.extend(declarations if declarations else [tool.get("function", tool)])
    if not specs:
        return None
    spec = next((s for s in specs if s.get("name") == wanted), specs[0])
    name = str(spec.get("name", "tool"))
    schema = spec.get("parameters") or spec.get("input_schema") or {}
    properties = schema.get("properties") or {}
    placeholders = {"integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}
    arguments = {
        key: placeholders.get(str((properties.get(key) or {}).get("type", "string")).lower(), "simulated")
        for key in schema.get("required") or list(properties)[:1]
    }
    return ToolCall(id=f"call_sim_{name}", name=name, arguments=arguments)


def prompt_text(payload: dict[str, Any], provider: str) -> str:
    """The text a request sends, whatever its shape (chat messages, a completion prompt, Responses input, Gemini)."""
    if provider == "gemini":  # the system instruction is billed input too (LiteLLM sends system_instruction)
        system = payload.get("systemInstruction") or payload.get("system_instruction") or {}
        contents = [system, *payload.get("contents", [])]
        parts = [p.get("text", "") for c in contents for p in c.get("parts", [])]
        return " ".join(str(p) for p in parts if p)
    chunks: list[str] = []
    system = payload.get("system")  # Anthropic's top-level system prompt: a string or a list of text blocks
    if isinstance(system, str):
        chunks.append(system)
    elif isinstance(system, list):
        chunks.extend(str(block.get("text", "")) for block in system if isinstance(block, dict))
    if "prompt" in payload:  # OpenAI /v1/completions: a string or a list of strings
        prompt = payload["prompt"]
        chunks.extend(prompt if isinstance(prompt, list) else [prompt])
    if isinstance(payload.get("instructions"), str):  # OpenAI Responses
        chunks.append(payload["instructions"])
    messages = payload.get("messages", [])
    responses_input = payload.get("input")
    if isinstance(responses_input, str):
        chunks.append(responses_input)
    elif isinstance(responses_input, list):
        messages = [*messages, *responses_input]
    for message in messages:
        content = message.get("content", "") if isinstance(message, dict) else message
        if isinstance(content, list):
            chunks.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
        else:
            chunks.append(str(content))
    return " ".join(str(c) for c in chunks)
