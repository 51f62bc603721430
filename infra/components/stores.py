"""The stack's data services on Railway: Postgres for the bot's history, Redis for the gateway's shared state."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from infra.components.railway_app import RailwayApp, RailwayAppArgs
from infra.railway.deployment import DEFAULT_TIMEOUT_S
from infra.railway.resources import DEFAULT_API_URL

POSTGRES_SERVICE = "postgres"
POSTGRES_IMAGE = "ghcr.io/railwayapp-templates/postgres-ssl:17"
POSTGRES_MOUNT = "/var/lib/postgresql/data"
REDIS_SERVICE = "redis"
REDIS_IMAGE = "ghcr.io/railwayapp-templates/redis:8"
REDIS_MOUNT = "/data"
#: Railway's Redis template practice (its start command in the template marketplace: password from
#: $REDIS_PASSWORD, data in the volume, `lost+found` removed, `--save 60 1`), plus append-only persistence
#: fsynced every second: the budget counter changes on every request, and a restart must keep the day's spend
#: (a snapshot alone would lose up to a minute of it)
REDIS_START_COMMAND = (
    f'/bin/sh -c "rm -rf {REDIS_MOUNT}/lost+found/ && exec docker-entrypoint.sh redis-server '
    f'--requirepass $REDIS_PASSWORD --appendonly yes --appendfsync everysec --save 60 1 --dir {REDIS_MOUNT}"'
)


@dataclass(frozen=True)
class StoreArgs:
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    region: str
    api_url: str = DEFAULT_API_URL
    deploy_timeout_s: float = DEFAULT_TIMEOUT_S


class Database(pulumi.ComponentResource):
    """Postgres from Railway's own image, on a volume, with a generated password."""

    #: what a consumer puts in its variables; Railway resolves it at deploy time
    url_reference = f"${{{{{POSTGRES_SERVICE}.DATABASE_URL}}}}"

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:railway:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        #: what consumers' references resolve to: a new one must redeploy them (RailwayAppArgs.referenced)
        self.password: pulumi.Output[str] = password.result
        self.app = RailwayApp(
            f"{name}-app",
            RailwayAppArgs(
                project_id=args.project_id,
                environment_id=args.environment_id,
                service_name=POSTGRES_SERVICE,
                source={"image": POSTGRES_IMAGE},
                # one replica: a volume cannot be shared between replicas
                settings={"replicas": 1, "region": args.region, "restart_policy": "ALWAYS"},
                variables={
                    "POSTGRES_USER": "postgres",
                    "POSTGRES_DB": "llmstack",
                    "POSTGRES_PASSWORD": password.result,
                    # Postgres refuses a non-empty mount root (lost+found), so the data lives one level down
                    "PGDATA": f"{POSTGRES_MOUNT}/pgdata",
                    "PGPORT": "5432",
                    "DATABASE_URL": "postgresql://${{POSTGRES_USER}}:${{POSTGRES_PASSWORD}}"
                    "@${{RAILWAY_PRIVATE_DOMAIN}}:5432/${{POSTGRES_DB}}",
                },
                volume_mount=POSTGRES_MOUNT,
                api_url=args.api_url,
                deploy_timeout_s=args.deploy_timeout_s,
            ),
            opts=child,
        )
        self.register_outputs({"service_id": self.app.service_id})


class Cache(pulumi.ComponentResource):
    """Redis with a password and append-only persistence on a volume, so the day's budget spend survives a
    restart; every deployed stack has one (the gateway refuses an in-memory counter outside local mode)."""

    host_reference = f"${{{{{REDIS_SERVICE}.RAILWAY_PRIVATE_DOMAIN}}}}"
    password_reference = f"${{{{{REDIS_SERVICE}.REDIS_PASSWORD}}}}"
    port = "6379"

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:railway:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        #: what consumers' references resolve to: a new one must redeploy them (RailwayAppArgs.referenced)
        self.password: pulumi.Output[str] = password.result
        self.app = RailwayApp(
            f"{name}-app",
            RailwayAppArgs(
                project_id=args.project_id,
                environment_id=args.environment_id,
                service_name=REDIS_SERVICE,
                source={"image": REDIS_IMAGE},
                settings={
                    "replicas": 1,
                    "region": args.region,
                    "restart_policy": "ALWAYS",
                    "start_command": REDIS_START_COMMAND,
                },
                variables={"REDIS_PASSWORD": password.result, "REDISPORT": self.port},
                volume_mount=REDIS_MOUNT,
                api_url=args.api_url,
                deploy_timeout_s=args.deploy_timeout_s,
            ),
            opts=child,
        )
        self.register_outputs({"service_id": self.app.service_id})
