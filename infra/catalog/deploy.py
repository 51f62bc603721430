"""Per-stack deployment settings: where things run, not what the gateway routes.

They live in ``stacks/Pulumi.<stack>.yaml`` under the ``llmstack:`` namespace next to the catalog overrides, so
one file says everything a stack differs in. Defaults are data here, never ``if stack == "prod"`` branches.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from infra.catalog.models import Identifier, Strict

ImageRef = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$")
]
RepoName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]


class ServiceSource(Strict):
    """Where Railway builds or pulls a service from: an image reference, or a repository subdirectory."""

    image: ImageRef | None = None
    repo: RepoName | None = None
    branch: str = "main"
    root_directory: str | None = None
    dockerfile_path: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ServiceSource:
        if (self.image is None) == (self.repo is None):
            raise ValueError("set exactly one of 'image' or 'repo'")
        return self


class RailwaySettings(Strict):
    #: the Railway workspace the project is created in (needed with a workspace token)
    workspace_id: str | None = None
    #: defaults to ``llmstack-<stack>``
    project_name: Identifier | None = None
    region: str = "us-west2"
    #: the GraphQL endpoint; tests point it at a fake on 127.0.0.1
    api_url: str = "https://backboard.railway.com/graphql/v2"


UpdateType = Literal["message", "edited_message", "callback_query"]


def _default_update_types() -> list[UpdateType]:
    return ["message", "callback_query"]


class TelegramSettings(Strict):
    api_base: str = "https://api.telegram.org"
    #: who may talk to the bot; an empty list means nobody
    allowed_user_ids: list[int] = Field(default_factory=list)
    admin_chat_id: int | None = None
    #: a route alias from the catalog
    default_route: Identifier = "balanced"
    allowed_updates: list[UpdateType] = Field(default_factory=_default_update_types)


class ServicesSettings(Strict):
    gateway: ServiceSource = Field(
        default_factory=lambda: ServiceSource(
            repo="llm-stack/llm-stack", root_directory="services/litellm-gateway"
        )
    )
    bot: ServiceSource = Field(
        default_factory=lambda: ServiceSource(
            repo="llm-stack/llm-stack", root_directory="services/telegram-bot"
        )
    )
    healthcheck_timeout_s: Annotated[int, Field(ge=10, le=3600)] = 120
    #: how long `up` waits for a deployment to reach SUCCESS (build included), then fails with its logs
    deploy_timeout_s: Annotated[int, Field(ge=30, le=7200)] = 900
    #: after SUCCESS, how long the public domain may take to serve (infra/serving.py) before `up` fails
    serving_timeout_s: Annotated[int, Field(ge=10, le=3600)] = 180


class DeploySettings(Strict):
    railway: RailwaySettings = Field(default_factory=RailwaySettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    services: ServicesSettings = Field(default_factory=ServicesSettings)


#: the ``llmstack:`` keys a stack file may set: catalog overlays, the enabled groups, deployment settings,
#: and secret values (``pulumi config set --secret --path 'llmstack:secrets.<id>'``, and the Railway token)
OVERLAY_SECTIONS = ("budget", "router", "gateway", "routes", "observability", "clients")
SECRET_KEYS = ("secrets", "railway_token")
STACK_KEYS = (*OVERLAY_SECTIONS, "enabled_models", "railway", "telegram", "services", *SECRET_KEYS)
