"""The execution role the refactored library assumes (AIMODELSHARE_EXECUTION_ROLE_ARN)."""

from __future__ import annotations

import fnmatch
import re

import pytest

from ams_iam_audit import (
    AuditContext,
    ConditionEntry,
    Controls,
    Evidence,
    ExecutionRoleRef,
    Statement,
    allow_grants,
    narrowing,
    parse_policy,
    principal_accounts,
    rule,
)

_ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
#: Conditions that, with fixed values, limit a trusted foreign account to the principals meant.
_FOREIGN_PINS = frozenset({"sts:externalid", "aws:principalorgid", "aws:principalarn"})
#: The keys that say whether (and how long ago) the caller signed in with MFA.
_MFA_PRESENT = "aws:multifactorauthpresent"
_MFA_AGE = "aws:multifactorauthage"
_USER_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:user/.+")
#: The unique id IAM writes into a trust policy in place of a deleted (or renamed) user's ARN.
_USER_ID_PREFIX = "AIDA"


def _humans(trusted: tuple[str, ...], account: str) -> list[str]:
    """The trusted AWS principals that stand for people: IAM users (long-lived credentials, by ARN or
    by unique id), and the audited account itself (``:root`` or its id: any user whose identity
    policy allows it). A role, a foreign account (judged by its own check) and federated principals
    (SAML, web identity: MFA is the identity provider's to enforce) are not counted here."""
    own = {account, *(v for v in trusted if v.endswith(f":iam::{account}:root"))}
    return [v for v in trusted if _USER_ARN.fullmatch(v) or v.startswith(_USER_ID_PREFIX) or v in own]


def _assumes(statement: Statement) -> bool:
    if statement.actions is not None:
        return any(fnmatch.fnmatchcase("sts:assumerole", a) for a in statement.actions)
    return not any(fnmatch.fnmatchcase("sts:assumerole", a) for a in statement.not_actions or ())


def _requires_mfa(entry: ConditionEntry, value: str) -> str | None:
    """The value check for :func:`narrowing`: an Allow's condition requires MFA with
    ``Bool aws:MultiFactorAuthPresent true`` or a maximum ``aws:MultiFactorAuthAge``."""
    base = entry.operator.rpartition(":")[2]
    if entry.key == _MFA_PRESENT:
        requires = base == "Bool" and value.lower() == "true"
        return None if requires else f"{entry.operator} {value!r} does not require MFA"
    if base in ("NumericLessThan", "NumericLessThanEquals"):
        return None
    return f"{entry.operator} on aws:MultiFactorAuthAge sets no maximum age"


def _denies_without_mfa(statement: Statement, humans: list[str]) -> bool:
    """A Deny of ``sts:AssumeRole`` to these principals (or to ``*``) whose condition matches every
    request made without MFA: ``BoolIfExists aws:MultiFactorAuthPresent false`` and nothing else.
    A plain ``Bool ... false`` does not count: a call with long-term access keys carries no
    ``aws:MultiFactorAuthPresent`` at all, and ``Bool`` does not match a missing key (AWS's guidance
    for Deny statements on this key)."""
    if statement.is_allow or statement.not_principal is not None or not _assumes(statement):
        return False
    denied = dict(statement.principal or ()).get("AWS", ())
    if "*" not in denied and not set(humans) <= set(denied):
        return False
    entries = [(op, key, values) for op, block in statement.conditions for key, values in block]
    if not entries:
        return True
    return all(
        op == "BoolIfExists" and key == _MFA_PRESENT and [v.lower() for v in values] == ["false"]
        for op, key, values in entries
    )


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
        "library's permissions to principals nobody in this account controls. A person (an IAM user, or the "
        "account itself, through which any user may assume it) trusted without an MFA condition turns one leaked "
        "access key into the library's permissions: the guide's own step-1 trust (a user, no condition) does that."
    ),
    remediation=(
        "Trust the specific users or roles that run AIModelShare (their ARNs); for people, require MFA "
        "(Bool aws:MultiFactorAuthPresent true, or NumericLessThan aws:MultiFactorAuthAge); for another account, add "
        "a condition such as sts:ExternalId or aws:PrincipalOrgID. `--fix --fix-execution-role-trust ARN` creates "
        "the role with such a trust when it is missing."
    ),
    controls=Controls(nist=("AC-3", "AC-6", "IA-2"), soc2=("CC6.1",)),
)
def test_execution_role_trust(execution_role: ExecutionRoleRef, evidence: Evidence, audit: AuditContext) -> None:
    _in_account(execution_role, audit)
    evidence.add(**execution_role.describe())
    role = execution_role.role
    assert role is not None, f"execution role {execution_role.arn} does not exist"
    problems = []
    set_aside: list[dict[str, object]] = []
    statements = parse_policy(role.trust_policy, where=f"role/{role.name} trust policy").statements
    for statement in statements:
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
        humans = _humans(tuple(aws), audit.inventory.account_id) if _assumes(statement) else []
        mfa = narrowing(statement, {_MFA_PRESENT, _MFA_AGE}, _requires_mfa, scalar=True)
        if humans and not mfa.narrowed and not any(_denies_without_mfa(s, humans) for s in statements):
            problems.append(
                f"statement {statement.index}: {', '.join(humans)} (people, with long-lived credentials) may assume "
                "it without MFA (no aws:MultiFactorAuthPresent Bool true or aws:MultiFactorAuthAge NumericLessThan "
                "condition, nor a Deny with BoolIfExists aws:MultiFactorAuthPresent false)"
            )
            set_aside.extend(mfa.evidence().get("conditions_set_aside", ()))
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
    evidence.add(**execution_role.describe())
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
