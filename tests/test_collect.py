"""Collection details that moto cannot show: GAAD paging (moto returns one page), retries config."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from ams_iam_audit.aws import AwsClients
from ams_iam_audit.inventory.collect import GAAD_FILTERS, _gaad

ROLE_TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'  # noqa: E501


def _role(name: str) -> dict[str, object]:
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": "AROA" + name.upper().ljust(17, "X")[:17],
        "Arn": f"arn:aws:iam::123456789012:role/{name}",
        "CreateDate": datetime(2024, 1, 1, tzinfo=UTC),
        "AssumeRolePolicyDocument": ROLE_TRUST,
        "RolePolicyList": [],
        "AttachedManagedPolicies": [],
    }


def test_gaad_follows_markers_across_pages() -> None:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    clients = AwsClients(boto3.Session(region_name="us-east-1"))
    clients._cache[("iam", None)] = client
    with Stubber(client) as stub:
        stub.add_response(
            "get_account_authorization_details",
            {"RoleDetailList": [_role("first")], "IsTruncated": True, "Marker": "page-2"},
            {"Filter": GAAD_FILTERS},
        )
        stub.add_response(
            "get_account_authorization_details",
            {"RoleDetailList": [_role("second")], "IsTruncated": False},
            {"Filter": GAAD_FILTERS, "Marker": "page-2"},
        )
        roles = _gaad(clients).roles
        stub.assert_no_pending_responses()
    assert [r.name for r in roles] == ["first", "second"]
    assert roles[0].trust_policy["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_retries_are_configured_for_throttling() -> None:
    client = AwsClients(boto3.Session(region_name="us-east-1")).client("iam")
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] >= 10
