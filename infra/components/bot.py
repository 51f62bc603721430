"""The Telegram bot on Railway, and its webhook. It reaches only the gateway and never holds a provider key.

Order: the bot deploys after the gateway serves (``deploy_after``), is checked over its public domain
(``ServingCheck``), and only then is the webhook registered: Telegram delivers as soon as it is set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from infra.catalog import StackSpec
from infra.components.gateway import ALERTS_PATH, GATEWAY_PORT, GATEWAY_SERVICE, source_and_build
from infra.components.railway_app import RailwayApp, RailwayAppArgs
from infra.components.stores import Database
from infra.railway.resources import DEFAULT_API_URL
from infra.serving import ServingCheck, bot_probes
from infra.telegram import TelegramWebhook

BOT_SERVICE = "bot"
BOT_PORT = 8080
WEBHOOK_PATH = "/telegram/webhook"
#: SIGTERM to SIGKILL on a redeploy (Railway's RAILWAY_DEPLOYMENT_DRAINING_SECONDS; the bot reads it too and
#: finishes or hands back its turns within it)
DRAINING_SECONDS = 10
#: the gateway posts budget alerts here, over Railway's private network
ALERTS_URL = f"http://${{{{{BOT_SERVICE}.RAILWAY_PRIVATE_DOMAIN}}}}:{BOT_PORT}{ALERTS_PATH}"


@dataclass(frozen=True)
class BotArgs:
    spec: StackSpec
    #: what the bot authenticates to the gateway with
    gateway_key: pulumi.Input[str]
    bot_token: pulumi.Input[str]
    webhook_secret: pulumi.Input[str]
    alerts_secret: pulumi.Input[str]
    database: Database
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    #: deploy only once these exist or serve (the gateway's serving check)
    deploy_after: tuple[pulumi.Resource, ...] = ()
    api_url: str = DEFAULT_API_URL
    #: the bot's own spans to the catalog's OTLP collector (infra/observability.py), none without one
    trace_variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class Bot(pulumi.ComponentResource):
    url: pulumi.Output[str]
    webhook_url: pulumi.Output[str]

    def __init__(self, name: str, args: BotArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:bot:Bot", name, None, opts)
        spec = args.spec
        telegram = spec.deploy.telegram
        source, build = source_and_build(spec.deploy.services.bot)
        variables: dict[str, pulumi.Input[str]] = {
            "PORT": str(BOT_PORT),
            # Railway's edge and health check reach the container from outside it
            "BIND_HOST": "0.0.0.0",
            "RAILWAY_DEPLOYMENT_DRAINING_SECONDS": str(DRAINING_SECONDS),
            "GATEWAY_BASE_URL": f"http://${{{{{GATEWAY_SERVICE}.RAILWAY_PRIVATE_DOMAIN}}}}:{GATEWAY_PORT}",
            "GATEWAY_API_KEY": args.gateway_key,
            "TELEGRAM_BOT_TOKEN": args.bot_token,
            "TELEGRAM_WEBHOOK_SECRET": args.webhook_secret,
            "TELEGRAM_API_BASE": telegram.api_base,
            "ALERTS_SECRET": args.alerts_secret,
            "ADMIN_CHAT_ID": "" if telegram.admin_chat_id is None else str(telegram.admin_chat_id),
            "ALLOWED_USER_IDS": ",".join(str(u) for u in telegram.allowed_user_ids),
            "DEFAULT_ROUTE": telegram.default_route,
            "ROUTES": json.dumps(sorted(spec.catalog.routes)),
            "ALLOWED_UPDATES": json.dumps(list(telegram.allowed_updates)),
            "BUDGET_TIMEZONE": spec.catalog.budget.timezone,
            "DATABASE_URL": Database.url_reference,
            **args.trace_variables,
        }
        self.app = RailwayApp(
            f"{name}-app",
            RailwayAppArgs(
                project_id=args.project_id,
                environment_id=args.environment_id,
                service_name=BOT_SERVICE,
                source=source,
                settings={
                    **build,
                    "healthcheck_path": "/health",
                    "healthcheck_timeout_s": spec.deploy.services.healthcheck_timeout_s,
                    "replicas": 1,
                    "region": spec.deploy.railway.region,
                    "restart_policy": "ON_FAILURE",
                },
                variables=variables,
                public_port=BOT_PORT,
                api_url=args.api_url,
                deploy_after=(args.database.app.deployment, *args.deploy_after),
                deploy_timeout_s=spec.deploy.services.deploy_timeout_s,
                referenced={"database_password": args.database.password},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        assert self.app.url is not None
        self.url = self.app.url
        self.webhook_url = pulumi.Output.concat(self.app.url, WEBHOOK_PATH)
        self.serving = ServingCheck(
            f"{name}-serving",
            base_url=self.url,
            probes=bot_probes(),
            revision=self.app.deployment.deployment_id,
            timeout_s=spec.deploy.services.serving_timeout_s,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.app.deployment]),
        )
        self.webhook = TelegramWebhook(
            f"{name}-webhook",
            bot_token=args.bot_token,
            url=self.webhook_url,
            secret_token=args.webhook_secret,
            allowed_updates=list(telegram.allowed_updates),
            api_base=telegram.api_base,
            # Telegram may call as soon as the webhook is set: the bot must serve first
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.serving]),
        )
        self.register_outputs({"url": self.url, "webhook_url": self.webhook_url})
