"""Every verdict of the S3 and privilege rules, pinned case by case by calling the rule functions directly
(as the plugin does, with a ``PolicyRef``, an ``Evidence`` and the inventory or audit context): fast
enough to judge every mutant of the rules. ``test_rule_s3.py`` and ``test_rule_roles_privilege.py``
drive the same classes end to end through a moto server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rule_functions import RULES, judge, load_rules

from ams_iam_audit import AuditContext, Evidence, Inventory, PolicyRef
from ams_iam_audit.policy import display_name

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/reader"
INVENTORY = Inventory(
    account_id=ACCOUNT,
    partition="aws",
    collected_at=datetime(2026, 1, 1, tzinfo=UTC),
    caller_arn=None,
    regions=("us-east-1",),
    sections=(),
)
AUDIT = AuditContext(inventory=INVENTORY)
WILDCARD = ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"]
PINNED = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


@pytest.fixture(autouse=True, scope="module")
def _rule_modules(pytestconfig: pytest.Config) -> None:
    load_rules(pytestconfig)


def policy(*statements: dict[str, Any], kind: str = "managed", name: str = "p") -> PolicyRef:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    if kind == "bucket":
        return PolicyRef(kind="bucket", name=name, arn=f"arn:aws:s3:::{name}", holder=None, document=document)
    if kind == "inline":
        return PolicyRef(kind="inline", name=name, arn=ROLE, holder="role/reader", document=document)
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    return PolicyRef(kind="managed", name=name, arn=arn, holder=None, document=document)


def s3_001(ref: PolicyRef) -> tuple[str, Evidence, str]:
    return judge(lambda e: RULES["s3"].test_no_wildcard_s3_grants(ref, e, INVENTORY))


def s3_002(ref: PolicyRef) -> tuple[str, Evidence, str]:
    return judge(lambda e: RULES["s3"].test_bucket_wildcards_pinned_to_account(ref, e, INVENTORY))


def priv_001(ref: PolicyRef) -> tuple[str, Evidence, str]:
    return judge(lambda e: RULES["privilege"].test_no_administrator_access(ref, e))


def priv_002(ref: PolicyRef) -> tuple[str, Evidence, str]:
    return judge(lambda e: RULES["privilege"].test_no_privilege_escalation(ref, e, AUDIT))


def priv_003(ref: PolicyRef) -> tuple[str, Evidence, str]:
    return judge(lambda e: RULES["privilege"].test_no_service_wide_wildcards(ref, e))


# AMS-S3-001: wildcard S3 grants, and the severity each earns

NAMED = ["arn:aws:s3:::team", "arn:aws:s3:::team/*"]


@pytest.mark.parametrize(
    ("case", "statements", "severity"),
    [
        ("s3-star-on-star", [allow("s3:*")], "high"),
        ("every-action-of-every-service", [allow("*:*")], "high"),
        ("question-mark-service", [allow("?3:*")], "high"),
        ("service-glob", [allow("s*:*")], "high"),
        ("not-action-equivalent", [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "high"),
        ("s3-star-on-not-resource", [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x/*"}], "high"),
        ("put-glob-on-star", [allow("s3:Put*")], "medium"),
        ("s3-star-on-named-bucket", [allow("s3:*", NAMED)], "medium"),
        ("get-on-every-object", [allow("s3:GetObject", "arn:aws:s3:::*/*")], "medium"),
        ("get-on-every-bucket", [allow("s3:ListBucket", "arn:aws:s3:::*")], "medium"),
        ("s3-arn-with-star-service", [allow("s3:GetObject", "arn:aws:*:::*")], "medium"),
        ("mixed-resource-list-still-every-bucket", [allow("s3:GetObject", ["arn:aws:s3:::team/*", "*"])], "medium"),
        ("every-bucket-listed-second", [allow("s3:GetObject", ["arn:aws:s3:::team/*", "arn:aws:s3:::*/*"])], "medium"),
        ("not-resource", [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"}], "medium"),
        ("conditional-lowers-high", [allow("s3:*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})], "medium"),
        (
            "conditional-deny-removes-nothing",
            [allow("s3:*"), deny("s3:*", Condition={"Bool": {"x:y": "false"}})],
            "high",
        ),
        ("deny-on-one-bucket-removes-nothing", [allow("s3:*"), deny("s3:*", "arn:aws:s3:::one")], "high"),
        ("deny-to-a-principal-in-identity-policy", [allow("s3:*"), deny("iam:*")], "high"),
    ],
)
def test_s3_001_fails(case: str, statements: list[dict[str, Any]], severity: str) -> None:
    outcome, evidence, message = s3_001(policy(*statements))
    assert outcome == "fail", case
    assert evidence.severity == severity, case
    assert "policy/p grants wildcard S3 access" in message
    assert evidence.items["policy"] == "policy/p"
    assert "suggested_document" in evidence.items


@pytest.mark.parametrize(
    ("case", "statements"),
    [
        ("list-all-my-buckets-only", [allow("s3:ListAllMyBuckets")]),
        ("named-actions-named-bucket", [allow(["s3:GetObject", "s3:PutObject"], NAMED)]),
        ("named-actions-bucket-glob", [allow("s3:GetObject", "arn:aws:s3:::team-*/*")]),
        ("deny-overrides-allow", [allow("s3:*"), deny("s3:*")]),
        ("deny-with-question-mark-service", [allow("s3:*"), deny("?3:*")]),
        ("deny-every-action", [allow("s3:*"), deny("*:*")]),
        ("deny-on-every-bucket", [allow("s3:GetObject", "arn:aws:s3:::*/*"), deny("s3:*", "arn:aws:s3:::*")]),
        (
            "deny-on-star-cancels-not-resource",
            [{"Effect": "Allow", "Action": "s3:*", "NotResource": "x"}, deny("s3:*")],
        ),
        ("not-s3", [allow("ec2:Describe*")]),
        ("deny-only", [deny("s3:*")]),
        ("other-service-arn", [allow("s3:GetObject", "arn:aws:sqs:*:*:*")]),
    ],
)
def test_s3_001_passes(case: str, statements: list[dict[str, Any]]) -> None:
    outcome, evidence, message = s3_001(policy(*statements))
    assert outcome == "pass", (case, message)
    assert evidence.items == {}, case
    assert evidence.severity is None, case


AUDIT_READS = ["s3:GetBucketPolicy", "s3:GetBucketLocation", "s3:GetBucketPublicAccessBlock", "s3:GetBucketAcl"]


def test_s3_001_sets_aside_reads_of_bucket_configuration_on_every_bucket() -> None:
    """What an auditor (and this tool) reads on every bucket reaches no object: set aside, and said so."""
    outcome, evidence, message = s3_001(policy(allow(AUDIT_READS)))
    assert outcome == "pass", message
    assert evidence.items["configuration_reads_set_aside"] == sorted(a.lower() for a in AUDIT_READS)


@pytest.mark.parametrize(
    ("case", "actions", "counted"),
    [
        # an object read or a listing beside them is still counted, and only it
        ("object-read-beside", [*AUDIT_READS, "s3:GetObject"], ["s3:GetObject"]),
        ("listing-beside", [*AUDIT_READS, "s3:ListBucket"], ["s3:ListBucket"]),
        # a partial wildcard covers object reads too
        ("get-glob", ["s3:Get*"], None),
        ("bucket-glob-with-put", ["s3:GetBucket*", "s3:PutBucketPolicy"], ["s3:PutBucketPolicy"]),
    ],
)
def test_s3_001_counts_what_is_not_a_configuration_read(
    case: str, actions: list[str], counted: list[str] | None
) -> None:
    outcome, evidence, _ = s3_001(policy(allow(actions)))
    assert outcome == "fail", case
    (statement,) = evidence.items["statements"]
    names = {a.lower() for a in statement["actions"]}
    assert not names & {a.lower() for a in AUDIT_READS}, case
    if counted is not None:
        assert names == {a.lower() for a in counted}, case


def test_s3_001_public_bucket_statement_counts_configuration_reads() -> None:
    """Everyone reading a bucket's policy is S3-001's (and S3-003's) business: nothing is set aside."""
    outcome, evidence, _ = s3_001(policy({**allow(AUDIT_READS, "*"), "Principal": "*"}, kind="bucket", name="b"))
    assert outcome == "fail"
    assert evidence.severity == "critical"
    assert "configuration_reads_set_aside" not in evidence.items


def test_s3_001_the_worst_statement_decides_the_severity() -> None:
    medium = allow("s3:GetObject", "arn:aws:s3:::*/*")
    high = allow("s3:*")
    low = allow("s3:Put*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})
    for statements in ([medium, high, low], [high, medium, low], [low, medium, high], [low, high]):
        _, evidence, _ = s3_001(policy(*statements))
        assert evidence.severity == "high", statements
    _, evidence, _ = s3_001(policy(low, medium))
    assert evidence.severity == "medium"
    assert [s["severity"] for s in evidence.items["statements"]] == ["low", "medium"]


PUBLIC = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}


def bucket_statement(**principal: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*", **principal}


@pytest.mark.parametrize(
    ("case", "statements", "severity", "public"),
    [
        ("principal-star", [PUBLIC], "critical", [True]),
        ("aws-star", [bucket_statement(Principal={"AWS": "*"})], "critical", [True]),
        ("aws-star-among-others", [bucket_statement(Principal={"AWS": [ROLE, "*"]})], "critical", [True]),
        ("not-principal", [bucket_statement(NotPrincipal={"AWS": ROLE})], "critical", [True]),
        ("one-role", [bucket_statement(Principal={"AWS": ROLE})], "medium", [False]),
        ("a-service", [bucket_statement(Principal={"Service": "logs.amazonaws.com"})], "medium", [False]),
        (
            "public-but-conditional",
            [{**PUBLIC, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}],
            "low",
            [True],
        ),
        ("role-then-public", [bucket_statement(Principal={"AWS": ROLE}), PUBLIC], "critical", [False, True]),
        ("public-then-role", [PUBLIC, bucket_statement(Principal={"AWS": ROLE})], "critical", [True, False]),
        ("deny-to-one-role-leaves-public", [PUBLIC, {**deny("s3:*"), "Principal": {"AWS": ROLE}}], "critical", [True]),
        (
            "deny-not-principal-leaves-public",
            [PUBLIC, {**deny("s3:*"), "NotPrincipal": {"AWS": ROLE}}],
            "critical",
            [True],
        ),
        (
            "deny-on-one-of-two-resources",
            [
                {**PUBLIC, "Resource": ["arn:aws:s3:::b/*", "arn:aws:s3:::c/*"]},
                {**deny("s3:*", "arn:aws:s3:::b/*"), "Principal": "*"},
            ],
            "critical",
            [True],
        ),
    ],
)
def test_s3_001_bucket_policies_public_statements(
    case: str, statements: list[dict[str, Any]], severity: str, public: list[bool]
) -> None:
    outcome, evidence, message = s3_001(policy(*statements, kind="bucket", name="b"))
    assert outcome == "fail", case
    assert evidence.severity == severity, case
    assert [s["public_principal"] for s in evidence.items["statements"]] == public, case
    assert message.startswith("bucket/b grants wildcard S3 access")


def test_s3_001_bucket_policy_cancelled_by_a_deny_to_everyone_passes() -> None:
    for denial in ({"Principal": "*"}, {"Principal": {"AWS": "*"}}):
        outcome, _, message = s3_001(
            policy(PUBLIC, {**deny("s3:*", "arn:aws:s3:::b/*"), **denial}, kind="bucket", name="b")
        )
        assert outcome == "pass", message


def test_s3_001_public_is_a_bucket_policy_notion() -> None:
    """An identity policy has no Principal: never "public", whatever it grants."""
    _, evidence, _ = s3_001(policy(allow("s3:*", "arn:aws:s3:::b/*"), kind="inline"))
    assert evidence.severity == "medium"
    assert evidence.items["statements"][0]["public_principal"] is False
    assert evidence.items["policy"] == "role/reader/inline/p"


def test_s3_001_evidence_per_statement() -> None:
    _, evidence, message = s3_001(
        policy(
            allow("ec2:*"),
            allow("s3:*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}}),
            allow(["s3:GetObject", "s3:ListAllMyBuckets"], "arn:aws:s3:::*"),
        )
    )
    first, second = evidence.items["statements"]
    assert first["statement_index"] == 1
    assert first["every_s3_action"] is True
    assert first["every_bucket"] is True
    assert first["conditional"] is True
    assert first["severity"] == "medium"
    assert second["statement_index"] == 2
    assert second["every_s3_action"] is False
    assert second["every_bucket"] is True
    assert second["conditional"] is False
    assert second["actions"] == ["s3:GetObject"]  # ListAllMyBuckets cannot be limited to a bucket
    assert evidence.severity == "medium"
    assert "statement 1: every S3 action on every bucket" in message
    assert "statement 2: 1 S3 action(s) on every bucket" in message


def test_s3_001_suggests_the_least_privilege_replacement() -> None:
    _, evidence, _ = s3_001(policy(allow("s3:*")))
    (suggested,) = evidence.items["suggested_document"]["Statement"]
    assert suggested["Resource"] == ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"]
    assert suggested["Condition"] == {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    assert "no_suggestion" not in evidence.items
    _, bucket_evidence, _ = s3_001(policy(PUBLIC, kind="bucket", name="b"))
    (for_bucket,) = bucket_evidence.items["suggested_document"]["Statement"]
    assert for_bucket["Resource"] == ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]  # the bucket the policy is on
    _, negated, _ = s3_001(policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}))
    assert negated.items["suggested_document"] is None
    assert "NotAction" in negated.items["no_suggestion"]


def test_s3_001_evidence_and_message_of_every_action_on_named_buckets() -> None:
    _, evidence, message = s3_001(policy(allow("s3:*", NAMED)))
    (statement,) = evidence.items["statements"]
    assert statement["action_count"] == len(RULES["s3"].service_actions("s3"))  # wildcard-only ones too
    assert statement["every_bucket"] is False
    assert "statement 0: every S3 action" in message
    assert "on every bucket" not in message.splitlines()[0]


# AMS-S3-002: bucket-name wildcards pinned to the account


@pytest.mark.parametrize(
    ("case", "statement", "outcome"),
    [
        ("unpinned", allow(["s3:GetObject", "s3:PutObject"], WILDCARD), "fail"),
        ("question-mark-bucket", allow("s3:GetObject", "arn:aws:s3:::data-?/*"), "fail"),
        ("star-service-arn", allow("s3:GetObject", "arn:aws:*:::aimodelshare*/*"), "fail"),
        ("globbed-service-arn", allow("s3:GetObject", "arn:aws:s?:::aimodelshare*/*"), "fail"),
        ("mixed-case-action", allow("S3:GETOBJECT", WILDCARD), "fail"),
        ("service-glob-action", allow("?3:GetObject", WILDCARD), "fail"),
        ("one-wildcard-among-names", allow("s3:GetObject", ["arn:aws:s3:::team/*", "arn:aws:s3:::team-*/*"]), "fail"),
        (
            "pin-including-star",
            allow("s3:GetObject", WILDCARD, Condition={"StringLike": {"aws:ResourceAccount": [ACCOUNT, "*"]}}),
            "fail",
        ),
        (
            "pin-of-only-wildcards",
            allow("s3:GetObject", WILDCARD, Condition={"StringLike": {"aws:ResourceAccount": "*?"}}),
            "fail",
        ),
        (
            "pin-without-values",
            allow("s3:GetObject", WILDCARD, Condition={"StringEquals": {"aws:ResourceAccount": []}}),
            "fail",
        ),
        (
            "if-exists-does-not-pin",
            allow("s3:GetObject", WILDCARD, Condition={"StringEqualsIfExists": {"aws:ResourceAccount": ACCOUNT}}),
            "fail",
        ),
        (
            "other-key-does-not-pin",
            allow("s3:GetObject", WILDCARD, Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}),
            "fail",
        ),
        ("pinned", allow(["s3:GetObject", "s3:PutObject"], WILDCARD, Condition=PINNED), "pass"),
        (
            "pinned-s3-key",
            allow("s3:GetObject", WILDCARD, Condition={"StringEquals": {"s3:ResourceAccount": ACCOUNT}}),
            "pass",
        ),
        (
            "pinned-ignore-case",
            allow("s3:GetObject", WILDCARD, Condition={"StringEqualsIgnoreCase": {"aws:ResourceAccount": ACCOUNT}}),
            "pass",
        ),
        (
            "pinned-among-other-conditions",
            allow("s3:GetObject", WILDCARD, Condition={"Bool": {"aws:SecureTransport": "true"}, **PINNED}),
            "pass",
        ),
        ("exact-names", allow("s3:GetObject", "arn:aws:s3:::aimodelsharealice/*"), "pass"),
        ("wildcard-in-the-key-only", allow("s3:GetObject", "arn:aws:s3:::data/*"), "pass"),
        ("every-bucket-is-s3-001s", allow("s3:GetObject", "arn:aws:s3:::*/*"), "pass"),
        ("star-resource-is-s3-001s", allow("s3:GetObject", "*"), "pass"),
        ("wildcard-only-action", allow("s3:ListAllMyBuckets", WILDCARD), "pass"),
        ("not-s3-action", allow("sqs:SendMessage", WILDCARD), "pass"),
        ("not-s3-arn", allow("s3:GetObject", "arn:aws:sqs:us-east-1:1:aimodelshare*"), "pass"),
        ("deny-only", deny("s3:*", WILDCARD), "pass"),
    ],
)
def test_s3_002(case: str, statement: dict[str, Any], outcome: str) -> None:
    result, evidence, message = s3_002(policy(allow("ec2:DescribeInstances"), statement))
    assert result == outcome, (case, message)
    if outcome == "fail":
        (offending,) = evidence.items["statements"]
        assert offending["statement_index"] == 1
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert offending["wildcard_resources"] == [r for r in resources if r != "arn:aws:s3:::team/*"]
        assert "suggested_document" in evidence.items
        assert message.startswith("policy/p grants S3 on bucket-name wildcards without an account condition")
    else:
        assert evidence.items == {}


def test_s3_002_a_deny_that_removes_the_s3_actions_passes() -> None:
    outcome, _, message = s3_002(policy(allow("s3:GetObject", WILDCARD), deny("s3:*")))
    assert outcome == "pass", message


# AMS-PRIV-001: administrator access


@pytest.mark.parametrize(
    ("case", "statement", "grants"),
    [
        ("star", allow("*"), "every action"),
        ("star-star", allow("*:*"), "every action"),
        ("not-action-of-nothing", {"Effect": "Allow", "NotAction": "nosuch:Thing", "Resource": "*"}, "every action"),
        ("iam-star", allow("iam:*"), "every IAM action"),
        ("iam-glob-service", allow("i?m:*"), "every IAM action"),
        (
            "iam-on-not-resource",
            {"Effect": "Allow", "Action": "iam:*", "NotResource": "arn:aws:iam::1:role/x"},
            "every IAM action",
        ),
    ],
)
def test_priv_001_fails(case: str, statement: dict[str, Any], grants: str) -> None:
    outcome, evidence, message = priv_001(policy(allow("s3:GetObject"), statement))
    assert outcome == "fail", case
    (offending,) = evidence.items["statements"]
    assert offending["grants"] == grants
    assert offending["statement_index"] == 1
    assert f"statement 1: {grants} on every resource" in message
    assert len(offending["actions"]) == min(10, offending["action_count"])  # evidence lists ten at most


@pytest.mark.parametrize(
    ("case", "statements"),
    [
        ("star-on-one-resource", [allow("*", "arn:aws:s3:::b")]),
        ("s3-star", [allow("s3:*")]),
        ("iam-reads", [allow("iam:Get*")]),
        ("iam-star-on-a-role", [allow("iam:*", f"arn:aws:iam::{ACCOUNT}:role/*")]),
        ("iam-star-denied-in-part", [allow("iam:*"), deny("iam:PassRole")]),
        ("star-denied-in-part", [allow("*"), deny("iam:DeleteRole")]),
    ],
)
def test_priv_001_passes(case: str, statements: list[dict[str, Any]]) -> None:
    outcome, evidence, message = priv_001(policy(*statements))
    assert outcome == "pass", (case, message)
    assert evidence.items == {}


# AMS-PRIV-002: privilege escalation, the per-policy view of the escalation catalogue

ROLES = f"arn:aws:iam::{ACCOUNT}:role/*"
RUN = "ec2:RunInstances"
TO_LAMBDA = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}


@pytest.mark.parametrize(
    ("case", "statement", "methods", "escalating"),
    [
        (
            "role-star",
            allow(["iam:PutRolePolicy", "iam:GetRole"], ROLES),
            {"iam-put-role-policy-self", "iam-put-role-policy-assumable"},
            ["iam:PutRolePolicy"],
        ),
        ("user-star", allow("iam:PutUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/*"), {"iam-put-user-policy"}, None),
        (
            "group-star",
            allow("iam:AttachGroupPolicy", f"arn:aws:iam::{ACCOUNT}:group/*"),
            {"iam-attach-group-policy"},
            ["iam:AttachGroupPolicy"],
        ),
        (
            "policy-star",
            allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/*"),
            {"iam-create-policy-version"},
            ["iam:CreatePolicyVersion"],
        ),
        ("any-account", allow("iam:PutRolePolicy", "arn:aws:iam::*:role/*"), {"iam-put-role-policy-self"}, None),
        (
            "whole-account",
            allow("iam:AttachUserPolicy", f"arn:aws:iam::{ACCOUNT}:*"),
            {"iam-attach-user-policy"},
            ["iam:AttachUserPolicy"],
        ),
        (
            "pass-role-and-run",
            allow(["iam:PassRole", RUN]),
            {"ec2-run-instances-pass-role"},
            ["ec2:RunInstances", "iam:PassRole"],
        ),
        (
            "not-resource",
            {"Effect": "Allow", "Action": ["iam:PassRole", RUN], "NotResource": "arn:aws:iam::1:role/x"},
            {"ec2-run-instances-pass-role"},
            None,
        ),
        (
            "role-glob-and-a-name",
            allow(["iam:PassRole", RUN], [f"arn:aws:iam::{ACCOUNT}:role/app", "arn:aws:iam::*:role/*", "*"]),
            {"ec2-run-instances-pass-role"},
            None,
        ),
        (
            "iam-star-on-roles",
            allow("iam:*", ROLES),
            {"iam-put-role-policy-self", "iam-attach-role-policy-self", "iam-update-assume-role-policy"},
            None,
        ),
        (
            "global-key-does-not-narrow",
            allow(["iam:PassRole", RUN], Condition={"StringEquals": {"aws:ResourceTag/team": "a"}}),
            {"ec2-run-instances-pass-role"},
            None,
        ),
        (
            "passed-to-the-methods-own-service",
            allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"], Condition=TO_LAMBDA),
            {"lambda-create-invoke-pass-role"},
            ["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"],
        ),
        (
            "every-function-of-the-region",
            allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"),
            {"lambda-update-function-code"},
            ["lambda:UpdateFunctionCode"],
        ),
        ("send-command-anywhere", allow("ssm:SendCommand"), {"ssm-send-command"}, ["ssm:SendCommand"]),
        (
            "role-wide-boundary-condition-sets-aside",
            allow("iam:PutRolePolicy", ROLES, Condition={"StringLike": {"iam:PermissionsBoundary": "*"}}),
            {"iam-put-role-policy-self"},
            None,
        ),
    ],
)
def test_priv_002_fails(case: str, statement: dict[str, Any], methods: set[str], escalating: list[str] | None) -> None:
    outcome, evidence, message = priv_002(policy(allow("s3:GetObject"), statement))
    assert outcome == "fail", case
    named = evidence.items["escalation_methods"]
    assert methods <= set(named), (case, named)
    assert [m["method"] for m in evidence.items["methods"]] == named
    for found in evidence.items["methods"]:
        assert found["title"]
        assert found["source"]
        assert set(found["granted_by"].values()) == {1}
        assert set(found["granted_by"]) <= set(evidence.items["statements"][0]["escalating_actions"])
    (offending,) = evidence.items["statements"]
    assert offending["statement_index"] == 1
    assert offending["methods"] == named
    actions = offending["escalating_actions"]
    assert actions == sorted(actions)
    assert "s3:GetObject" not in actions
    assert "iam:GetRole" not in actions
    if escalating is not None:
        assert actions == escalating, case
    assert offending["actions"] == [display_name(a) for a in sorted(a.lower() for a in actions)][:40]
    assert offending["action_count"] == len(actions)
    assert message.startswith("policy/p enables privilege escalation: ")
    assert named[0] in message
    assert "in statement 1" in message


@pytest.mark.parametrize(
    ("case", "statements"),
    [
        ("named-role", [allow(["iam:PassRole", RUN], f"arn:aws:iam::{ACCOUNT}:role/app"), allow(RUN)]),
        ("other-account-roles", [allow("iam:PutRolePolicy", f"arn:aws:iam::{OTHER_ACCOUNT}:role/*")]),
        ("roles-under-a-path", [allow("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/app/*")]),
        ("reads-only", [allow(["iam:GetRole", "iam:ListRoles"], ROLES)]),
        ("not-iam", [allow("s3:*")]),
        ("administrator-is-priv-001s", [allow("*")]),
        ("iam-star-is-priv-001s", [allow("iam:*")]),
        ("pass-role-alone", [allow("iam:PassRole")]),
        ("pass-role-to-another-service", [allow(["iam:PassRole", RUN], Condition=TO_LAMBDA)]),
        ("half-a-method", [allow(["iam:PassRole", "lambda:CreateFunction"])]),
        ("denied", [allow(["iam:PassRole", RUN]), deny("iam:PassRole")]),
        ("denied-by-service-glob", [allow(["iam:PassRole", RUN]), deny("i?m:*")]),
        (
            "fixed-boundary",
            [allow("iam:PutRolePolicy", ROLES, Condition={"StringEquals": {"iam:PermissionsBoundary": "arn:b"}})],
        ),
        (
            "fixed-boundary-beside-the-policy-arn-key",  # the method's own key (iam:PolicyARN) and the boundary
            [allow("iam:AttachRolePolicy", ROLES, Condition={"StringEquals": {"iam:PermissionsBoundary": "arn:b"}})],
        ),
        (
            "not-resource-excluding-every-role",  # one of two NotResource entries is every role
            [{"Effect": "Allow", "Action": "iam:PutRolePolicy", "NotResource": [ROLES, "arn:aws:s3:::x"]}],
        ),
        ("functions-of-one-name", [allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:*:{ACCOUNT}:function:app")]),
        (
            "functions-of-another-region",
            [allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:*")],
        ),
    ],
)
def test_priv_002_passes(case: str, statements: list[dict[str, Any]]) -> None:
    outcome, evidence, message = priv_002(policy(*statements))
    assert outcome == "pass", (case, message)
    assert evidence.items == {}


def test_priv_002_an_inline_policy_aimed_at_its_own_holder() -> None:
    """The holder of an inline policy is the target of the methods aimed at the principal itself."""
    own = allow("iam:PutRolePolicy", ROLE)
    outcome, evidence, _ = priv_002(policy(own, kind="inline"))
    assert outcome == "fail"
    assert evidence.items["escalation_methods"] == ["iam-put-role-policy-self"]
    assert evidence.items["methods"][0]["on"] == ROLE
    assert priv_002(policy(own))[0] == "pass"  # a managed policy has no one holder: every role is asked for


def test_priv_002_message_names_each_action_in_aws_spelling() -> None:
    """The message quotes each action as AWS spells it, with its statement and the resource."""
    _, _, message = priv_002(policy(allow("s3:GetObject"), allow("iam:PutRolePolicy", ROLES)))
    assert f"iam-put-role-policy-self (iam:PutRolePolicy in statement 1, on {ROLES})" in message


def test_priv_002_a_method_on_new_resources_only_is_on_any_resource() -> None:
    """Creating a role, giving it a policy and assuming it needs no existing target: "on *"."""
    outcome, evidence, _ = priv_002(policy(allow(["iam:CreateRole", "iam:PutRolePolicy", "sts:AssumeRole"])))
    assert outcome == "fail"
    found = {m["method"]: m for m in evidence.items["methods"]}
    assert found["iam-create-role-and-assume"]["on"] == "*"


def test_priv_002_a_role_method_is_not_enabled_by_a_grant_on_users() -> None:
    """iam:PutRolePolicy on every user is on no role: the per-policy view asks for the method's own
    kind of principal only."""
    assert priv_002(policy(allow("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:user/*")))[0] == "pass"
    assert priv_002(policy(allow("iam:PutUserPolicy", ROLES)))[0] == "pass"


def test_priv_002_conditions_set_aside() -> None:
    like = allow(["iam:PassRole", RUN], Condition={"StringLike": {"iam:PassedToService": "*"}})
    _, evidence, _ = priv_002(policy(like))
    (aside,) = evidence.items["statements"][0]["conditions_set_aside"]
    assert aside["key"] == "iam:passedtoservice"
    assert "wildcard" in aside["reason"]
    other = allow(["iam:PassRole", RUN], Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})
    _, evidence, _ = priv_002(policy(other))
    (aside,) = evidence.items["statements"][0]["conditions_set_aside"]
    assert aside["reason"] == "not one of the escalating actions' own keys"


def test_priv_002_message_names_at_most_six_methods() -> None:
    outcome, evidence, message = priv_002(policy(allow("iam:*", ROLES), allow(["iam:PassRole", "ec2:*", "lambda:*"])))
    assert outcome == "fail"
    named = evidence.items["escalation_methods"]
    assert len(named) > 6
    first = message.splitlines()[0]  # the rest is pytest's explanation of the assert
    assert first.endswith(f"; and {len(named) - 6} more")
    assert all(m in first for m in named[:6])
    assert named[6] not in first


def test_priv_002_judges_the_audited_accounts_partition() -> None:
    china = AuditContext(inventory=Inventory(**{**INVENTORY.__dict__, "partition": "aws-cn"}))
    ref = policy(allow("iam:PutRolePolicy", f"arn:aws-cn:iam::{ACCOUNT}:role/*"))
    outcome, _, _ = judge(lambda e: RULES["privilege"].test_no_privilege_escalation(ref, e, china))
    assert outcome == "fail"
    assert priv_002(ref)[0] == "pass"


# AMS-PRIV-003: service-wide wildcards


@pytest.mark.parametrize(
    ("case", "statement", "services"),
    [
        ("lambda-star", allow(["lambda:*", "s3:GetObject"]), ["lambda"]),
        ("two-services", allow(["logs:*", "ecr:*"]), ["ecr", "logs"]),
        ("everything", allow("*"), ["*"]),
        ("not-resource", {"Effect": "Allow", "Action": "logs:*", "NotResource": "arn:aws:logs:*:*:x"}, ["logs"]),
    ],
)
def test_priv_003_fails(case: str, statement: dict[str, Any], services: list[str]) -> None:
    outcome, evidence, message = priv_003(policy(allow("s3:GetObject"), statement))
    assert outcome == "fail", case
    (offending,) = evidence.items["statements"]
    assert offending["services"] == services
    assert offending["actions"] == []
    assert message.splitlines()[0].endswith("every resource: " + ", ".join(f"{s}:*" for s in services))


@pytest.mark.parametrize(
    ("case", "statements"),
    [
        ("service-on-one-resource", [allow("lambda:*", "arn:aws:lambda:us-east-1:1:function:f")]),
        ("most-of-a-service", [allow("lambda:*"), deny("lambda:DeleteFunction")]),
        ("named-actions", [allow(["lambda:InvokeFunction", "logs:PutLogEvents"])]),
    ],
)
def test_priv_003_passes(case: str, statements: list[dict[str, Any]]) -> None:
    outcome, evidence, message = priv_003(policy(*statements))
    assert outcome == "pass", (case, message)
    assert evidence.items == {}
