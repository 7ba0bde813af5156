"""AMS-S3-001 and AMS-S3-002 against a moto account: failing, passing and adversarial documents."""

from __future__ import annotations

import json
from typing import Any

from conftest import ACCOUNT, Account, Audit

STAR = "*"


def allow(action: Any, resource: Any = STAR, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = STAR, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_wildcard_s3_grants(aws: Account, audit: Audit) -> None:
    bucket = ["arn:aws:s3:::team-bucket", "arn:aws:s3:::team-bucket/*"]
    cases = {
        # failing
        "s3-star-on-star": [allow("s3:*")],
        "star-on-star": [allow("*")],
        "mixed-case": [allow(["S3:*"])],
        "notaction-equivalent": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
        "put-wildcard-on-star": [allow("s3:Put*")],
        "s3-star-on-named-bucket": [allow("s3:*", bucket)],
        "get-on-every-bucket": [allow("s3:GetObject", "arn:aws:s3:::*/*")],
        "notresource": [{"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}],
        "conditional-allow": [allow("s3:*", Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})],
        "conditional-deny-removes-nothing": [
            allow("s3:*"),
            deny("s3:*", Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
        ],
        "narrow-deny-removes-nothing": [allow("s3:*"), deny("s3:*", "arn:aws:s3:::one-bucket")],
        # passing
        "list-all-my-buckets-only": [allow("s3:ListAllMyBuckets")],
        "named-actions-named-bucket": [allow(["s3:GetObject", "s3:PutObject"], bucket)],
        "deny-overrides-allow": [allow("s3:*"), deny("s3:*")],
        "not-s3": [allow("ec2:Describe*")],
        "deny-only": [deny("s3:*")],
    }
    for name, statements in cases.items():
        aws.policy(name, *statements)
    aws.policy("statement-object", document={"Version": "2012-10-17", "Statement": allow("s3:*")})
    aws.role("app-role")
    aws.iam.put_role_policy(
        RoleName="app-role",
        PolicyName="inline-star",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow("s3:*")]}),
    )
    aws.s3.create_bucket(Bucket="public-bucket")
    aws.s3.put_bucket_policy(
        Bucket="public-bucket",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::public-bucket/*"}
                ],
            }
        ),
    )
    aws.s3.create_bucket(Bucket="reader-bucket")
    aws.s3.put_bucket_policy(
        Bucket="reader-bucket",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/app-role"},
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::reader-bucket/*",
                    }
                ],
            }
        ),
    )
    aws.s3.create_bucket(Bucket="no-policy-bucket")

    result = audit("-k", "AMS-S3-001")

    outcomes = result.outcomes("AMS-S3-001")
    failing = {n for n in cases if outcomes[f"policy/{n}"] == "fail"}
    assert failing == {
        "s3-star-on-star",
        "star-on-star",
        "mixed-case",
        "notaction-equivalent",
        "put-wildcard-on-star",
        "s3-star-on-named-bucket",
        "get-on-every-bucket",
        "notresource",
        "conditional-allow",
        "conditional-deny-removes-nothing",
        "narrow-deny-removes-nothing",
    }
    assert {n for n in cases if outcomes[f"policy/{n}"] == "pass"} == set(cases) - failing
    assert outcomes["policy/statement-object"] == "fail"
    assert outcomes["role/app-role/inline/inline-star"] == "fail"
    assert outcomes["bucket/public-bucket"] == "fail"
    assert outcomes["bucket/reader-bucket"] == "pass"
    assert "bucket/no-policy-bucket" not in outcomes  # no policy, nothing to judge
    assert result.ret == 1

    # Severity follows breadth; a condition lowers it; anyone-may on a bucket is critical.
    severity = {f["resource"]: f["severity"] for f in result.findings if f["outcome"] == "fail"}
    assert severity["policy/s3-star-on-star"] == "high"
    assert severity["policy/put-wildcard-on-star"] == "medium"
    assert severity["policy/s3-star-on-named-bucket"] == "medium"
    assert severity["policy/conditional-allow"] == "medium"
    assert severity["bucket/public-bucket"] == "critical"

    # Evidence names the offending statement, its index and the granted actions.
    evidence = result.finding("AMS-S3-001", "policy/narrow-deny-removes-nothing")["evidence"]
    (statement,) = evidence["statements"]
    assert statement["statement_index"] == 0
    assert statement["statement"] == allow("s3:*")
    assert statement["every_s3_action"] is True
    assert "s3:DeleteBucket" in statement["actions"] or statement["action_count"] > len(statement["actions"])
    put = result.finding("AMS-S3-001", "policy/put-wildcard-on-star")["evidence"]["statements"][0]
    assert "s3:PutObject" in put["actions"]
    assert all(a.startswith("s3:Put") for a in put["actions"])


def test_bucket_wildcards_pinned_to_account(aws: Account, audit: Audit) -> None:
    wildcard = ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"]
    pinned = {"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    cases = {
        # failing
        "unpinned": [allow(["s3:GetObject", "s3:PutObject"], wildcard)],
        "if-exists-does-not-pin": [
            allow("s3:GetObject", wildcard, Condition={"StringEqualsIfExists": {"aws:ResourceAccount": ACCOUNT}})
        ],
        "not-equals-does-not-pin": [
            allow("s3:GetObject", wildcard, Condition={"StringNotEquals": {"aws:ResourceAccount": OTHER}})
        ],
        "like-star-does-not-pin": [
            allow("s3:GetObject", wildcard, Condition={"StringLike": {"aws:ResourceAccount": "*"}})
        ],
        "question-mark": [allow("s3:GetObject", "arn:aws:s3:::data-?/*")],
        # an organization the audit cannot confirm is this account's
        "pinned-org": [allow("s3:GetObject", wildcard, Condition={"StringEquals": {"aws:ResourceOrgID": "o-abc123"}})],
        "mixed-case-action": [allow("S3:GETOBJECT", wildcard)],
        # passing
        "pinned": [allow(["s3:GetObject", "s3:PutObject"], wildcard, Condition=pinned)],
        "pinned-s3-key": [allow("s3:GetObject", wildcard, Condition={"StringEquals": {"s3:ResourceAccount": ACCOUNT}})],
        "exact-names": [allow("s3:GetObject", "arn:aws:s3:::aimodelsharealice/*")],
        "deny-only": [deny("s3:*", wildcard)],
        "wildcard-only-action": [allow("s3:ListAllMyBuckets", wildcard)],
    }
    for name, statements in cases.items():
        aws.policy(name, *statements)

    result = audit("-k", "AMS-S3-002")

    outcomes = result.outcomes("AMS-S3-002")
    assert {n for n in cases if outcomes[f"policy/{n}"] == "fail"} == {
        "unpinned",
        "if-exists-does-not-pin",
        "not-equals-does-not-pin",
        "like-star-does-not-pin",
        "question-mark",
        "mixed-case-action",
        "pinned-org",
    }
    evidence = result.finding("AMS-S3-002", "policy/unpinned")["evidence"]["statements"][0]
    assert evidence["wildcard_resources"] == wildcard
    assert evidence["statement_index"] == 0


OTHER = "210987654321"


def test_deny_principals_action_shapes_and_public_statements_end_to_end(aws: Account, audit: Audit) -> None:
    """The classes test_rule_verdicts.py pins rule by rule, once through a live account: Denies aimed at
    one principal, with NotPrincipal or on one of two resources; service globs; NotPrincipal Allows;
    mixed resource lists; S3 ARNs with a "*" service; account pins with "*"; the worst statement."""
    role = f"arn:aws:iam::{ACCOUNT}:role/app-role"
    public = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::{bucket}/*"}

    def bucket(name: str, *statements: dict[str, Any]) -> None:
        aws.s3.create_bucket(Bucket=name)
        text = json.dumps({"Version": "2012-10-17", "Statement": list(statements)}).replace("{bucket}", name)
        aws.s3.put_bucket_policy(Bucket=name, Policy=text)

    denied = {"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::{bucket}/*"}
    bucket("deny-one-role", public, {**denied, "Principal": {"AWS": role}})
    bucket("deny-not-principal", public, {**denied, "NotPrincipal": {"AWS": role}})
    bucket("deny-everyone", public, {**denied, "Principal": "*"})
    bucket("deny-service-glob", public, {**denied, "Principal": {"AWS": "*"}, "Action": "?3:*"})
    bucket(
        "deny-one-of-two",
        {**public, "Resource": ["arn:aws:s3:::{bucket}/*", "arn:aws:s3:::other/*"]},
        {**denied, "Principal": "*"},
    )
    not_principal = {k: v for k, v in public.items() if k != "Principal"}
    bucket("not-principal-allow", {**not_principal, "NotPrincipal": {"AWS": role}})
    bucket("role-then-public", {**public, "Principal": {"AWS": role}}, public)
    bucket("role-service-glob", {**public, "Principal": {"AWS": role}, "Action": "s*:*"})
    aws.policy("mixed-resources", allow("s3:GetObject", ["arn:aws:s3:::team/*", "arn:aws:s3:::*/*"]))
    aws.policy("star-service-arn", allow("s3:GetObject", "arn:aws:*:::*"))
    aws.policy("worst-decides", allow("s3:GetObject", "arn:aws:s3:::*/*"), allow("s3:*"))
    aws.policy(
        "pin-with-star",
        allow(
            "s3:GetObject",
            "arn:aws:s3:::aimodelshare*/*",
            Condition={"StringLike": {"aws:ResourceAccount": [ACCOUNT, "*"]}},
        ),
    )
    aws.policy(
        "pinned",
        allow(
            "s3:GetObject", "arn:aws:s3:::aimodelshare*/*", Condition={"StringEquals": {"aws:ResourceAccount": ACCOUNT}}
        ),
    )

    result = audit("-k", "AMS-S3-001 or AMS-S3-002")

    wildcard = result.outcomes("AMS-S3-001")
    assert {r: o for r, o in wildcard.items() if r.startswith("bucket/")} == {
        "bucket/deny-one-role": "fail",
        "bucket/deny-not-principal": "fail",
        "bucket/deny-everyone": "pass",
        "bucket/deny-service-glob": "pass",
        "bucket/deny-one-of-two": "fail",
        "bucket/not-principal-allow": "fail",
        "bucket/role-then-public": "fail",
        "bucket/role-service-glob": "fail",
    }
    severity = {f["resource"]: f["severity"] for f in result.findings if f["outcome"] == "fail"}
    for name in ("deny-one-role", "deny-not-principal", "deny-one-of-two", "not-principal-allow", "role-then-public"):
        assert severity[f"bucket/{name}"] == "critical", name
    assert severity["bucket/role-service-glob"] == "medium"
    statements = result.finding("AMS-S3-001", "bucket/role-then-public")["evidence"]["statements"]
    assert [s["public_principal"] for s in statements] == [False, True]
    assert wildcard["policy/mixed-resources"] == "fail"
    assert wildcard["policy/star-service-arn"] == "fail"
    assert severity["policy/worst-decides"] == "high"
    pinned = result.outcomes("AMS-S3-002")
    assert pinned["policy/pin-with-star"] == "fail"
    assert pinned["policy/pinned"] == "pass"
