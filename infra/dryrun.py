"""A dry run of the Pulumi program: the real program under Pulumi's mocks, recording every resource it declares.

This is not a provider preview (nothing is asked of GCP or Railway); it is what ``make plan`` prints and what the
wiring tests assert on.

The mock monitor is extended in two ways the stock one lacks: it records each registration's parent and
``additionalSecretOutputs``, and it *applies* them (wraps those outputs as secrets), as the engine does. Without
that, a secret such as RandomPassword.result would look public in a mocked run and secret handling could not be
tested at all.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from infra.railway.tokens import NEEDED, PROJECT_TOKEN_ENV

SECRET = "[secret]"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def redact(value: Any) -> Any:
    """Secrets become "[secret]" (a secret mapping shows its keys only); the pickled dynamic provider is dropped."""
    if is_secret(value):
        inner = rpc.unwrap_rpc_secret(value)
        return {SECRET: sorted(inner)} if isinstance(inner, Mapping) else SECRET
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in sorted(value.items()) if k != "__provider"}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    if is_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Registration:
    type: str
    name: str
    parent_urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    additional_secret_outputs: list[str]
    #: names of the resources this one waits for (explicit ``depends_on`` and those its inputs come from)
    depends_on: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return (self.type, self.name)


_RAILWAY_IDS = {
    "Project": "project_id",
    "Environment": "environment_id",
    "Service": "service_id",
    "Volume": "volume_id",
    "Deployment": "deployment_id",
}


class StackMocks(pulumi.runtime.Mocks):
    """Plausible ids and computed outputs per resource type; invokes answer like Secret Manager would.

    It also plays the engine's part for ``additional_secret_outputs``: those outputs come back secret.
    """

    def __init__(self) -> None:
        self.invokes: list[tuple[str, dict[str, Any]]] = []
        self.registrations: list[Registration] = []
        #: (type, name) -> (additionalSecretOutputs, parent urn, dependencies), noted by the monitor before each
        #: registration
        self.pending: dict[tuple[str, str], tuple[list[str], str, list[str]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, outputs = self._computed(args)
        secret_outputs, parent, depends_on = self.pending.pop((args.typ, args.name), ([], "", []))
        for key in secret_outputs:
            if key in outputs and not is_secret(outputs[key]):
                outputs[key] = rpc.wrap_rpc_secret(outputs[key])
        self.registrations.append(
            Registration(args.typ, args.name, parent, dict(args.inputs), outputs, secret_outputs, depends_on)
        )
        return rid, outputs

    def _computed(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        rid = f"{args.name}-id"
        kind = args.typ
        if kind == "gcp:secretmanager/secret:Secret":
            outputs["name"] = f"projects/test-project/secrets/{inputs['secretId']}"
            outputs["project"] = "test-project"
            rid = outputs["name"]
        elif kind == "gcp:serviceaccount/account:Account":
            outputs["email"] = f"{inputs['accountId']}@test-project.iam.gserviceaccount.com"
        elif kind == "gcp:iam/workloadIdentityPool:WorkloadIdentityPool":
            outputs["name"] = (
                f"projects/123456/locations/global/workloadIdentityPools/{inputs['workloadIdentityPoolId']}"
            )
        elif kind == "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider":
            outputs["name"] = (
                "projects/123456/locations/global/workloadIdentityPools/"
                f"{inputs['workloadIdentityPoolId']}/providers/{inputs['workloadIdentityPoolProviderId']}"
            )
        elif kind == "random:index/randomPassword:RandomPassword":
            outputs["result"] = f"generated-{args.name}"
        elif kind.startswith("pulumi-python:dynamic/railway:"):
            rid = f"railway-{args.name}"
            computed_id = _RAILWAY_IDS.get(kind.rsplit(":", 1)[-1])
            if computed_id:
                outputs[computed_id] = rid
            if kind.endswith(":Service"):
                outputs["private_domain"] = f"{unwrap(inputs['name'])}.railway.internal"
            if kind.endswith(":ServiceDomain"):
                outputs["domain"] = f"{args.name}.up.railway.app"
                outputs["url"] = f"https://{args.name}.up.railway.app"
            if kind.endswith(":Variables"):
                outputs["names"] = sorted(unwrap(inputs.get("variables")) or {})
                outputs["digest"] = "digest-of-values"
                outputs.pop("variables", None)  # the real provider never returns the values
        if kind.startswith("gcp:"):
            outputs.setdefault("name", args.name)  # most GCP resources compute a name
        return rid, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "gcp:secretmanager/getSecretVersion:getSecretVersion":
            return {
                "secretData": rpc.wrap_rpc_secret(f"out-of-band-{args.args['secret']}"),
                "version": "3",
            }, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Notes what the stock mock monitor drops (parent, additionalSecretOutputs) before registering."""

    def __init__(self, mocks: StackMocks) -> None:
        super().__init__(mocks)
        self.stack_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        key = (str(request.type), str(request.name))
        depends_on = sorted({str(urn).rsplit("::", 1)[-1] for urn in request.dependencies})
        self.stack_mocks.pending[key] = (
            list(request.additionalSecretOutputs),
            str(request.parent),
            depends_on,
        )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


def stack_config(
    stack_file: Path, secrets: Mapping[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """What the engine would hand the program for this stack file: flat keys, structured values as JSON.

    ``secure:`` values cannot be decrypted offline; tests supply secret values explicitly instead.
    """
    data = yaml.safe_load(stack_file.read_text()) or {}
    flat: dict[str, str] = {}
    for key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue
        flat[key] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    secret_keys: list[str] = []
    if secrets:
        flat["llmstack:secrets"] = json.dumps(dict(secrets))
        secret_keys.append("llmstack:secrets")
    return flat, secret_keys


@dataclass
class ProgramRun:
    registrations: list[Registration]
    exports: dict[str, Any]
    invokes: list[tuple[str, dict[str, Any]]]
    error: BaseException | None = None
    export_secrets: dict[str, bool] = field(default_factory=dict)

    def of_type(self, suffix: str) -> list[Registration]:
        return [r for r in self.registrations if r.type.endswith(suffix)]

    def named(self, name: str) -> Registration:
        (found,) = [r for r in self.registrations if r.name == name]
        return found

    def snapshot(self) -> list[dict[str, Any]]:
        rows = [
            {
                "type": r.type,
                "name": r.name,
                "parent": r.parent_urn.rsplit("::", 1)[-1] if r.parent_urn else None,
                "inputs": redact(r.inputs),
            }
            for r in self.registrations
        ]
        return sorted(rows, key=lambda row: (row["type"], row["name"]))


def run_program(
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    program: Callable[[], None] | None = None,
    project: str = "llmstack",
) -> ProgramRun:
    """Run a Pulumi program (``infra.program.main`` by default) for ``stack`` under mocks, in-process."""
    if program is None:
        from infra.program import main as default_program

        # under mocks nothing calls Railway, so no token is needed (a real `up` refuses to start without one)
        program = functools.partial(default_program, check_token=False)
    declare_program: Callable[[], None] = program

    # Pulumi's runtime schedules on the thread's current loop; give each run a fresh one (asyncio.run elsewhere
    # in the same process leaves none behind)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = StackMocks()
    monitor = RecordingMonitor(mocks)
    # a new root Stack per run: set_mocks keeps an earlier run's (named after that run's stack) otherwise
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config, secret_keys)
    run = ProgramRun(mocks.registrations, {}, mocks.invokes)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def declare() -> pulumi.Output[Any]:
        declare_program()
        root = pulumi.runtime.settings.get_root_resource()
        outputs: dict[str, Any] = dict(root.outputs) if root is not None else {}  # type: ignore[attr-defined]

        async def collect() -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                run.exports[key] = await output.future()
                run.export_secrets[key] = await output.is_secret()

        return pulumi.Output.from_input(collect())

    try:
        declare()
    except Exception as exc:  # the invalid-catalog test inspects the error and the (empty) registrations
        run.error = exc
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return run


#: the inputs worth a glance per resource type in `make plan` (everything is in the snapshot tests)
_KEY_INPUTS = {
    "Secret": ("secretId",),
    "SecretVersion": ("secretData",),
    "SecretIamMember": ("role",),
    "Account": ("accountId",),
    "RandomPassword": ("length",),
    "Project": ("name",),
    "Environment": ("name",),
    "Service": ("name", "source"),
    "Variables": ("variables",),
    "ServiceDomain": ("target_port",),
    "Volume": ("mount_path",),
    "Deployment": ("revision",),
    "Webhook": ("url", "allowed_updates"),
    "Check": ("probes",),
}


def deploy_requirements() -> list[str]:
    """What a real `pulumi up` of the declared stack needs that the dry run does not: printed by `make plan`."""
    return [
        f"to deploy it, {NEEDED}; a project token in {PROJECT_TOKEN_ENV} is refused before anything is "
        "created (it cannot create the project)"
    ]


def describe(run: ProgramRun) -> list[str]:
    """The declared resources as an indented tree (children under their component), secrets masked."""
    children: dict[str, list[Registration]] = {}
    for registration in run.registrations:
        parent = registration.parent_urn.rsplit("::", 1)[-1] if "$" in registration.parent_urn else ""
        children.setdefault(parent, []).append(registration)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for registration in sorted(
            children.get(parent, []), key=lambda r: (not r.type.startswith("llmstack:"), r.name)
        ):
            kind = registration.type.rsplit(":", 1)[-1]
            shown = []
            for key in _KEY_INPUTS.get(kind, ()):
                if key in registration.inputs:
                    value = redact(registration.inputs[key])
                    if key == "probes":  # a serving check: what it proves, by name
                        value = [probe["name"] for probe in value]
                    if isinstance(value, dict) and SECRET in value:
                        value = f"[secret: {', '.join(value[SECRET])}]"
                    elif isinstance(value, float) and value.is_integer():
                        value = int(value)
                    shown.append(f"{key}={value}")
            lines.append(f"{'  ' * depth}{registration.type} {registration.name}  {' '.join(shown)}".rstrip())
            walk(registration.name, depth + 1)

    walk("", 0)
    return [*lines, *deploy_requirements()]
