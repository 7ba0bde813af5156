"""The rules that use the condition evaluator (``ams_iam_audit.policy.conditions``), against the moto server.

Moved from ``tests/test_conditions.py`` unchanged: these pin the rules' verdicts on the conditions that
used to let open grants pass, end to end (too slow to judge each mutant of ``make mutation``; the fast
evaluator tests stay in ``tests/test_conditions.py``).
"""

from __future__ import annotations

import json
from typing import Any

from conftest import ACCOUNT, OTHER_ACCOUNT, Account, Audit

LAMBDA = "lambda.amazonaws.com"
PASSED = "iam:passedtoservice"


def _allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_privilege_escalation_conditions_judged_by_what_they_restrict(aws: Account, audit: Audit) -> None:
    create = ["iam:PassRole", "ec2:RunInstances"]  # AMS-PRIV-002's ec2-run-instances-pass-role
    cases = {
        # open: each names the right key and restricts nothing
        "like-star": [_allow(create, Condition={"StringLike": {"iam:PassedToService": "*"}})],
        "for-any-value-like-star": [_allow(create, Condition={"ForAnyValue:StringLike": {"iam:PassedToService": "*"}})],
        "not-equals": [_allow(create, Condition={"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})],
        "null-false": [_allow(create, Condition={"Null": {"iam:PassedToService": "false"}})],
        "if-exists": [_allow(create, Condition={"StringEqualsIfExists": {"iam:PassedToService": LAMBDA}})],
        "for-all-values": [_allow(create, Condition={"ForAllValues:StringEquals": {"iam:PassedToService": LAMBDA}})],
        "global-key-only": [_allow(create, Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})],
        "attach-policy-arn-like-star": [
            _allow("iam:AttachRolePolicy", Condition={"ArnLike": {"iam:PolicyARN": "*"}}),
        ],
        "attach-policy-arn-wildcard-family": [
            _allow(
                "iam:AttachUserPolicy",
                f"arn:aws:iam::{ACCOUNT}:user/*",
                Condition={"ArnEquals": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/app-*"}},
            ),
        ],
        # narrowed: fixed names under an operator that requires them
        "named-service": [_allow(create, Condition={"StringEquals": {"iam:PassedToService": LAMBDA}})],
        "named-service-any-value": [
            _allow(create, Condition={"ForAnyValue:StringEquals": {"iam:PassedToService": LAMBDA}})
        ],
        "named-policy": [
            _allow(
                "iam:AttachRolePolicy",
                f"arn:aws:iam::{ACCOUNT}:role/*",
                Condition={"ArnEquals": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/app-reader"}},
            )
        ],
    }
    for name, statements in cases.items():
        aws.policy(name, *statements)
    aws.policy("app-reader", _allow("s3:GetObject"))  # named-policy's: read, and not administrator

    result = audit("-k", "AMS-PRIV-002")

    outcomes = result.outcomes("AMS-PRIV-002")
    failing = {n for n in cases if outcomes[f"policy/{n}"] == "fail"}
    assert failing == set(cases) - {"named-service", "named-service-any-value", "named-policy"}
    statement = result.finding("AMS-PRIV-002", "policy/like-star")["evidence"]["statements"][0]
    assert statement["escalating_actions"] == ["ec2:RunInstances", "iam:PassRole"]
    (aside,) = statement["conditions_set_aside"]
    assert aside["key"] == PASSED
    assert "wildcard" in aside["reason"]
    statement = result.finding("AMS-PRIV-002", "policy/global-key-only")["evidence"]["statements"][0]
    assert statement["conditions_set_aside"][0]["reason"] == "not one of the escalating actions' own keys"


def test_bucket_wildcard_pins_must_name_the_audited_account(aws: Account, audit: Audit) -> None:
    wildcard = ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"]

    def pinned(condition: dict[str, Any]) -> list[dict[str, Any]]:
        return [_allow(["s3:GetObject", "s3:PutObject"], wildcard, Condition=condition)]

    cases = {
        # open
        "other-account": pinned({"StringEquals": {"aws:ResourceAccount": OTHER_ACCOUNT}}),
        "ours-or-another": pinned({"StringEquals": {"aws:ResourceAccount": [ACCOUNT, OTHER_ACCOUNT]}}),
        "like-contains-1": pinned({"StringLike": {"aws:ResourceAccount": "*1*"}}),
        "like-our-prefix": pinned({"StringLike": {"aws:ResourceAccount": ACCOUNT[:11] + "?"}}),
        "organization": pinned({"StringEquals": {"aws:ResourceOrgID": "o-abc123"}}),
        "null-false": pinned({"Null": {"aws:ResourceAccount": "false"}}),
        "for-all-values": pinned({"ForAllValues:StringEquals": {"aws:ResourceAccount": ACCOUNT}}),
        # pinned
        "ours": pinned({"StringEquals": {"aws:ResourceAccount": ACCOUNT}}),
        "ours-s3-key": pinned({"StringEquals": {"s3:ResourceAccount": ACCOUNT}}),
        "ours-like-no-wildcard": pinned({"StringLike": {"aws:ResourceAccount": ACCOUNT}}),
        "ours-and-an-org": pinned(
            {"StringEquals": {"aws:ResourceAccount": ACCOUNT}, "StringLike": {"aws:ResourceOrgID": "*"}}
        ),
    }
    for name, statements in cases.items():
        aws.policy(name, *statements)

    result = audit("-k", "AMS-S3-002")

    outcomes = result.outcomes("AMS-S3-002")
    assert {n for n in cases if outcomes[f"policy/{n}"] == "fail"} == {
        "other-account",
        "ours-or-another",
        "like-contains-1",
        "like-our-prefix",
        "organization",
        "null-false",
        "for-all-values",
    }
    aside = result.finding("AMS-S3-002", "policy/other-account")["evidence"]["statements"][0]["conditions_set_aside"]
    assert aside == [
        {
            "operator": "StringEquals",
            "key": "aws:resourceaccount",
            "values": [OTHER_ACCOUNT],
            "reason": f"'{OTHER_ACCOUNT}' is not the audited account {ACCOUNT}",
        }
    ]


def test_public_bucket_statement_is_critical_unless_the_source_is_fixed(aws: Account, audit: Audit) -> None:
    def bucket(name: str, condition: dict[str, Any] | None) -> None:
        statement: dict[str, Any] = {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
        }
        if condition is not None:
            statement["Condition"] = condition
        aws.s3.create_bucket(Bucket=name)
        aws.s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))

    bucket("open", None)
    bucket("open-null", {"Null": {"aws:SourceVpce": "false"}})
    bucket("open-secure-transport", {"Bool": {"aws:SecureTransport": "true"}})
    bucket("open-any-ip", {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})
    bucket("open-vpce-like", {"StringLike": {"aws:SourceVpce": "vpce-*"}})
    bucket("fixed-vpce", {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})
    bucket("fixed-cidr", {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})

    result = audit("-k", "AMS-S3-001")

    severity = {
        f["resource"]: f["severity"] for f in result.findings if f["rule_id"] == "AMS-S3-001" and f["outcome"] == "fail"
    }
    for name in ("open", "open-null", "open-secure-transport", "open-any-ip", "open-vpce-like"):
        assert severity[f"bucket/{name}"] == "critical", name
    assert severity["bucket/fixed-vpce"] != "critical"
    assert severity["bucket/fixed-cidr"] != "critical"
    statement = result.finding("AMS-S3-001", "bucket/open-vpce-like")["evidence"]["statements"][0]
    assert statement["public_principal"] is True
    assert "wildcard" in statement["conditions_set_aside"][0]["reason"]


def test_foreign_account_trust_needs_a_condition_that_fixes_who(aws: Account, audit: Audit) -> None:
    def trust(condition: dict[str, Any]) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": condition,
                }
            ],
        }

    aws.role("exec-wild-external-id", trust({"StringLike": {"sts:ExternalId": "*"}}))
    aws.role("exec-mfa-only", trust({"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    aws.role("exec-external-id", trust({"StringEquals": {"sts:ExternalId": "x-123"}}))
    outcomes: dict[str, str] = {}
    for name in ("exec-wild-external-id", "exec-mfa-only", "exec-external-id"):
        result = audit("-k", "AMS-EXEC-001", "--aws-execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/{name}")
        outcomes.update(result.outcomes("AMS-EXEC-001"))
    assert outcomes == {
        "role/exec-wild-external-id": "fail",
        "role/exec-mfa-only": "fail",
        "role/exec-external-id": "pass",
    }
