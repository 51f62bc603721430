"""The CI bootstrap under mocks: WIF trusts only this repository; the CI account holds only what deploys need."""

from __future__ import annotations

import json

import pytest

from infra.bootstrap import STACK_PROJECT_ROLES, CiBootstrap, CiBootstrapArgs, main
from infra.dryrun import ProgramRun, run_program

REPO = "acme/llm-stack"
PROJECTS = ["llmstack-dev", "llmstack-staging", "llmstack-prod"]


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    config = {
        "llmstack-bootstrap:github_repository": REPO,
        "llmstack-bootstrap:stack_projects": json.dumps(PROJECTS),
    }
    result = run_program("ci", config, [], program=main, project="llmstack-bootstrap")
    assert result.error is None, result.error
    return result


def test_the_pool_provider_trusts_only_this_repository(run: ProgramRun) -> None:
    (provider,) = run.of_type("iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    assert provider.inputs["attributeCondition"] == f"assertion.repository == '{REPO}'"
    assert provider.inputs["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com"
    (binding,) = run.of_type("serviceaccount/iAMMember:IAMMember")
    assert binding.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert binding.inputs["member"].endswith(f"/attribute.repository/{REPO}")
    assert binding.inputs["member"].startswith("principalSet://iam.googleapis.com/")


def test_the_ci_account_holds_exactly_the_roles_the_program_needs(run: ProgramRun) -> None:
    grants = {(g.inputs["project"], g.inputs["role"]) for g in run.of_type("projects/iAMMember:IAMMember")}
    assert grants == {(p, r) for p in PROJECTS for r in STACK_PROJECT_ROLES}
    assert not any("owner" in r or "editor" in r for _, r in grants)
    (state,) = run.of_type("storage/bucketIAMMember:BucketIAMMember")
    assert state.inputs["role"] == "roles/storage.objectAdmin"
    (kms,) = run.of_type("kms/cryptoKeyIAMMember:CryptoKeyIAMMember")
    assert kms.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def test_the_state_bucket_is_private_and_versioned(run: ProgramRun) -> None:
    (bucket,) = run.of_type("storage/bucket:Bucket")
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["versioning"] == {"enabled": True}


def test_outputs_are_what_the_workflows_read(run: ProgramRun) -> None:
    assert set(run.exports) >= {
        "GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GCP_DEPLOYER_SERVICE_ACCOUNT",
        "PULUMI_BACKEND_URL",
    }
    assert run.exports["PULUMI_BACKEND_URL"].startswith("gs://")


def test_a_repository_must_be_owner_slash_name() -> None:
    with pytest.raises(ValueError, match="owner/name"):
        CiBootstrap("x", CiBootstrapArgs(github_repository="not-a-repo", stack_projects=[]))
