"""S3 grants: every action, every bucket, and bucket-name wildcards that reach other accounts."""

from __future__ import annotations

from typing import Any

from ams_iam_audit import (
    Controls,
    Evidence,
    Grant,
    Inventory,
    PolicyRef,
    Severity,
    allow_grants,
    arn_covers,
    least_privilege_s3,
    rule,
    s3_bucket_segment,
    service_actions,
)

#: Condition keys that pin a resource to an account or organisation (bucket names are global, S3
#: ARNs carry no account: only these make "aimodelshare*" mean "our aimodelshare buckets").
_ACCOUNT_PINS = frozenset({"aws:resourceaccount", "s3:resourceaccount", "aws:resourceorgid", "aws:resourceorgpaths"})
#: Operators that require the key to match (IfExists variants pass when the key is absent; Not* invert).
_PINNING_OPERATORS = frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike"})


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
        "counted as granted."
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
        if policy_document.kind == "bucket" and _public(grant) and not grant.statement.conditions:
            severity = Severity.CRITICAL
        elif grant.statement.conditions:
            severity = severity.lowered()
        worst = severity if worst is None or severity.rank < worst.rank else worst
        offending.append(
            {
                **grant.describe(s3 if all_actions else unconstrained),
                "every_s3_action": all_actions,
                "every_bucket": all_buckets,
                "public_principal": policy_document.kind == "bucket" and _public(grant),
                "conditional": bool(grant.statement.conditions),
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


def _pins_account(grant: Grant) -> bool:
    for operator, block in grant.statement.conditions:
        base = operator.split(":")[-1]
        if base not in _PINNING_OPERATORS:
            continue
        for key, values in block:
            if key in _ACCOUNT_PINS and values and all(v.strip("*?") for v in values):
                return True
    return False


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
        "aws:ResourceAccount (or s3:ResourceAccount, aws:ResourceOrgID, aws:ResourceOrgPaths) keeps the grant "
        "inside the account."
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
        if wildcards and not _pins_account(grant):
            offending.append({**grant.describe(s3), "wildcard_resources": wildcards})
    if offending:
        evidence.add(policy=identity_policy.label, statements=offending)
        _suggest(identity_policy, inventory, evidence)
    assert not offending, (
        f"{identity_policy.label} grants S3 on bucket-name wildcards without an account condition: "
        + "; ".join(f"statement {o['statement_index']}: {', '.join(o['wildcard_resources'])}" for o in offending)
    )
