"""AMS-S3-003 against a moto account: buckets open to anyone, and buckets without the four public access
block settings (at bucket or account level); adversarial policies; unreadable blocks are errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest
from aws_proxy import Deny, is_get, proxy_to
from conftest import ACCOUNT, Account, Audit, audit_at, run_audit

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import PublicAccessBlockConfigurationTypeDef


RULE = "AMS-S3-003"
ALL_ON: PublicAccessBlockConfigurationTypeDef = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _statement(bucket: str, principal: Any = "*", effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    who = {"NotPrincipal": principal} if extra.pop("not_principal", False) else {"Principal": principal}
    return {"Effect": effect, **who, "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*", **extra}


def _bucket(
    aws: Account, name: str, *statements: dict[str, Any], block: PublicAccessBlockConfigurationTypeDef | None = None
) -> None:
    aws.s3.create_bucket(Bucket=name)
    if statements:
        aws.s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    if block is not None:
        aws.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=block)


def _seed(aws: Account) -> None:
    vpce = {"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}
    _bucket(aws, "open-read", _statement("open-read"))
    _bucket(aws, "open-aws-star", _statement("open-aws-star", {"AWS": "*"}))
    _bucket(
        aws,
        "open-not-principal",
        _statement("open-not-principal", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, not_principal=True),
    )
    _bucket(
        aws,
        "open-vpce-wildcard",
        _statement("open-vpce-wildcard", Condition={"StringLike": {"aws:SourceVpce": "vpce-*"}}),
    )
    _bucket(
        aws, "open-partial-block", _statement("open-partial-block"), block={**ALL_ON, "RestrictPublicBuckets": False}
    )
    _bucket(aws, "vpce-only", _statement("vpce-only", Condition=vpce))
    _bucket(aws, "named-principal", _statement("named-principal", {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    _bucket(aws, "denied-open", _statement("denied-open"), _statement("denied-open", effect="Deny"))
    _bucket(aws, "no-policy")
    _bucket(
        aws,
        "restrict-only",
        _statement("restrict-only"),
        block={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    _bucket(aws, "guarded", block=ALL_ON)
    _bucket(aws, "guarded-public-policy", _statement("guarded-public-policy"), block=ALL_ON)


def test_public_buckets_and_missing_blocks(
    aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    _seed(aws)
    snapshot = tmp_path / "snapshot.json"
    result = audit("-k", RULE, "--save-snapshot", str(snapshot))
    severity = {f["resource"]: f["severity"] if f["outcome"] == "fail" else f["outcome"] for f in result.findings}
    assert severity == {
        "bucket/open-read": "critical",
        "bucket/open-aws-star": "critical",
        "bucket/open-not-principal": "critical",
        "bucket/open-vpce-wildcard": "critical",  # a wildcard does not fix the source
        "bucket/open-partial-block": "critical",  # RestrictPublicBuckets off: the policy is in force
        "bucket/vpce-only": "medium",  # not public, but unguarded
        "bucket/named-principal": "medium",
        "bucket/denied-open": "medium",  # the same document's Deny removes the public Allow
        "bucket/no-policy": "medium",
        "bucket/restrict-only": "high",  # neutralised today, three settings missing
        "bucket/guarded": "pass",
        "bucket/guarded-public-policy": "pass",
    }
    assert result.ret == 1
    open_read = result.finding(RULE, "bucket/open-read")
    assert open_read["evidence"]["public_statements"][0]["statement_index"] == 0
    assert "allows everyone (statement 0)" in open_read["message"]
    guarded = result.finding(RULE, "bucket/guarded-public-policy")["evidence"]
    assert guarded["public_policy_neutralised"] is True
    assert guarded["public_access_block"] == dict.fromkeys(ALL_ON, "bucket")
    assert "RestrictPublicBuckets" in result.finding(RULE, "bucket/open-partial-block")["message"]
    # AMS-S3-001 judges breadth, not exposure: a public GetObject is this rule's alone
    s3_001 = audit("-k", "AMS-S3-001").outcomes("AMS-S3-001")
    assert s3_001["bucket/open-read"] == "pass"

    offline = run_audit(pytester, "--snapshot", str(snapshot), "-k", RULE)
    assert offline.outcomes(RULE) == result.outcomes(RULE)


def test_the_account_block_guards_every_bucket(aws: Account, audit: Audit) -> None:
    _bucket(aws, "open-read", _statement("open-read"))
    _bucket(
        aws,
        "restrict-at-bucket",
        block={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )
    aws.s3control.put_public_access_block(
        AccountId=ACCOUNT, PublicAccessBlockConfiguration={**ALL_ON, "RestrictPublicBuckets": False}
    )
    outcomes = audit("-k", RULE).outcomes(RULE)
    # account: three settings; the bucket adds the fourth. Without it, the public policy is in force.
    assert outcomes == {"bucket/open-read": "fail", "bucket/restrict-at-bucket": "pass"}

    aws.s3control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration=ALL_ON)
    result = audit("-k", RULE)
    assert result.outcomes(RULE) == {"bucket/open-read": "pass", "bucket/restrict-at-bucket": "pass"}
    evidence = result.finding(RULE, "bucket/restrict-at-bucket")["evidence"]["public_access_block"]
    assert evidence == {**dict.fromkeys(ALL_ON, "account"), "RestrictPublicBuckets": "bucket"}


def _bucket_block(bucket: str) -> Deny:
    return Deny(
        "s3",
        lambda r: (
            r.method == "GET"
            and urlparse(r.path).path.strip("/") == bucket
            and "publicAccessBlock" in urlparse(r.path).query.split("&")
        ),
    )


def test_unreadable_blocks_are_errors(aws: Account, pytester: pytest.Pytester) -> None:
    _bucket(aws, "guarded", block=ALL_ON)
    _bucket(aws, "secretive", block=ALL_ON)
    with proxy_to(aws.url, Deny("s3", is_get(r"/v20180820/configuration/publicAccessBlock"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", RULE)
    finding = result.finding(RULE, "unreadable-s3control")
    assert finding["outcome"] == "error"
    assert "s3:GetAccountPublicAccessBlock" in finding["message"]
    assert set(result.outcomes(RULE)) == {"unreadable-s3control"}  # no bucket passes without it

    with proxy_to(aws.url, _bucket_block("secretive")) as proxy:
        result = audit_at(pytester, proxy.url, "-k", RULE)
    assert result.outcomes(RULE) == {"bucket/guarded": "pass", "bucket/secretive": "error"}
    assert "s3:GetBucketPublicAccessBlock" in result.finding(RULE, "bucket/secretive")["message"]


def test_a_gaad_file_cannot_say(pytester: pytest.Pytester, tmp_path: Path) -> None:
    gaad = tmp_path / "gaad.json"
    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    gaad.write_text(json.dumps({"UserDetailList": [{"UserName": "alice", "UserId": "AIDA1", "Arn": arn, "Path": "/"}]}))
    result = run_audit(pytester, "--snapshot", str(gaad), "-k", f"{RULE} or AMS-TRAIL-001")
    assert set(result.outcomes(RULE).values()) == {"error"}
    assert set(result.outcomes("AMS-TRAIL-001").values()) == {"error"}


def test_a_snapshot_from_before_these_reads_is_unknown_not_clean(
    aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """A snapshot written before the account block, the trails and the environments were collected
    has none of them: each rule that needs them errs, none passes."""
    _bucket(aws, "guarded", block=ALL_ON)
    aws.trail()
    snapshot = tmp_path / "snapshot.json"
    audit("-k", RULE, "--save-snapshot", str(snapshot))
    data = json.loads(snapshot.read_text())
    data["sections"] = [s for s in data["sections"] if s["name"] not in ("s3control", "cloudtrail")]
    for key in ("trails", "account_public_access_block"):
        data.pop(key)
    data["consumers"].append(
        {"kind": "lambda", "region": "us-east-1", "name": "old", "arn": "arn:aws:lambda:::function:old", "role_arn": ""}
    )
    snapshot.write_text(json.dumps(data))
    rules = f"{RULE} or AMS-TRAIL-001 or AMS-SECRET-001"
    result = run_audit(pytester, "--snapshot", str(snapshot), "-k", rules)
    assert {f["rule_id"]: f["outcome"] for f in result.findings} == {
        RULE: "error",
        "AMS-TRAIL-001": "error",
        "AMS-SECRET-001": "error",
    }
    assert "not collected" in result.finding("AMS-SECRET-001", "lambda/us-east-1/old")["message"]
