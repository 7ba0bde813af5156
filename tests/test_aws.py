"""Sessions: the library's execution-role convention, and the account guard, against moto."""

from __future__ import annotations

import boto3
import pytest
from conftest import ACCOUNT, Account

from ams_iam_audit.aws import AccountMismatchError, AwsAccessError, get_execution_session, guard_account


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
