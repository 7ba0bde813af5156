"""Sessions: the library's execution-role convention, and the account guard, against moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT, Account

from ams_iam_audit.aws import (
    AccountMismatchError,
    AwsAccessError,
    AwsTarget,
    assume_with,
    base_session,
    get_execution_session,
    guard_account,
)


def test_execution_session_from_the_environment(aws: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMODELSHARE_EXECUTION_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/aimodelshare-execution-role")
    session = get_execution_session(base=boto3.Session(region_name="us-east-1"), endpoint_url=aws.url)
    identity = session.client("sts", endpoint_url=aws.url).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/aimodelshare-execution-role/ams-iam-audit"
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.token  # temporary credentials, not the caller's keys


def test_execution_session_needs_a_role(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIMODELSHARE_EXECUTION_ROLE_ARN", raising=False)
    with pytest.raises(AwsAccessError, match="set AIMODELSHARE_EXECUTION_ROLE_ARN"):
        get_execution_session()


def test_guard_names_both_accounts() -> None:
    guard_account(ACCOUNT, ACCOUNT)
    with pytest.raises(AccountMismatchError, match=f"--aws-account is 111111111111 but .* reach account {ACCOUNT}"):
        guard_account("111111111111", ACCOUNT)


def test_assumed_credentials_renew_themselves_before_they_expire(aws: Account) -> None:
    """A chained AssumeRole lasts at most an hour on AWS, and reading an organization takes longer:
    credentials close to their expiry are renewed by assuming the role again, not used until refused."""
    role = aws.role("auditor")
    sts = boto3.Session(region_name="us-east-1").client("sts", endpoint_url=aws.url)
    answered: list[str] = []

    def expiring_soon(parsed: dict[str, Any], **_: Any) -> None:
        answered.append(parsed["Credentials"]["AccessKeyId"])
        if len(answered) == 1:  # the first answer expires in 5 minutes: inside botocore's renewal window
            parsed["Credentials"]["Expiration"] = datetime.now(UTC) + timedelta(minutes=5)

    sts.meta.events.register("after-call.sts.AssumeRole", expiring_soon)
    session = assume_with(sts, role, "ams-iam-audit@test", "us-east-1")
    assert len(answered) == 1
    identity = session.client("sts", endpoint_url=aws.url).get_caller_identity()
    assert len(answered) == 2, "the credentials were renewed before the call"
    assert identity["Arn"].endswith(":assumed-role/auditor/ams-iam-audit@test")
    credentials = session.get_credentials()
    assert credentials is not None
    assert credentials.get_frozen_credentials().access_key == answered[1]


def test_a_refused_assume_role_names_the_role(aws: Account) -> None:
    sts = boto3.Session(region_name="us-east-1").client("sts", endpoint_url=aws.url)
    sts.meta.events.register("before-call.sts.AssumeRole", _refuse)  # type: ignore[arg-type]  # answers in its place
    with pytest.raises(AwsAccessError, match=r"cannot assume role arn:aws:iam::123456789012:role/x: AccessDenied"):
        assume_with(sts, "arn:aws:iam::123456789012:role/x", "ams-iam-audit@test", "us-east-1")


def _refuse(**_: Any) -> tuple[Any, dict[str, Any]]:
    error = {"Code": "AccessDenied", "Message": "not authorized to perform: sts:AssumeRole"}
    return _Response(403), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""


def test_the_audit_role_session_is_named_for_who_audits(aws: Account) -> None:
    """``--aws-role-arn``: the session name carries the caller, as each account's does."""
    role = aws.role("audit-readonly")
    target = AwsTarget(account_id=ACCOUNT, regions=("us-east-1",), role_arn=role, endpoint_url=aws.url)
    _, identity = base_session(target)
    assert identity.arn.endswith(":assumed-role/audit-readonly/ams-iam-audit@moto")
