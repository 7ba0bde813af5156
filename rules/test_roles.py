"""Per-deployment roles and policies the legacy library created (one per build, API or deployment)."""

from __future__ import annotations

import pytest

from ams_iam_audit import AuditContext, Controls, Evidence, Inventory, ManagedPolicy, Role, aimodelshare, rule


def _consumers(role: Role, inventory: Inventory) -> dict[str, object]:
    found = inventory.consumers_by_role_arn.get(role.arn, ())
    gaps = [s.describe() for s in inventory.consumer_sections if not s.readable]
    return {
        "consumers": [{"kind": c.kind, "name": c.name, "region": c.region, "arn": c.arn} for c in found],
        # An unread region or service could hide a consumer: say so rather than imply there is none.
        "consumers_complete": not gaps,
        "consumers_unreadable": gaps,
    }


@rule(
    id="AMS-ROLE-001",
    title="No AIModelShare per-deployment roles",
    severity="medium",
    area="roles",
    scope="role",
    rationale=(
        "The legacy library created a role (and its policy) for every build, API and deployment: codebuild_role, "
        "lambda_role_<api_id>, myService-dev-us-<region>-lambdaRole<id>, lambda_invoke_function_assume_apigw_role_2, "
        "and in the custom-container and data-sharing paths <name>-codebuild-role and <name>-lambda-role. Their "
        "policies grant s3:* or iam:* on every resource. The refactoring replaces them with four shared roles; "
        "each remaining one is unreviewed, over-privileged and multiplies what an auditor must check."
    ),
    remediation=(
        "Ensure the shared replacement role and its policy exist, re-point every consumer (Lambda execution role, "
        "CodeBuild service role, API Gateway integration credentials, then redeploy the stage), detach and delete "
        "the role's policies, and delete the role once nothing uses it."
    ),
    controls=Controls(nist=("AC-2", "AC-6", "CM-8"), soc2=("CC6.2", "CC6.3")),
    judges=lambda role, audit: audit.legacy_role(role) is not None,
    unjudged="match no legacy per-deployment role pattern",
)
def test_no_per_deployment_roles(role: Role, evidence: Evidence, audit: AuditContext) -> None:
    inventory = audit.inventory
    match = audit.legacy_role(role)
    if match is None:
        return
    replacement = match.replaced_by
    evidence.add(
        legacy_pattern=match.pattern,
        created_by=match.created_by,
        confirmed_by=match.partner,
        replaced_by=replacement or "none: the refactoring left this path creating per-deployment roles",
        replacement_exists=(replacement in inventory.role_by_name) if replacement else None,
        description=role.description,
        tags=dict(role.tags),
        attached_policies=[p.name for p in role.attached_policies],
        inline_policies=[p.name for p in role.inline_policies],
        last_used=role.last_used,
        **_consumers(role, inventory),
    )
    users = len(inventory.consumers_by_role_arn.get(role.arn, ()))
    pytest.fail(f"{role.name} is a legacy per-deployment role ({match.pattern}), used by {users} consumer(s)")


@rule(
    id="AMS-ROLE-002",
    title="No AIModelShare per-deployment policies",
    severity="medium",
    area="roles",
    scope="managed_policy",
    rationale=(
        "Each legacy per-deployment role came with its own managed policy (codebuild_policy, lambda_policy_<api_id>, "
        "myService-dev-<region>-lambdaPolicy<id>, invokelambda, <name>-codebuild-policies, <name>-lambda-policy), "
        "granting s3:*, logs:*, iam:* or lambda:InvokeFunction on every resource. Left behind, they can be attached "
        "to anything."
    ),
    remediation=(
        "Once the role it served is retired (AMS-ROLE-001), detach the policy everywhere, delete its non-default "
        "versions, and delete it."
    ),
    controls=Controls(nist=("AC-6", "CM-8"), soc2=("CC6.3",)),
    judges=lambda policy, audit: aimodelshare.classify_policy(policy.name, audit.role_names) is not None,
    unjudged="match no legacy per-deployment policy pattern",
)
def test_no_per_deployment_policies(managed_policy: ManagedPolicy, evidence: Evidence, audit: AuditContext) -> None:
    match = aimodelshare.classify_policy(managed_policy.name, audit.role_names)
    if match is None:
        return
    attached_to = list(audit.inventory.attachments.get(managed_policy.arn, ()))
    evidence.add(
        legacy_pattern=match.pattern,
        created_by=match.created_by,
        confirmed_by=match.partner,
        replaced_by=match.replaced_by or "none: the refactoring left this path in place",
        attached_to=attached_to,
    )
    pytest.fail(
        f"{managed_policy.name} is a legacy per-deployment policy ({match.pattern}), "
        f"attached to {len(attached_to)} principal(s)"
    )
