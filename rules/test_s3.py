"""S3: wildcard grants (AMS-S3-001), bucket-name wildcards that reach other accounts (AMS-S3-002), and
buckets open to anyone (AMS-S3-003).

Who judges what: AMS-S3-001 judges *documents* (identity and bucket policies) for the breadth of their S3
grants, a public wildcard statement among them; AMS-S3-003 judges each *bucket* for exposure to anyone,
whatever the actions (a public ``s3:GetObject`` is a finding there and not in AMS-S3-001), and for the
public access block that guards it. Both decide "public" with the same two helpers below.
"""

from __future__ import annotations

from typing import Any

import pytest

from ams_iam_audit import (
    FIXED_SOURCE_KEYS,
    Bucket,
    ConditionEntry,
    Controls,
    Evidence,
    Grant,
    Inventory,
    Narrowing,
    PolicyRef,
    Severity,
    action_info,
    allow_grants,
    arn_covers,
    least_privilege_s3,
    narrowing,
    parse_policy,
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


def _configuration_read(action: str) -> bool:
    """A read of a bucket's (or access point's) configuration (its policy, location, public access
    block, versioning...): Read-level, granted on bucket or access point resources only, so it reaches
    no object. Auditors and the tool itself need these on every bucket; object reads and listings
    (``s3:GetObject``, ``s3:ListBucket``) are not configuration reads."""
    info = action_info(action)
    return (
        info is not None
        and info.access_level == "Read"
        and bool(info.resource_types)
        and info.resource_types <= {"bucket", "accesspoint"}
    )


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


def _source_fixed(grant: Grant) -> Narrowing:
    """Whether a condition fixes the source of a public statement the way S3 itself requires for the
    statement not to be public (``FIXED_SOURCE_KEYS``, each to fixed values)."""
    return narrowing(grant.statement, FIXED_SOURCE_KEYS)


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
        "s3:ListAllMyBuckets) are not counted against '*', nor are reads of a bucket's configuration (its policy, "
        "location, public access block...: Read-level actions on buckets, which reach no object) outside a public "
        "bucket statement; what a Deny in the same document removes is not counted as granted. A statement is "
        "one level less severe when a condition certainly restricts it (fixed values, no wildcard, negation, Null "
        "or IfExists); a bucket statement open to everyone is critical unless "
        "a condition fixes the source the way S3 itself requires (aws:SourceArn, aws:SourceVpce, aws:SourceIp...)."
    ),
    remediation=(
        "Replace the statement with the named actions the workload uses (s3:GetObject, s3:PutObject, "
        "s3:DeleteObject, s3:ListBucket) on the buckets it uses, pinned to the account with an aws:ResourceAccount "
        "condition."
    ),
    controls=Controls(nist=("AC-3", "AC-6"), soc2=("CC6.1", "CC6.3")),
    judges=lambda document, _audit: document.may_allow(("s3",)),
    unjudged="cannot allow an S3 action",
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
        public = policy_document.kind == "bucket" and _public(grant)
        if not all_actions and not public:
            # reading every bucket's configuration is what an audit does; it reaches no data
            configuration = frozenset(a for a in unconstrained if _configuration_read(a))
            if configuration:
                evidence.add(configuration_reads_set_aside=sorted(configuration))
                unconstrained -= configuration
        if not all_actions and not unconstrained:
            continue
        severity = Severity.HIGH if all_actions and all_buckets else Severity.MEDIUM
        # A public statement stays public unless a condition fixes the source (S3's own test); any
        # other statement is one level less severe when a condition certainly restricts something.
        answer = _source_fixed(grant) if public else _restricted(grant)
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
    judges=lambda document, _audit: document.may_allow(("s3",)),
    unjudged="cannot allow an S3 action",
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


#: The four settings of an S3 public access block; each applies when the bucket's or the account's is on.
PUBLIC_ACCESS_BLOCK_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@rule(
    id="AMS-S3-003",
    title="Buckets are not public and are guarded by a public access block",
    severity="critical",
    area="s3",
    scope="bucket",
    rationale=(
        "The legacy library's buckets hold users' models and data and predate S3's default public access block "
        '(April 2023). A bucket is public when its policy has an Allow to everyone (Principal "*" or AWS "*", or '
        "NotPrincipal) that no condition fixes to a source the way S3 itself requires (aws:SourceArn, "
        "aws:SourceVpce, aws:SourceIp, aws:PrincipalOrgID... to fixed values), after the same document's Denies; "
        "that is critical unless RestrictPublicBuckets is on for the bucket or the account, which makes S3 ignore "
        "such statements. Whether or not its policy is public today, a bucket is guarded only when all four "
        "settings (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets) are on, at the "
        "bucket or at the account level (each setting applies when either is on); a missing setting is a medium "
        "finding (high when a neutralised public statement is waiting behind it). ACLs are not read: "
        "IgnorePublicAcls is what makes them harmless. AMS-S3-001 judges the breadth of grants in the same "
        "policies; this rule judges exposure to anyone."
    ),
    remediation=(
        "Turn on all four settings for the account (aws s3control put-public-access-block --account-id <id> "
        "--public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,"
        "RestrictPublicBuckets=true) or for the bucket (aws s3api put-public-access-block). Replace a statement "
        "open to everyone with the principals that need access (the refactored library's roles), or fix its source "
        "with a condition; serve public content through CloudFront with origin access control instead."
    ),
    controls=Controls(cis=("2.1.4",), nist=("AC-3", "AC-21", "SC-7"), soc2=("CC6.1", "CC6.6")),
)
def test_buckets_not_public(bucket: Bucket, evidence: Evidence, inventory: Inventory) -> None:
    account = inventory.account_public_access_block or {}
    own = bucket.public_access_block or {}
    effective = {
        setting: "bucket" if own.get(setting) is True else "account" if account.get(setting) is True else None
        for setting in PUBLIC_ACCESS_BLOCK_SETTINGS
    }
    missing = [setting for setting, where in effective.items() if where is None]
    public: list[dict[str, Any]] = []
    if bucket.policy is not None:
        for grant in allow_grants(parse_policy(bucket.policy, where=f"bucket/{bucket.name}")):
            if not grant.actions or not _public(grant):
                continue
            answer = _source_fixed(grant)
            if not answer.narrowed:
                public.append({**grant.describe(), **answer.evidence()})
    exposed = bool(public) and effective["RestrictPublicBuckets"] is None
    evidence.add(
        public_access_block={s: effective[s] or "off" for s in PUBLIC_ACCESS_BLOCK_SETTINGS},
        bucket_block=dict(own) if bucket.public_access_block is not None else None,
        account_block=dict(account) if inventory.account_public_access_block is not None else None,
        public_statements=public,
        public_policy_neutralised=bool(public) and not exposed,
    )
    if not exposed and not missing:
        return
    evidence.severity = (Severity.CRITICAL if exposed else Severity.HIGH if public else Severity.MEDIUM).value
    problems = []
    if public:
        which = ", ".join(str(p["statement_index"]) for p in public)
        problems.append(
            f"its policy allows everyone (statement {which})"
            + ("" if exposed else ", neutralised today by RestrictPublicBuckets")
        )
    if missing:
        problems.append(f"no public access block setting {', '.join(missing)} at bucket or account level")
    pytest.fail(f"bucket {bucket.name}: " + "; ".join(problems))
