"""Managed policies the legacy library created for its ephemeral users."""

from __future__ import annotations

import pytest

from ams_iam_audit import Controls, Evidence, Inventory, ManagedPolicy, aimodelshare, rule


@rule(
    id="AMS-POLICY-001",
    title="No AIModelShare temporary-access policies",
    severity="high",
    area="policies",
    scope="managed_policy",
    rationale=(
        "temporaryaccessAImodelsharePolicy<hex> was created for each ephemeral user on every run and grants "
        "lambda:* and apigateway:* on every resource, plus iam:CreateRole, iam:PutRolePolicy and iam:PassRole on "
        "every role: a path to administrator. Orphaned copies can be re-attached by anyone allowed to attach "
        "policies."
    ),
    remediation=(
        "Detach the policy from every user, group and role (remove the ephemeral users first, see AMS-USER-001), "
        "delete its non-default versions, then delete it."
    ),
    controls=Controls(cis=("1.15",), nist=("AC-6", "CM-8"), soc2=("CC6.3",)),
    judges=lambda policy, _audit: aimodelshare.is_ephemeral_policy(policy.name),
    unjudged="are not named temporaryaccessAImodelsharePolicy<hex>",
)
def test_no_temporary_access_policies(managed_policy: ManagedPolicy, evidence: Evidence, inventory: Inventory) -> None:
    if not aimodelshare.is_ephemeral_policy(managed_policy.name):
        return
    attached_to = list(inventory.attachments.get(managed_policy.arn, ()))
    evidence.add(
        attached_to=attached_to,
        attachment_count=managed_policy.attachment_count,
        versions=[v.version_id for v in managed_policy.versions],
        default_version=managed_policy.default_version_id,
    )
    state = f"attached to {len(attached_to)} principal(s)" if attached_to else "orphaned (attached to nothing)"
    pytest.fail(f"{managed_policy.name} is a legacy AIModelShare temporary-access policy, {state}")
