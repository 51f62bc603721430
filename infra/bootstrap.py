"""The cloud side CI needs, declared once per organisation (``bootstrap/``, its own Pulumi project).

GitHub Actions authenticates to GCP through Workload Identity Federation: no key file exists anywhere. The pool's
provider trusts only this repository's OIDC tokens; the CI service account may be impersonated only by them,
keeps the Pulumi state in a versioned bucket, encrypts stack secrets with a KMS key, and holds on each stack's
project exactly the roles the llm-stack program needs: managing its Secret Manager secrets (with their IAM
bindings) and the per-stack deployer service account.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
#: on each stack's project: secrets, their versions and IAM bindings; the deployer service account
STACK_PROJECT_ROLES = ("roles/secretmanager.admin", "roles/iam.serviceAccountAdmin")
APIS = (
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "sts.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
    "secretmanager.googleapis.com",
)


@dataclass(frozen=True)
class CiBootstrapArgs:
    #: owner/name of the GitHub repository whose workflows deploy
    github_repository: str
    #: the GCP project of each stack (gcp:project in stacks/Pulumi.<stack>.yaml)
    stack_projects: Sequence[str]
    #: where the state bucket lives
    location: str = "EU"


class CiBootstrap(pulumi.ComponentResource):
    def __init__(self, name: str, args: CiBootstrapArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.github_repository.count("/") != 1:
            raise ValueError(f"github_repository must be owner/name, not {args.github_repository!r}")
        super().__init__("llmstack:bootstrap:CiBootstrap", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        apis = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}", service=api, disable_on_destroy=False, opts=child
            )
            for api in APIS
        ]
        after_apis = pulumi.ResourceOptions(parent=self, depends_on=apis)
        self.state_bucket = gcp.storage.Bucket(
            f"{name}-state",
            location=args.location,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            opts=after_apis,
        )
        keyring = gcp.kms.KeyRing(f"{name}-keyring", location="global", opts=after_apis)
        self.secrets_key = gcp.kms.CryptoKey(
            f"{name}-pulumi-secrets", key_ring=keyring.id, rotation_period="7776000s", opts=child
        )
        pool = gcp.iam.WorkloadIdentityPool(
            f"{name}-pool", workload_identity_pool_id="github", display_name="GitHub Actions", opts=after_apis
        )
        self.provider = gcp.iam.WorkloadIdentityPoolProvider(
            f"{name}-provider",
            workload_identity_pool_id=pool.workload_identity_pool_id,
            workload_identity_pool_provider_id="github",
            attribute_mapping={
                "google.subject": "assertion.sub",
                "attribute.repository": "assertion.repository",
                "attribute.ref": "assertion.ref",
            },
            # only this repository's tokens are exchanged at all
            attribute_condition=f"assertion.repository == '{args.github_repository}'",
            oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
            opts=child,
        )
        self.ci_account = gcp.serviceaccount.Account(
            f"{name}-ci",
            account_id="llmstack-ci",
            display_name="llm-stack CI (GitHub Actions)",
            opts=after_apis,
        )
        member = self.ci_account.email.apply(lambda email: f"serviceAccount:{email}")
        gcp.serviceaccount.IAMMember(
            f"{name}-ci-wif",
            service_account_id=self.ci_account.name,
            role="roles/iam.workloadIdentityUser",
            member=pool.name.apply(
                lambda pool_name: (
                    f"principalSet://iam.googleapis.com/{pool_name}/attribute.repository/{args.github_repository}"
                )
            ),
            opts=child,
        )
        gcp.storage.BucketIAMMember(
            f"{name}-ci-state",
            bucket=self.state_bucket.name,
            role="roles/storage.objectAdmin",
            member=member,
            opts=child,
        )
        gcp.kms.CryptoKeyIAMMember(
            f"{name}-ci-secrets",
            crypto_key_id=self.secrets_key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=member,
            opts=child,
        )
        for project in args.stack_projects:
            for role in STACK_PROJECT_ROLES:
                gcp.projects.IAMMember(
                    f"{name}-ci-{project}-{role.split('/')[-1].replace('.', '-').lower()}",
                    project=project,
                    role=role,
                    member=member,
                    opts=child,
                )
        self.backend_url = pulumi.Output.concat("gs://", self.state_bucket.name)
        self.secrets_provider = pulumi.Output.concat("gcpkms://", self.secrets_key.id)
        self.register_outputs({})


def main() -> None:
    config = pulumi.Config()
    bootstrap = CiBootstrap(
        "ci",
        CiBootstrapArgs(
            github_repository=config.require("github_repository"),
            stack_projects=config.require_object("stack_projects"),
            location=config.get("state_location") or "EU",
        ),
    )
    # the repository variables the workflows read
    pulumi.export("GCP_WORKLOAD_IDENTITY_PROVIDER", bootstrap.provider.name)
    pulumi.export("GCP_DEPLOYER_SERVICE_ACCOUNT", bootstrap.ci_account.email)
    pulumi.export("PULUMI_BACKEND_URL", bootstrap.backend_url)
    pulumi.export("secrets_provider", bootstrap.secrets_provider)
