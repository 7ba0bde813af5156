"""AMS-TRAIL-001 against a moto account: a multi-region trail that is logging read and write management
events passes; every way of missing AssumeRole fails; what could not be read is an error naming the
permission, never a pass; a snapshot judges the same offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aws_proxy import Deny, is_target, proxy_to
from conftest import ACCOUNT, Account, Audit, audit_at, run_audit

RULE = "AMS-TRAIL-001"
RESOURCE = f"account/{ACCOUNT}"
MANAGEMENT = {"Field": "eventCategory", "Equals": ["Management"]}


def _trail(aws: Account, name: str, *, multi_region: bool = True, logging: bool = True, **selectors: Any) -> None:
    client = aws.client("cloudtrail")
    if "trail-logs" not in {b["Name"] for b in aws.s3.list_buckets()["Buckets"]}:
        aws.s3.create_bucket(Bucket="trail-logs")
    client.create_trail(Name=name, S3BucketName="trail-logs", IsMultiRegionTrail=multi_region)
    if selectors:
        client.put_event_selectors(TrailName=name, **selectors)
    if logging:
        client.start_logging(Name=name)


def _basic(kind: str, management: bool = True) -> dict[str, Any]:
    return {"EventSelectors": [{"ReadWriteType": kind, "IncludeManagementEvents": management}]}


def _advanced(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"AdvancedEventSelectors": [{"Name": "selected", "FieldSelectors": list(fields)}]}


def _two_trails(aws: Account) -> None:
    _trail(aws, "local", multi_region=False)
    _trail(aws, "global")


CASES: dict[str, tuple[Callable[[Account], None], str]] = {
    "no-trail": (lambda aws: None, "fail"),
    "single-region": (lambda aws: _trail(aws, "local", multi_region=False), "fail"),
    "stopped": (lambda aws: _trail(aws, "stopped", logging=False), "fail"),
    "default-selectors": (lambda aws: _trail(aws, "everything"), "pass"),
    "basic-all": (lambda aws: _trail(aws, "all", **_basic("All")), "pass"),
    # AssumeRole is a read-only event: a write-only trail does not record it
    "basic-write-only": (lambda aws: _trail(aws, "writes", **_basic("WriteOnly")), "fail"),
    "basic-read-only": (lambda aws: _trail(aws, "reads", **_basic("ReadOnly")), "fail"),
    "basic-no-management": (lambda aws: _trail(aws, "data", **_basic("All", management=False)), "fail"),
    "advanced-management": (lambda aws: _trail(aws, "adv", **_advanced(MANAGEMENT)), "pass"),
    "advanced-write-only": (
        lambda aws: _trail(aws, "adv-w", **_advanced(MANAGEMENT, {"Field": "readOnly", "Equals": ["false"]})),
        "fail",
    ),
    "advanced-without-sts": (
        lambda aws: _trail(
            aws, "adv-sts", **_advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["sts.amazonaws.com"]})
        ),
        "fail",
    ),
    # only STS: AssumeRole is recorded, but not every management event (CIS 3.1)
    "advanced-only-sts": (
        lambda aws: _trail(
            aws, "adv-only", **_advanced(MANAGEMENT, {"Field": "eventSource", "Equals": ["sts.amazonaws.com"]})
        ),
        "fail",
    ),
    "advanced-without-kms": (
        lambda aws: _trail(
            aws, "adv-kms", **_advanced(MANAGEMENT, {"Field": "eventSource", "NotEquals": ["kms.amazonaws.com"]})
        ),
        "pass",
    ),
    "advanced-data-only": (
        lambda aws: _trail(
            aws,
            "adv-data",
            **_advanced(
                {"Field": "eventCategory", "Equals": ["Data"]},
                {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            ),
        ),
        "fail",
    ),
    "one-good-one-bad": (lambda aws: _two_trails(aws), "pass"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_cloudtrail_cases(aws: Account, audit: Audit, case: str) -> None:
    seed, expected = CASES[case]
    seed(aws)
    result = audit("-k", RULE)
    finding = result.finding(RULE, RESOURCE)
    assert finding["outcome"] == expected, finding["message"]
    assert result.ret == (1 if expected == "fail" else 0)
    if expected == "fail":
        assert "AssumeRole" in finding["message"]


def test_evidence_names_each_trail_and_its_problem(aws: Account, audit: Audit) -> None:
    _trail(aws, "local", multi_region=False, logging=False)
    _trail(aws, "writes", **_basic("WriteOnly"))
    finding = audit("-k", RULE).finding(RULE, RESOURCE)
    trails = {t["trail"]: t for t in finding["evidence"]["trails"]}
    assert trails["local"]["problems"] == ["logs us-east-1 only (not a multi-region trail)", "is not logging (stopped)"]
    assert trails["writes"]["management_events"] == ["write"]
    assert "ReadWriteType is WriteOnly" in trails["writes"]["problems"][0]
    assert finding["evidence"]["qualifying"] == []


def test_denied_reads_are_errors_never_passes(aws: Account, pytester: pytest.Pytester) -> None:
    with proxy_to(aws.url, Deny("json", is_target("DescribeTrails"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", RULE)
    finding = result.finding(RULE, "unreadable-cloudtrail")
    assert finding["outcome"] == "error"
    assert "cloudtrail:DescribeTrails" in finding["message"]

    _trail(aws, "global")  # would pass, but its status cannot be read
    with proxy_to(aws.url, Deny("json", is_target("GetTrailStatus"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", RULE)
    finding = result.finding(RULE, RESOURCE)
    assert finding["outcome"] == "error"
    assert "cloudtrail:GetTrailStatus" in finding["message"]

    with proxy_to(aws.url, Deny("json", is_target("GetEventSelectors"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", RULE)
    finding = result.finding(RULE, RESOURCE)
    assert finding["outcome"] == "error"
    assert "cloudtrail:GetEventSelectors" in finding["message"]


def test_a_snapshot_judges_the_same(aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path) -> None:
    _trail(aws, "writes", **_basic("WriteOnly"))
    snapshot = tmp_path / "snapshot.json"
    live = audit("-k", RULE, "--save-snapshot", str(snapshot))
    offline = run_audit(pytester, "--snapshot", str(snapshot), "-k", RULE)
    assert offline.outcomes(RULE) == live.outcomes(RULE) == {RESOURCE: "fail"}
    assert offline.finding(RULE, RESOURCE)["evidence"] == live.finding(RULE, RESOURCE)["evidence"]
