"""S3 grants: every action, every bucket, and bucket-name wildcards that reach other accounts."""

from __future__ import annotations

from typing import Any

from ams_iam_audit import (
    FIXED_SOURCE_KEYS,
    ConditionEntry,
    Controls,
    Evidence,
    Grant,
    Inventory,
    Narrowing,
    PolicyRef,
    Severity,
    allow_grants,
    arn_covers,
    least_privilege_s3,
    narrowing,
    rule,
    s3_bucket_segment,
    service_actions,
)

#: Condition keys that pin a resource to an account (bucket names are global, S3 ARNs carry no
#: account: only these make "aimodelshare*" mean "our aimodelshare buckets").
_ACCOUNT_PINS = frozenset({"aws:resourceaccount", "s3:resourceaccount"})
#: Keys that pin a resource to an organisation: which organisation the audited account is in is not
#: something the audit reads, so a pin to one cannot be confirmed as a pin to this account.
_ORG_PINS = frozenset({"aws:resourceorgid", "aws:resourceorgpaths"})


def _every_bucket(resource: str, partition: str) -> bool:
    """The resource covers every bucket or every object in every bucket (``*``, ``arn:aws:s3:::*``...)."""
    return arn_covers(resource, f"arn:{partition}:s3:::*") or arn_covers(resource, f"arn:{partition}:s3:::*/*")


def _suggest(policy: PolicyRef, inventory: Inventory, evidence: Evidence) -> None:
    """The least-privilege replacement ``--fix`` would make (or, for a policy it leaves alone, that a
    person can apply), recorded with the finding."""
    rewrite = least_privilege_s3(
        policy.document,
        inventory.account_id,
        inventory.partition,
        bucket=policy.name if policy.kind == "bucket" else None,
    )
    if rewrite.document is not None:
        evidence.add(suggested_document=rewrite.document)
    else:
        evidence.add(suggested_document=None, no_suggestion=rewrite.reason)


def _public(grant: Grant) -> bool:
    """In a resource policy: anyone (``Principal: "*"`` or an Allow with ``NotPrincipal``)."""
    statement = grant.statement
    return statement.not_principal is not None or (
        statement.principal is not None and "*" in dict(statement.principal).get("AWS", ())
    )


def _restricted(grant: Grant) -> Narrowing:
    """Which of the statement's conditions certainly restrict something (any key, to fixed values)."""
    return narrowing(grant.statement, grant.statement.condition_keys)


@rule(
    id="AMS-S3-001",
    title="No wildcard S3 grants",
    severity="high",
    area="s3",
    scope="policy_document",
    rationale=(
        "The legacy library granted s3:* on every resource (Lambda and per-deployment policies) and on the user's "
        "bucket (temporary-access policies); the refactoring limits S3 to named actions on aimodelshare buckets. "
        "A grant of every S3 action includes deleting buckets, rewriting bucket policies and ACLs; S3 actions on "
        "every resource reach every bucket in the account. Actions that cannot be limited to a resource (such as "
        "s3:ListAllMyBuckets) are not counted against '*', and what a Deny in the same document removes is not "
        "counted as granted. A statement is one level less severe when a condition certainly restricts it (fixed "
        "values, no wildcard, negation, Null or IfExists); a bucket statement open to everyone is critical unless "
        "a condition fixes the source the way S3 itself requires (aws:SourceArn, aws:SourceVpce, aws:SourceIp...)."
    ),
    remediation=(
        "Replace the statement with the named actions the workload uses (s3:GetObject, s3:PutObject, "
        "s3:DeleteObject, s3:ListBucket) on the buckets it uses, pinned to the account with an aws:ResourceAccount "
        "condition."
    ),
    controls=Controls(nist=("AC-3", "AC-6"), soc2=("CC6.1", "CC6.3")),
)
def test_no_wildcard_s3_grants(policy_document: PolicyRef, evidence: Evidence, inventory: Inventory) -> None:
    partition = policy_document.arn.split(":")[1]
    every_s3_action = service_actions("s3")
    offending: list[dict[str, Any]] = []
    worst: Severity | None = None
    for grant in allow_grants(policy_document.parsed):
        s3 = grant.of_service("s3")
        if not s3:
            continue
        all_actions = every_s3_action <= s3
        all_buckets = grant.resource_is_negated or any(_every_bucket(r, partition) for r in grant.resources)
        unconstrained = grant.constrainable(s3) if all_buckets else frozenset()
        if not all_actions and not unconstrained:
            continue
        severity = Severity.HIGH if all_actions and all_buckets else Severity.MEDIUM
        public = policy_document.kind == "bucket" and _public(grant)
        # A public statement stays public unless a condition fixes the source (S3's own test); any
        # other statement is one level less severe when a condition certainly restricts something.
        answer = narrowing(grant.statement, FIXED_SOURCE_KEYS) if public else _restricted(grant)
        if public and not answer.narrowed:
            severity = Severity.CRITICAL
        elif answer.narrowed:
            severity = severity.lowered()
        worst = severity if worst is None or severity.rank < worst.rank else worst
        offending.append(
            {
                **grant.describe(s3 if all_actions else unconstrained),
                "every_s3_action": all_actions,
                "every_bucket": all_buckets,
                "public_principal": public,
                "conditional": bool(grant.statement.conditions),
                **answer.evidence(),
                "severity": severity.value,
            }
        )
    if worst is None:
        return
    evidence.severity = worst.value
    evidence.add(policy=policy_document.label, version=policy_document.version_id, statements=offending)
    _suggest(policy_document, inventory, evidence)
    what = ", ".join(
        f"statement {o['statement_index']}: "
        + ("every S3 action" if o["every_s3_action"] else f"{o['action_count']} S3 action(s)")
        + (" on every bucket" if o["every_bucket"] else "")
        for o in offending
    )
    assert not offending, f"{policy_document.label} grants wildcard S3 access ({what})"


def _account_pin(grant: Grant, account: str) -> Narrowing:
    """Whether a condition certainly keeps the statement's resources in ``account``."""

    def only_this_account(entry: ConditionEntry, value: str) -> str | None:
        if entry.key in _ORG_PINS:
            return f"{value!r} names an organization; the audit cannot confirm it is the one account {account} is in"
        return None if value == account else f"{value!r} is not the audited account {account}"

    return narrowing(grant.statement, _ACCOUNT_PINS | _ORG_PINS, only_this_account)


@rule(
    id="AMS-S3-002",
    title="Bucket-name wildcards are pinned to the account",
    severity="high",
    area="s3",
    scope="identity_policy",
    rationale=(
        "The refactored library scopes S3 to arn:aws:s3:::aimodelshare*. Bucket names are global and S3 ARNs carry "
        "no account, so that pattern also matches any other account's bucket named aimodelshare..., one an "
        "attacker can create and make writable: a path to exfiltrate models and data. Only a condition on "
        "aws:ResourceAccount or s3:ResourceAccount, with StringEquals and the audited account's id, keeps the "
        "grant inside the account: another account's id, a wildcard, a negated operator or IfExists does not, nor "
        "does an organization pin (aws:ResourceOrgID), which the audit cannot confirm is this account's organization."
    ),
    remediation=(
        'Add "Condition": {"StringEquals": {"aws:ResourceAccount": "<account id>"}} to the statement, or '
        "name the buckets exactly."
    ),
    controls=Controls(nist=("AC-4", "AC-6", "SC-7"), soc2=("CC6.1", "CC6.6")),
)
def test_bucket_wildcards_pinned_to_account(
    identity_policy: PolicyRef, evidence: Evidence, inventory: Inventory
) -> None:
    offending = []
    for grant in allow_grants(identity_policy.parsed):
        s3 = grant.constrainable(grant.of_service("s3"))
        if not s3:
            continue
        wildcards = [
            r
            for r in grant.resources
            if (bucket := s3_bucket_segment(r)) is not None and bucket != "*" and ("*" in bucket or "?" in bucket)
        ]
        if not wildcards:
            continue
        pin = _account_pin(grant, inventory.account_id)
        if not pin.narrowed:
            offending.append({**grant.describe(s3), "wildcard_resources": wildcards, **pin.evidence()})
    if offending:
        evidence.add(policy=identity_policy.label, statements=offending)
        _suggest(identity_policy, inventory, evidence)
    assert not offending, (
        f"{identity_policy.label} grants S3 on bucket-name wildcards without an account condition: "
        + "; ".join(f"statement {o['statement_index']}: {', '.join(o['wildcard_resources'])}" for o in offending)
    )
