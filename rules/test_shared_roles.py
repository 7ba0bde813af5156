"""The refactored library's four shared roles, against the desired state shipped with ams-iam-audit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from ams_iam_audit import (
    AuditContext,
    Controls,
    Evidence,
    SharedRoleState,
    allow_grants,
    display_name,
    parse_policy,
    policy_hash,
    rule,
)


def trusted_principals(trust: object) -> set[tuple[str, str]]:
    """(kind, principal) pairs an Allow in a trust policy lets assume the role."""
    out: set[tuple[str, str]] = set()
    for statement in parse_policy(trust, where="trust policy").statements:  # type: ignore[arg-type]
        if not statement.is_allow:
            continue
        if statement.not_principal is not None:
            out.add(("NotPrincipal", "everyone but the listed"))
        for kind, ids in statement.principal or ():
            out.update((kind, i) for i in ids)
    return out


@rule(
    id="AMS-SHARED-001",
    title="Shared roles exist and trust exactly their service",
    severity="medium",
    area="shared_roles",
    scope="shared_role",
    rationale=(
        "The refactoring replaces per-deployment roles with four shared roles. Until each exists, the library "
        "falls back to creating legacy roles; a shared role that trusts more than its service (another principal, "
        "an account, '*') can be assumed by whoever that is, with every deployment's permissions."
    ),
    remediation=(
        "Create the role with the trust policy shipped in ams-iam-audit's desired state (ensure_role), or replace "
        "its trust policy with it."
    ),
    controls=Controls(nist=("AC-3", "CM-2", "CM-6"), soc2=("CC6.1", "CC8.1")),
)
def test_shared_role_trust(shared_role: SharedRoleState, evidence: Evidence) -> None:
    spec, role = shared_role.spec, shared_role.role
    expected = {("Service", s) for s in spec.trusted_services}
    evidence.add(expected_principals=sorted(f"{k}: {v}" for k, v in expected))
    assert role is not None, f"shared role {spec.role_name} does not exist"
    actual = trusted_principals(role.trust_policy)
    evidence.add(actual_principals=sorted(f"{k}: {v}" for k, v in actual), trust_policy=role.trust_policy)
    extra, missing = actual - expected, expected - actual
    assert not extra, f"{spec.role_name} also trusts " + ", ".join(sorted(f"{k} {v}" for k, v in extra))
    assert not missing, f"{spec.role_name} does not trust " + ", ".join(sorted(f"{k} {v}" for k, v in missing))


def _canonical_statements(document: object) -> set[str]:
    return {json.dumps(s.canonical(), sort_keys=True) for s in parse_policy(document).statements}  # type: ignore[arg-type]


@rule(
    id="AMS-SHARED-002",
    title="Shared roles hold their least-privilege policy",
    severity="high",
    area="shared_roles",
    scope="shared_role",
    rationale=(
        "Each shared role carries every deployment's permissions, so its policy is the one document that decides "
        "what AIModelShare can do. The desired state shipped with ams-iam-audit is the refactored library's policy "
        "tightened until it passes every rule here; the refactored documents themselves keep iam:*, "
        "cloudformation:*, lambda:*, ecr:* and logs:* on '*' and S3 wildcards not pinned to the account. "
        "Compared semantically: order, shape and Sids do not matter."
    ),
    remediation=(
        "Make the desired document the policy's default version (ensure_managed_policy) and attach it to the role "
        "(attach_managed_policy_to_role)."
    ),
    controls=Controls(nist=("AC-6", "CM-2", "CM-6"), soc2=("CC6.3", "CC8.1")),
)
def test_shared_role_policy(shared_role: SharedRoleState, evidence: Evidence, audit: AuditContext) -> None:
    spec, role = shared_role.spec, shared_role.role
    if role is None:
        pytest.skip(f"{spec.role_name} does not exist (AMS-SHARED-001)")
    inventory = audit.inventory
    desired = spec.policy_for(inventory.account_id)
    attached = [inventory.policy_by_arn.get(p.arn) for p in role.attached_policies if p.name == spec.policy_name]
    policy = attached[0] if attached else None
    assert policy is not None, f"{spec.policy_name} is not attached to {spec.role_name}"
    actual = policy.default_document
    assert actual is not None, f"{spec.policy_name} has no readable default version"
    evidence.add(
        policy_arn=policy.arn,
        default_version=policy.default_version_id,
        desired_sha256=policy_hash(desired),
        actual_sha256=policy_hash(actual),
    )
    if policy_hash(actual) == policy_hash(desired):
        return
    extra = sorted(_canonical_statements(actual) - _canonical_statements(desired))
    missing = sorted(_canonical_statements(desired) - _canonical_statements(actual))
    evidence.add(
        statements_not_in_desired_state=[json.loads(s) for s in extra],
        desired_statements_missing=[json.loads(s) for s in missing],
        desired_policy=desired,
    )
    pytest.fail(
        f"{spec.policy_name} differs from the desired state: {len(extra)} statement(s) beyond it, "
        f"{len(missing)} missing"
    )


@rule(
    id="AMS-SHARED-003",
    title="Shared roles hold nothing broader than their policy",
    severity="high",
    area="shared_roles",
    scope="shared_role",
    rationale=(
        "A second policy attached to a shared role (or put inline in it) adds to what every deployment can do; "
        "the least-privilege policy means nothing if something broader sits beside it."
    ),
    remediation="Detach the extra managed policies and delete the extra inline policies from the shared role.",
    controls=Controls(nist=("AC-6", "CM-6"), soc2=("CC6.3",)),
)
def test_shared_role_nothing_broader(shared_role: SharedRoleState, evidence: Evidence, audit: AuditContext) -> None:
    spec, role = shared_role.spec, shared_role.role
    if role is None:
        pytest.skip(f"{spec.role_name} does not exist (AMS-SHARED-001)")
    inventory = audit.inventory
    allowed = frozenset().union(*(g.actions for g in allow_grants(parse_policy(spec.policy_for(inventory.account_id)))))
    extra: list[dict[str, object]] = []
    documents: list[tuple[str, Mapping[str, Any]]] = []
    for attached in role.attached_policies:
        if attached.name == spec.policy_name:
            continue
        policy = inventory.policy_by_arn.get(attached.arn)
        if policy is None or policy.default_document is None:
            raise LookupError(f"{attached.arn} is attached to {spec.role_name} but its document was not collected")
        documents.append((f"policy/{attached.name}", policy.default_document))
    documents += [(f"inline/{p.name}", p.document) for p in role.inline_policies]
    for label, document in documents:
        beyond = frozenset().union(*(g.actions for g in allow_grants(parse_policy(document, where=label)))) - allowed
        if beyond:
            extra.append(
                {
                    "policy": label,
                    "actions_beyond_desired": [display_name(a) for a in sorted(beyond)[:40]],
                    "count": len(beyond),
                }
            )
    if extra:
        evidence.add(extra_policies=extra)
    assert not extra, f"{spec.role_name} holds more than {spec.policy_name}: " + ", ".join(
        f"{e['policy']} (+{e['count']} action(s))" for e in extra
    )


@rule(
    id="AMS-SHARED-004",
    title="Shared roles carry the desired state as their permissions boundary",
    severity="medium",
    area="shared_roles",
    scope="shared_role",
    rationale=(
        "The refactored library calls ensure_managed_policy with its own, broader documents on every deployment, so "
        "a shared policy tightened to the desired state is widened again by the next deploy. Its ensure_role never "
        "touches a permissions boundary: a boundary holding the desired state keeps the role's effective "
        "permissions there whatever its own policy becomes. --fix manages it (<role>-boundary under the "
        "/ams-iam-audit/ path), so a shared role without it is a finding."
    ),
    remediation=(
        "Create the customer managed policy <role>-boundary under the path /ams-iam-audit/ holding the desired "
        "policy and set it as the role's permissions boundary (PutRolePermissionsBoundary); --fix does both."
    ),
    controls=Controls(nist=("AC-6", "CM-2", "CM-3"), soc2=("CC6.3", "CC8.1")),
)
def test_shared_role_boundary(shared_role: SharedRoleState, evidence: Evidence, audit: AuditContext) -> None:
    spec, role = shared_role.spec, shared_role.role
    if role is None:
        pytest.skip(f"{spec.role_name} does not exist (AMS-SHARED-001)")
    inventory = audit.inventory
    expected = spec.boundary_arn(inventory.partition, inventory.account_id)
    evidence.add(expected_boundary=expected, actual_boundary=role.permissions_boundary)
    assert role.permissions_boundary is not None, (
        f"{spec.role_name} has no permissions boundary: the next deployment's ensure_managed_policy can widen it again"
    )
    assert role.permissions_boundary == expected, (
        f"{spec.role_name}'s permissions boundary is {role.permissions_boundary}, not the desired state's {expected}"
    )
    boundary = inventory.policy_by_arn.get(expected)
    if boundary is None or boundary.default_document is None:
        raise LookupError(f"{expected} is {spec.role_name}'s permissions boundary but its document was not collected")
    desired = spec.policy_for(inventory.account_id)
    evidence.add(desired_sha256=policy_hash(desired), boundary_sha256=policy_hash(boundary.default_document))
    assert policy_hash(boundary.default_document) == policy_hash(desired), (
        f"{spec.boundary_name} no longer holds the desired state (version {boundary.default_version_id})"
    )


def _version_number(version_id: str) -> int:
    """IAM numbers a policy's versions v1, v2, ... in the order they were created."""
    digits = version_id.lstrip("vV")
    return int(digits) if digits.isdigit() else -1


@rule(
    id="AMS-SHARED-005",
    title="Shared policies not widened again after ams-iam-audit tightened them",
    severity="high",
    area="shared_roles",
    scope="shared_role",
    rationale=(
        "A version of a shared policy identical to the desired state was written by ams-iam-audit (the library "
        "never writes it). A later version with statements beyond it is the library's ensure_managed_policy "
        "widening the policy again at a deployment: the tightening did not last. Judged when the version in force "
        "is wider than the desired state and a desired-state version precedes it; the version history "
        "(GetAccountAuthorizationDetails returns every version with its creation date; IAM does not record when a "
        "version became the default) shows when."
    ),
    remediation=(
        "Run --fix: it makes the desired document the default version again and sets the desired-state permissions "
        "boundary (AMS-SHARED-004), which keeps the role's effective permissions whatever later deployments write. "
        "Change the library's deployment to stop passing its broader documents."
    ),
    controls=Controls(nist=("AC-6", "CM-3", "CM-6"), soc2=("CC6.3", "CC8.1")),
)
def test_shared_policy_not_widened_again(shared_role: SharedRoleState, evidence: Evidence, audit: AuditContext) -> None:
    spec = shared_role.spec
    inventory = audit.inventory
    arn = f"arn:{inventory.partition}:iam::{inventory.account_id}:policy/{spec.policy_name}"
    policy = inventory.policy_by_arn.get(arn)
    if policy is None:
        pytest.skip(f"{spec.policy_name} does not exist (AMS-SHARED-002)")
    desired = spec.policy_for(inventory.account_id)
    wanted = _canonical_statements(desired)
    versions = sorted(policy.versions, key=lambda v: _version_number(v.version_id))
    evidence.add(policy_arn=arn, versions=[v.version_id for v in versions], default_version=policy.default_version_id)
    default = next((i for i, v in enumerate(versions) if v.version_id == policy.default_version_id), None)
    if default is None or policy_hash(versions[default].document) == policy_hash(desired):
        return  # the desired state is in force (again), whatever the history holds
    tightened = [i for i, v in enumerate(versions[:default]) if policy_hash(v.document) == policy_hash(desired)]
    if not tightened or not _canonical_statements(versions[default].document) - wanted:
        return  # never tightened before the version in force, or that version is no wider
    fix = versions[tightened[-1]]
    wider = [v for v in versions[tightened[-1] + 1 : default + 1] if _canonical_statements(v.document) - wanted]
    widening = wider[0]
    role = shared_role.role
    boundary = spec.boundary_arn(inventory.partition, inventory.account_id)
    bounded = role is not None and role.permissions_boundary == boundary
    when = f"{widening.created:%Y-%m-%d %H:%M:%S} UTC" if widening.created else "an unknown date"
    fixed = f"{fix.created:%Y-%m-%d %H:%M:%S} UTC" if fix.created else "an unknown date"
    explanation = (
        f"{spec.policy_name} was widened again by a deployment at {when} (version {widening.version_id}) after "
        f"ams-iam-audit tightened it at {fixed} (version {fix.version_id}); "
        + (
            f"the boundary {boundary} keeps {spec.role_name}'s effective permissions at the desired state"
            if bounded
            else f"{spec.role_name} has no desired-state boundary, so it holds the wider permissions: run --fix to "
            "set it (AMS-SHARED-004)"
        )
    )
    extra = sorted(_canonical_statements(widening.document) - wanted)
    evidence.add(
        explanation=explanation,
        tightened_version=fix.version_id,
        tightened_at=fix.created,
        widened_version=widening.version_id,
        widened_at=widening.created,
        statements_beyond_desired=[json.loads(s) for s in extra],
        boundary_in_place=bounded,
    )
    pytest.fail(explanation)
