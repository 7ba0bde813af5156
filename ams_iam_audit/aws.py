"""Reaching AWS: one boto3 session per run, optionally on an assumed execution role, and the account
guard that runs before anything is read.

The endpoint comes from ``--aws-endpoint-url`` or, as boto3 does by itself, from ``AWS_ENDPOINT_URL``;
the demo account and the tests point it at a local moto server, so the code path is the one used
against AWS. Retries use botocore's ``standard`` mode with a generous attempt budget: IAM throttles
large accounts, and a throttled-out call becomes an unreadable section, never a silent gap.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .aimodelshare import EXECUTION_ROLE_ENV

__all__ = [
    "RETRY_CONFIG",
    "AccountMismatchError",
    "AwsAccessError",
    "AwsClients",
    "AwsTarget",
    "CallerIdentity",
    "assume_role_session",
    "caller_identity",
    "error_code",
    "get_execution_session",
    "guard_account",
    "is_account_id",
    "open_session",
]

RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 10},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="ams-iam-audit",
)
_SESSION_NAME = "ams-iam-audit"
_ACCOUNT_RE = re.compile(r"\d{12}")


class AwsAccessError(RuntimeError):
    """Credentials, role or endpoint that do not work; the message says which and why."""


class AccountMismatchError(AwsAccessError):
    """The credentials reach another account than the one the user asked to audit."""


@dataclass(frozen=True)
class AwsTarget:
    """Where to audit, as the user asked for it."""

    account_id: str
    regions: tuple[str, ...]
    profile: str | None = None
    role_arn: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = None  # explicit credentials: only the demo and tests set these
    secret_access_key: str | None = None


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str
    arn: str


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class AwsClients:
    """Creates (once) and hands out boto3 clients for one session and endpoint. Safe to call from
    threads: creation is serialised, since boto3 sessions are not thread-safe; clients are."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self._cache: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            return self._cache[key] if key in self._cache else self._create(key)

    def _create(self, key: tuple[str, str | None]) -> Any:
        service, region = key
        kwargs: dict[str, Any] = {"config": RETRY_CONFIG}
        if region is not None:
            kwargs["region_name"] = region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        client = self._cache[key] = self.session.client(service, **kwargs)  # type: ignore[call-overload]
        return client


def _base_session(target: AwsTarget) -> boto3.Session:
    kwargs: dict[str, Any] = {"region_name": target.regions[0] if target.regions else None}
    if target.profile:
        kwargs["profile_name"] = target.profile
    if target.access_key_id:
        kwargs["aws_access_key_id"] = target.access_key_id
        kwargs["aws_secret_access_key"] = target.secret_access_key
    try:
        return boto3.Session(**kwargs)
    except BotoCoreError as exc:
        raise AwsAccessError(f"cannot create an AWS session (profile {target.profile!r}): {exc}") from None


def assume_role_session(
    base: boto3.Session, role_arn: str, endpoint_url: str | None = None, region: str | None = None
) -> boto3.Session:
    """A session on temporary credentials from STS AssumeRole on ``role_arn``."""
    sts = AwsClients(base, endpoint_url).client("sts", region or base.region_name)
    try:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=_SESSION_NAME)["Credentials"]
    except (ClientError, BotoCoreError) as exc:
        raise AwsAccessError(f"cannot assume role {role_arn}: {error_code(exc)}: {exc}") from None
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region or base.region_name,
    )


def get_execution_session(
    role_arn: str | None = None, *, base: boto3.Session | None = None, endpoint_url: str | None = None
) -> boto3.Session:
    """The refactored library's convention: a session on ``role_arn`` or, when not given, on the role
    named by ``AIMODELSHARE_EXECUTION_ROLE_ARN``. Raises :class:`AwsAccessError` when neither is set
    or the role cannot be assumed (the message names the role)."""
    arn = role_arn or os.environ.get(EXECUTION_ROLE_ENV)
    if not arn:
        raise AwsAccessError(f"no execution role: pass role_arn or set {EXECUTION_ROLE_ENV}")
    return assume_role_session(base or boto3.Session(), arn, endpoint_url)


def caller_identity(session: boto3.Session, endpoint_url: str | None = None) -> CallerIdentity:
    sts = AwsClients(session, endpoint_url).client("sts", session.region_name)
    try:
        ident = sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise AwsAccessError(f"cannot identify the caller (sts:GetCallerIdentity): {error_code(exc)}: {exc}") from None
    return CallerIdentity(account_id=str(ident["Account"]), arn=str(ident["Arn"]))


def guard_account(expected: str, actual: CallerIdentity | str) -> None:
    """Refuse to go on when the credentials reach another account than ``expected``."""
    account = actual.account_id if isinstance(actual, CallerIdentity) else actual
    if account != expected:
        who = f" as {actual.arn}" if isinstance(actual, CallerIdentity) else ""
        raise AccountMismatchError(
            f"--aws-account is {expected} but the credentials reach account {account}{who}; nothing was audited"
        )


def open_session(target: AwsTarget) -> tuple[AwsClients, CallerIdentity]:
    """Session for ``target`` (role assumed when asked), checked against the expected account."""
    session = _base_session(target)
    if target.role_arn:
        session = assume_role_session(
            session, target.role_arn, target.endpoint_url, target.regions[0] if target.regions else None
        )
    ident = caller_identity(session, target.endpoint_url)
    guard_account(target.account_id, ident)
    return AwsClients(session, target.endpoint_url), ident


def is_account_id(value: str) -> bool:
    return _ACCOUNT_RE.fullmatch(value) is not None
