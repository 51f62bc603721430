"""GCP Secret Manager: one secret per provider key and per stack secret, and a deployer that may read only them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

ACCESSOR_ROLE = "roles/secretmanager.secretAccessor"


@dataclass(frozen=True)
class SecretSpec:
    """One secret: its Secret Manager id, what it is for, and where its value comes from."""

    secret_id: str
    purpose: str
    #: a value from Pulumi config (a secret), written as a new version
    value: pulumi.Input[str] | None = None
    #: when no value is given: generate one (e.g. the master key) instead of reading the latest version
    generate_length: int | None = None


@dataclass(frozen=True)
class SecretStoreArgs:
    stack: str
    secrets: Sequence[SecretSpec]
    #: the GCP project; None means the provider's (gcp:project)
    project: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


class SecretStore(pulumi.ComponentResource):
    """Declares the secrets and resolves each one's current value as a secret Output.

    A value comes from the stack's Pulumi config when it supplies one (a version is added), is generated with
    pulumi-random when the spec asks for it, and otherwise is the latest version someone added out of band
    (``gcloud secrets versions add <ID> --data-file=-``).
    """

    values: dict[str, pulumi.Output[str]]
    secret_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SecretStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llmstack:gcp:SecretStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.values = {}
        self.secret_names = {}
        self.deployer = gcp.serviceaccount.Account(
            f"{name}-deployer",
            account_id=f"llmstack-{args.stack}-deployer"[:30],
            display_name=f"llm-stack {args.stack} deployer (reads this stack's secrets only)",
            project=args.project,
            opts=child,
        )
        member = self.deployer.email.apply(lambda email: f"serviceAccount:{email}")
        for spec in args.secrets:
            slug = spec.secret_id.lower()
            secret = gcp.secretmanager.Secret(
                f"{name}-{slug}",
                secret_id=spec.secret_id,
                project=args.project,
                replication=gcp.secretmanager.SecretReplicationArgs(
                    auto=gcp.secretmanager.SecretReplicationAutoArgs()
                ),
                labels={**args.labels, "stack": args.stack, "purpose": spec.purpose},
                opts=child,
            )
            gcp.secretmanager.SecretIamMember(
                f"{name}-{slug}-accessor",
                secret_id=secret.id,
                role=ACCESSOR_ROLE,
                member=member,
                project=secret.project,
                opts=child,
            )
            self.secret_names[spec.secret_id] = secret.name
            self.values[spec.secret_id] = self._value(name, slug, spec, secret, child)
        self.register_outputs({"deployer_email": self.deployer.email, "secret_names": self.secret_names})

    @staticmethod
    def _value(
        name: str,
        slug: str,
        spec: SecretSpec,
        secret: gcp.secretmanager.Secret,
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        value: pulumi.Input[str] | None = spec.value
        if value is None and spec.generate_length:
            password = random.RandomPassword(
                f"{name}-{slug}-value", length=spec.generate_length, special=False, opts=child
            )
            value = password.result
        if value is not None:
            version = gcp.secretmanager.SecretVersion(
                f"{name}-{slug}-version",
                secret=secret.id,
                secret_data=pulumi.Output.secret(value),
                opts=child,
            )
            written: pulumi.Input[str] = version.secret_data.apply(lambda data: data or "")
            return pulumi.Output.secret(written)
        latest = gcp.secretmanager.get_secret_version_output(secret=secret.secret_id, project=secret.project)
        current: pulumi.Input[str] = latest.secret_data.apply(lambda data: data or "")
        return pulumi.Output.secret(current)
