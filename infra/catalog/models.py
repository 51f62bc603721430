"""The typed model catalog: the one contract a user edits (``stacks/catalog.yaml``) to swap providers.

Structure and types are enforced here (``extra="forbid"``, strict types, safe identifiers), so a typo fails in
tests and at ``pulumi preview`` alike. Cross-references and semantics (fallback graph, prices, budget) are
checked by ``infra.checks``, which can name the offending field and suggest a fix.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

#: names applications and the catalog use: model groups, routes, providers
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*$", max_length=63)]
#: a GCP Secret Manager secret id
SecretId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,255}$")]
#: an environment variable name
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")]
#: a provider's model id, e.g. ``claude-sonnet-4-6``
ModelId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")]
#: a waiver's reason: a sentence, not a checkbox
Reason = Annotated[str, StringConstraints(min_length=12, max_length=500, strip_whitespace=True)]

ProviderKind = Literal["anthropic", "openai", "gemini"]
Capability = Literal["tools", "vision", "json", "streaming", "reasoning", "pdf"]
#: finding codes a catalog may waive for one model group, with a stated reason
WaivableCode = Literal["single-provider", "capability-loss", "context-shrink", "price-drift", "unknown-model"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Provider(Strict):
    """A model provider and where its API key lives."""

    api_key_secret: SecretId
    #: which wire format / LiteLLM provider; defaults to the provider's own name
    kind: ProviderKind | None = None
    #: the environment variable the gateway reads the key from; defaults to ``<NAME>_API_KEY``
    api_key_env: EnvName | None = None

    def resolved_kind(self, name: str) -> str:
        return self.kind or name

    def resolved_env(self, name: str) -> str:
        return self.api_key_env or f"{name.upper().replace('-', '_').replace('.', '_')}_API_KEY"


class Price(Strict):
    """USD per million tokens."""

    input: float
    output: float


class ModelGroup(Strict):
    """One name applications ask for, served by one provider model."""

    provider: Identifier
    model: ModelId
    price_per_mtok: Price
    context_window: Annotated[int, Field(gt=0)]
    max_output_tokens: Annotated[int, Field(gt=0)]
    capabilities: list[Capability] = Field(default_factory=list)
    #: the provider's announced retirement date, when the catalog knows better than LiteLLM's map
    deprecation_date: dt.date | None = None
    waivers: dict[WaivableCode, Reason] = Field(default_factory=dict)

    @field_validator("deprecation_date", mode="before")
    @classmethod
    def _date_from_yaml(cls, value: object) -> object:
        # YAML gives a date for 2027-01-31 and a string for "2027-01-31"; accept both, strictly.
        if isinstance(value, str):
            return dt.date.fromisoformat(value)
        return value

    @field_validator("capabilities")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({c for c in value if value.count(c) > 1})
        if duplicates:
            raise ValueError(f"capabilities listed twice: {', '.join(duplicates)}")
        return value

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_per_mtok.input + output_tokens * self.price_per_mtok.output) / 1e6


class Retries(Strict):
    """Retries per error class, for a group that has no fallback left to fail over to."""

    rate_limit: Annotated[int, Field(ge=0, le=10)] = 0
    server_error: Annotated[int, Field(ge=0, le=10)] = 0
    timeout: Annotated[int, Field(ge=0, le=10)] = 0


class Router(Strict):
    routing_strategy: str = "simple-shuffle"
    #: per attempt, seconds
    timeout_s: Annotated[float, Field(gt=0)]
    retries: Retries = Field(default_factory=Retries)
    #: LiteLLM's hop-depth limit
    max_fallbacks: Annotated[int, Field(ge=0, le=20)] = 5
    #: the longest a request may take end to end, seconds, every fallback included
    max_request_s: Annotated[float, Field(gt=0)]


class Budget(Strict):
    daily_usd: float
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.8, 1.0])
    #: the budget day starts at midnight here
    timezone: str = "UTC"
    #: refuse requests when the shared budget counter is unreachable (fail closed) unless this is true
    allow_when_counter_unavailable: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')"
            ) from exc
        return value


class Gateway(Strict):
    replicas: Annotated[int, Field(ge=1, le=20)] = 1
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    #: where the budget counter lives. Every deployed stack keeps it in the stack's Redis, so a redeploy or a
    #: crash restart never gives the day a fresh cap; ``none`` (one process's memory) is what ``llmstack local``
    #: and the drills run with, and ``llmstack check`` refuses it in a stack file
    shared_state: Literal["none", "redis"] = "redis"
    #: accept the master key for completions too; off, it is for operators only (``/budget``, metrics) and every
    #: application calls with its own client key (``clients:``), so a leaked application key is never the master
    master_key_completions: bool = False


class Client(Strict):
    """One consumer of the gateway (the bot, a tools loop, ...) with its own key, routes and share of the budget."""

    #: route aliases and model groups this client may ask for; anything else is refused with 403
    routes: list[Identifier]
    #: a hard sub-cap inside ``budget.daily_usd``: the client is refused with 429 at its share, others go on
    daily_usd: float | None = None
    #: at most this many requests in any 60 seconds, across every worker and replica (429 with Retry-After)
    requests_per_minute: int | None = None
    #: the Secret Manager secret holding the client's key (default ``LLMSTACK-CLIENT-<NAME>-KEY``, generated)
    key_secret: SecretId | None = None
    #: may read the gateway's ``GET /budget`` (today's spend, the split, the last days) with its own key: the bot
    #: needs it for the admin chat's ``/spend``, as it never holds the master key (issue 13). Read-only and nothing
    #: more: ``/metrics``, ``/llmstack/routes`` and every other operator route keep needing the master key
    read_budget: bool = False

    def resolved_secret(self, name: str) -> str:
        return self.key_secret or f"LLMSTACK-CLIENT-{name.upper().replace('.', '-').replace('_', '-')}-KEY"

    @staticmethod
    def key_env(name: str) -> str:
        """The variable the gateway reads this client's key from (and the client itself, as GATEWAY_API_KEY)."""
        return f"LLMSTACK_CLIENT_{name.upper().replace('-', '_').replace('.', '_')}_KEY"


class TypicalRequest(Strict):
    """The request `explain` and `diff` price, so a catalog edit shows what it does to cost."""

    input_tokens: Annotated[int, Field(ge=0)] = 1000
    output_tokens: Annotated[int, Field(ge=0)] = 500


class Otlp(Strict):
    """OpenTelemetry export of the gateway's spans (LiteLLM's ``otel`` callback, OTLP over HTTP)."""

    #: the collector's base URL (``/v1/traces`` is appended by LiteLLM when missing); checked by
    #: ``infra/checks/observability.py`` rather than typed, so a bad value gets a finding that never echoes it
    endpoint: str
    #: Secret Manager secret holding the OTLP headers (``name=value,name=value``, often an API key)
    headers_secret: str | None = None


class Langfuse(Strict):
    """Langfuse traces (LiteLLM's ``langfuse_otel`` callback: OTLP to ``<host>/api/public/otel``)."""

    host: str = "https://cloud.langfuse.com"
    public_key_secret: str
    secret_key_secret: str


class Observability(Strict):
    """Where the gateway's traces go. Absent: no trace leaves the gateway."""

    otlp: Otlp | None = None
    langfuse: Langfuse | None = None
    #: put prompts and answers in the spans and in the gateway's per-request records; off (the default), LiteLLM
    #: redacts them before any callback sees them and the records carry none (llmstack_gateway/content.py)
    log_content: bool = False


class Catalog(Strict):
    providers: dict[Identifier, Provider]
    models: dict[Identifier, ModelGroup]
    fallbacks: dict[Identifier, list[Identifier]] = Field(default_factory=dict)
    context_window_fallbacks: dict[Identifier, list[Identifier]] = Field(default_factory=dict)
    content_policy_fallbacks: dict[Identifier, list[Identifier]] = Field(default_factory=dict)
    routes: dict[Identifier, Identifier] = Field(default_factory=dict)
    router: Router
    budget: Budget
    gateway: Gateway = Field(default_factory=Gateway)
    #: who may call the gateway, with which key, routes and budget share (``infra/checks/clients.py``)
    clients: dict[Identifier, Client] = Field(default_factory=dict)
    typical_request: TypicalRequest = Field(default_factory=TypicalRequest)
    observability: Observability = Field(default_factory=Observability)
