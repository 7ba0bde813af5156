"""Collection details that moto cannot show: GAAD paging (moto returns one page), paging checks, retries
and timeouts config."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.stub import Stubber

from ams_iam_audit.aws import PAGING, AwsClients, CallError, paged
from ams_iam_audit.inventory.collect import GAAD_FILTERS, _gaad

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


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
    config: Any = client.meta.config  # botocore-stubs do not declare Config's attributes
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] >= 10


def _stubbed_iam() -> tuple[IAMClient, Stubber]:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        (
            [{"AccessKeyMetadata": [], "IsTruncated": True}],
            "InconsistentPaging calling iam:ListAccessKeys: page 1 says IsTruncated but gives no Marker",
        ),
        (
            [
                {"AccessKeyMetadata": [], "IsTruncated": True, "Marker": "a"},
                {"AccessKeyMetadata": [], "IsTruncated": True, "Marker": "a"},
            ],
            "InconsistentPaging calling iam:ListAccessKeys: page 2 repeats the Marker of an earlier page",
        ),
    ],
    ids=["truncated without marker", "marker repeated"],
)
def test_paged_refuses_inconsistent_pages(pages: list[dict[str, object]], expected: str) -> None:
    client, stub = _stubbed_iam()
    with stub:
        for number, page in enumerate(pages):
            stub.add_response("list_access_keys", page, {"UserName": "u", **({"Marker": "a"} if number else {})})
        with pytest.raises(CallError, match=expected):
            list(paged(client, "list_access_keys", "AccessKeyMetadata", UserName="u"))


def test_paged_reads_every_page() -> None:
    client, stub = _stubbed_iam()
    key = {"UserName": "u", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active"}
    with stub:
        stub.add_response("list_access_keys", {"AccessKeyMetadata": [key], "IsTruncated": True, "Marker": "a"})
        stub.add_response("list_access_keys", {"AccessKeyMetadata": [key], "IsTruncated": False}, {"Marker": "a"})
        pages = list(paged(client, "list_access_keys", "AccessKeyMetadata"))
    assert [len(p["AccessKeyMetadata"]) for p in pages] == [1, 1]


def test_every_paginated_call_in_the_package_is_checked_by_paged() -> None:
    """Each operation the package pages through (``pages(client, "op", ...)``) has its paging in
    PAGING, so ``paged`` can check it."""
    import re
    from pathlib import Path

    import ams_iam_audit

    root = Path(ams_iam_audit.__file__).parent
    paging = re.compile(r'\b_?pages\(\w+, "(\w+)"')
    operations = {m.group(1) for f in root.rglob("*.py") for m in paging.finditer(f.read_text())}
    assert operations
    assert operations <= {op for _, op in PAGING}, operations - {op for _, op in PAGING}


def test_call_timeout_bounds_each_attempt() -> None:
    clients = AwsClients(boto3.Session(region_name="us-east-1"), call_timeout=4)
    config: Any = clients.client("iam").meta.config  # botocore-stubs do not declare Config's attributes
    assert (config.connect_timeout, config.read_timeout) == (2, 2)
    default: Any = AwsClients(boto3.Session(region_name="us-east-1")).client("iam").meta.config
    assert default.connect_timeout == 10


def test_the_readme_lists_exactly_the_permissions_collection_calls() -> None:
    """The read-only policy the README prints is the one collection needs: nothing missing (a denied
    read becomes an error), nothing extra (least privilege)."""
    import json
    import re
    from pathlib import Path

    from ams_iam_audit.inventory.collect import READ_PERMISSIONS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Permissions the audit needs", 1)[1]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None
    (statement,) = json.loads(block.group(1))["Statement"]
    assert sorted(statement["Action"]) == sorted(READ_PERMISSIONS)
