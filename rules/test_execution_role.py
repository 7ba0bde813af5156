"""The execution role the refactored library assumes (AIMODELSHARE_EXECUTION_ROLE_ARN)."""

from __future__ import annotations

import pytest

from ams_iam_audit import (
    AuditContext,
    Controls,
    Evidence,
    ExecutionRoleRef,
    allow_grants,
    narrowing,
    parse_policy,
    principal_accounts,
    rule,
)

_ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
#: Conditions that, with fixed values, limit a trusted foreign account to the principals meant.
_FOREIGN_PINS = frozenset({"sts:externalid", "aws:principalorgid", "aws:principalarn"})


def _in_account(ref: ExecutionRoleRef, audit: AuditContext) -> None:
    account = ref.arn.split(":")[4]
    if account != audit.inventory.account_id:
        raise LookupError(f"{ref.arn} is in account {account}, not the audited account {audit.inventory.account_id}")


@rule(
    id="AMS-EXEC-001",
    title="The execution role exists and trusts only named principals",
    severity="critical",
    area="execution_role",
    scope="execution_role",
    rationale=(
        "Every AIModelShare session is an AssumeRole on this role. A trust policy with a '*' principal, or one that "
        "trusts a whole foreign account without a condition that fixes who may assume it (sts:ExternalId, "
        "aws:PrincipalOrgID or aws:PrincipalArn with fixed values: not a wildcard, a negation or IfExists), hands the "
        "library's permissions to principals nobody in this account controls."
    ),
    remediation=(
        "Trust the specific users or roles that run AIModelShare (their ARNs); for another account, add a "
        "condition such as sts:ExternalId or aws:PrincipalOrgID."
    ),
    controls=Controls(nist=("AC-3", "AC-6", "IA-2"), soc2=("CC6.1",)),
)
def test_execution_role_trust(execution_role: ExecutionRoleRef, evidence: Evidence, audit: AuditContext) -> None:
    _in_account(execution_role, audit)
    role = execution_role.role
    assert role is not None, f"execution role {execution_role.arn} does not exist"
    problems = []
    set_aside: list[dict[str, object]] = []
    for statement in parse_policy(role.trust_policy, where=f"role/{role.name} trust policy").statements:
        if not statement.is_allow:
            continue
        aws = dict(statement.principal or ()).get("AWS", ())
        if statement.not_principal is not None:
            problems.append(f"statement {statement.index}: NotPrincipal (everyone but the listed)")
        if "*" in aws:
            problems.append(f"statement {statement.index}: Principal '*'")
        whole = {v for v in aws if v.isdigit() or v.endswith(":root")}
        foreign = principal_accounts(whole) - {audit.inventory.account_id}
        pin = narrowing(statement, _FOREIGN_PINS)
        if foreign and not pin.narrowed:
            problems.append(
                f"statement {statement.index}: whole account(s) {', '.join(sorted(foreign))} without a condition "
                "that fixes who (sts:ExternalId, aws:PrincipalOrgID, aws:PrincipalArn)"
            )
            set_aside.extend(pin.evidence().get("conditions_set_aside", ()))
    evidence.add(
        trust_policy=role.trust_policy, problems=problems, **({"conditions_set_aside": set_aside} if set_aside else {})
    )
    assert not problems, f"{role.name} trust policy: " + "; ".join(problems)


@rule(
    id="AMS-EXEC-002",
    title="The execution role holds no administrator access",
    severity="critical",
    area="execution_role",
    scope="execution_role",
    rationale=(
        "The execution role replaces the ephemeral users; giving it AdministratorAccess (or '*:*', or iam:* on "
        "'*') to make the migration 'just work' turns every model deployment into an administrator session."
    ),
    remediation=(
        "Detach administrator policies; grant the actions the library calls (see the shared roles' desired state)."
    ),
    controls=Controls(cis=("1.16",), nist=("AC-6", "AC-6(5)"), soc2=("CC6.3",)),
)
def test_execution_role_not_admin(execution_role: ExecutionRoleRef, evidence: Evidence, audit: AuditContext) -> None:
    _in_account(execution_role, audit)
    role = execution_role.role
    if role is None:
        pytest.skip(f"execution role {execution_role.arn} does not exist (AMS-EXEC-001)")
    inventory = audit.inventory
    admin = []
    documents = [(f"inline/{p.name}", p.document) for p in role.inline_policies]
    for attached in role.attached_policies:
        if attached.arn == _ADMIN_POLICY:
            admin.append(f"policy/{attached.name} (AWS managed AdministratorAccess)")
            continue
        policy = inventory.policy_by_arn.get(attached.arn)
        if policy is None or policy.default_document is None:
            raise LookupError(f"{attached.arn} is attached to {role.name} but its document was not collected")
        documents.append((f"policy/{attached.name}", policy.default_document))
    for label, document in documents:
        for grant in allow_grants(parse_policy(document, where=label)):
            if grant.on_every_resource and (grant.covers_everything or grant.covers_service("iam")):
                admin.append(f"{label} statement {grant.index}")
    evidence.add(
        attached_policies=[p.arn for p in role.attached_policies],
        inline_policies=[p.name for p in role.inline_policies],
        administrator_grants=admin,
    )
    assert not admin, f"{role.name} has administrator access: " + "; ".join(admin)
