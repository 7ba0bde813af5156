"""Reaching AWS: one boto3 session per run, optionally on an assumed execution role, and the account
guard that runs before anything is read.

The endpoint comes from ``--aws-endpoint-url`` or, as boto3 does by itself, from ``AWS_ENDPOINT_URL``;
the demo account and the tests point it at a local moto server, so the code path is the one used
against AWS. Retries use botocore's ``standard`` mode with a generous attempt budget: IAM throttles
large accounts, and a throttled-out call becomes an unreadable section, never a silent gap.

Every call has a deadline (``--aws-call-timeout``, default :data:`DEFAULT_CALL_TIMEOUT` seconds) that
covers all its attempts: each attempt may wait at most half of it to connect or for the next bytes,
and no attempt starts once it has passed, so a call that never answers ends as
:class:`CallTimeoutError` (naming the service and operation) after about the deadline, never hours.
:func:`paged` reads every page of a paginated call and refuses an inconsistent one.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .aimodelshare import EXECUTION_ROLE_ENV

if TYPE_CHECKING:  # the boto3 stubs are a dev dependency: the runtime never imports them
    from botocore.client import BaseClient
    from mypy_boto3_accessanalyzer import AccessAnalyzerClient
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_codebuild import CodeBuildClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_glue import GlueClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3control import S3ControlClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sts import STSClient

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_REGION",
    "PAGING",
    "RETRY_CONFIG",
    "AccountMismatchError",
    "AwsAccessError",
    "AwsClients",
    "AwsTarget",
    "CallError",
    "CallTimeoutError",
    "CallerIdentity",
    "Paging",
    "assume_role_session",
    "assume_with",
    "auditor_session_name",
    "base_session",
    "call",
    "caller_identity",
    "client_config",
    "error_code",
    "get_execution_session",
    "guard_account",
    "is_account_id",
    "open_session",
    "paged",
    "role_arn_in",
]

#: Seconds one AWS call may take, all its attempts and retries included (``--aws-call-timeout``).
DEFAULT_CALL_TIMEOUT = 60.0
#: The region used when neither ``--aws-region``, the environment nor the profile names one.
DEFAULT_REGION = "us-east-1"
#: Connect timeout per attempt, at most (never more than half the call's deadline).
_CONNECT_TIMEOUT = 10.0
_DEADLINE_KEY = "ams_iam_audit_deadline"


def client_config(call_timeout: float = DEFAULT_CALL_TIMEOUT) -> Config:
    """botocore configuration: standard retries, and per-attempt timeouts within ``call_timeout``."""
    if not call_timeout > 0:
        raise ValueError(f"call timeout must be a positive number of seconds, got {call_timeout!r}")
    return Config(
        retries={"mode": "standard", "max_attempts": 10},
        connect_timeout=min(_CONNECT_TIMEOUT, call_timeout / 2),
        read_timeout=call_timeout / 2,
        user_agent_extra="ams-iam-audit",
    )


RETRY_CONFIG = client_config()
_SESSION_NAME = "ams-iam-audit"
_ACCOUNT_RE = re.compile(r"[0-9]{12}")  # ASCII digits: \d would take any script's


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
    call_timeout: float = DEFAULT_CALL_TIMEOUT  # seconds per call, all attempts included


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str
    arn: str

    @property
    def partition(self) -> str:
        """``aws``, ``aws-cn``, ``aws-us-gov``: the partition of the caller's ARN."""
        return self.arn.split(":")[1] if self.arn.startswith("arn:") else "aws"


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    if isinstance(exc, CallError):
        return exc.code
    return type(exc).__name__


class CallTimeoutError(BotoCoreError):
    """One AWS call that did not answer within its deadline (all attempts included)."""

    fmt = "{service}:{operation} did not answer within {timeout:g} s (--aws-call-timeout)"


def _operation(event_name: str) -> tuple[str, str]:
    """``before-send.iam.GetAccountAuthorizationDetails`` -> ("iam", "GetAccountAuthorizationDetails")."""
    parts = event_name.split(".")
    return (parts[1], parts[2]) if len(parts) >= 3 else ("aws", event_name)


def _install_deadline(client: BaseClient, call_timeout: float) -> None:
    """Give every call of ``client`` a deadline over all its attempts: set when the call starts,
    checked before each attempt is sent and before a failed attempt is retried."""

    def start(context: dict[str, Any], **_: Any) -> None:
        context[_DEADLINE_KEY] = time.monotonic() + call_timeout

    def expired(context: Mapping[str, Any] | None, event_name: str) -> None:
        deadline = (context or {}).get(_DEADLINE_KEY)
        if deadline is not None and time.monotonic() >= deadline:
            service, operation = _operation(event_name)
            raise CallTimeoutError(service=service, operation=operation, timeout=call_timeout)

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        expired(getattr(request, "context", None), event_name)

    def needs_retry(
        response: Any,
        caught_exception: BaseException | None,
        request_dict: Mapping[str, Any],
        event_name: str,
        **_: Any,
    ) -> None:
        failed = caught_exception is not None or (
            response is not None and getattr(response[0], "status_code", 200) in (429, *range(500, 600))
        )
        if failed:  # a success that arrives late is kept; a failure past the deadline is not retried
            expired(request_dict.get("context"), event_name)

    events = client.meta.events
    events.register("before-call", start)
    events.register("before-send", before_send)
    events.register_first("needs-retry", needs_retry)


def _to_endpoint(endpoint_url: str) -> Callable[..., None]:
    """A ``before-sign`` handler sending each request to ``endpoint_url``'s host, its path unchanged."""
    target = urlsplit(endpoint_url)

    def handler(request: Any, **_: Any) -> None:
        request.url = urlunsplit(urlsplit(request.url)._replace(scheme=target.scheme, netloc=target.netloc))

    return handler


class AwsClients:
    """Creates (once) and hands out boto3 clients for one session and endpoint. Safe to call from
    threads: creation is serialised, since boto3 sessions are not thread-safe; clients are. Every
    client's calls have the deadline ``call_timeout`` (seconds, all attempts included)."""

    def __init__(
        self, session: boto3.Session, endpoint_url: str | None = None, call_timeout: float = DEFAULT_CALL_TIMEOUT
    ) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self.call_timeout = call_timeout
        self._config = client_config(call_timeout)
        self._cache: dict[tuple[str, str | None], BaseClient] = {}
        self._lock = threading.Lock()

    @overload
    def client(self, service: Literal["accessanalyzer"], region: str | None = None) -> AccessAnalyzerClient: ...
    @overload
    def client(self, service: Literal["apigateway"], region: str | None = None) -> APIGatewayClient: ...
    @overload
    def client(self, service: Literal["cloudformation"], region: str | None = None) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["cloudtrail"], region: str | None = None) -> CloudTrailClient: ...
    @overload
    def client(self, service: Literal["codebuild"], region: str | None = None) -> CodeBuildClient: ...
    @overload
    def client(self, service: Literal["ec2"], region: str | None = None) -> EC2Client: ...
    @overload
    def client(self, service: Literal["ecs"], region: str | None = None) -> ECSClient: ...
    @overload
    def client(self, service: Literal["glue"], region: str | None = None) -> GlueClient: ...
    @overload
    def client(self, service: Literal["iam"], region: str | None = None) -> IAMClient: ...
    @overload
    def client(self, service: Literal["lambda"], region: str | None = None) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["organizations"], region: str | None = None) -> OrganizationsClient: ...
    @overload
    def client(self, service: Literal["s3"], region: str | None = None) -> S3Client: ...
    @overload
    def client(self, service: Literal["s3control"], region: str | None = None) -> S3ControlClient: ...
    @overload
    def client(self, service: Literal["sagemaker"], region: str | None = None) -> SageMakerClient: ...
    @overload
    def client(self, service: Literal["sts"], region: str | None = None) -> STSClient: ...
    @overload
    def client(self, service: str, region: str | None = None) -> BaseClient: ...

    def client(self, service: str, region: str | None = None) -> BaseClient:
        """The client of ``service`` in ``region`` (the session's when ``None``), created on first use.
        A service named by literal is typed with its boto3 stub (``"iam"`` -> ``IAMClient``); one
        named by a variable is a plain :class:`~botocore.client.BaseClient`, for :func:`call` and
        :func:`paged`."""
        key = (service, region)
        with self._lock:
            return self._cache[key] if key in self._cache else self._create(key)

    def _create(self, key: tuple[str, str | None]) -> BaseClient:
        service, region = key
        kwargs: dict[str, Any] = {"config": self._config}
        if region is not None:
            kwargs["region_name"] = region
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        client: BaseClient = self.session.client(service, **kwargs)  # type: ignore[call-overload]
        if self.endpoint_url and service == "s3control":
            # s3control puts the account id in front of the host ("<account>.<endpoint>"), which an
            # endpoint given by URL (a moto server, a proxy) does not answer to: send it to the URL
            client.meta.events.register("before-sign.s3-control", _to_endpoint(self.endpoint_url))
        _install_deadline(client, self.call_timeout)
        self._cache[key] = client
        return client


# --- calls and pages ---------------------------------------------------------------------------------


class CallError(Exception):
    """An AWS call that gave no usable answer: refused, failed in transport, timed out, malformed,
    or inconsistently paged. ``call`` names it (``iam:GetAccountAuthorizationDetails``)."""

    def __init__(self, call: str, code: str, detail: str) -> None:
        super().__init__(f"{code} calling {call}: {detail}")
        self.call = call
        self.code = code
        self.detail = detail


def _call_name(client: BaseClient, operation: str) -> str:
    model = client.meta.service_model
    try:
        name = model.operation_model(client.meta.method_to_api_mapping[operation]).name
    except (KeyError, AttributeError):
        name = operation
    return f"{model.endpoint_prefix}:{name}"


def call(client: BaseClient, operation: str, **kwargs: Any) -> Mapping[str, Any]:
    """``client.<operation>(**kwargs)``, with every way it can fail as a :class:`CallError` naming the
    call: an AWS error, a transport error or timeout, and a response botocore could not parse (a
    garbage date, a body that is not the protocol's) or that is not an object."""
    name = _call_name(client, operation)
    method = getattr(client, operation)  # outside the handler: a wrong name is our bug, not AWS's answer
    try:
        response = method(**kwargs)
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message") or exc)
        raise CallError(name, error_code(exc), message) from None
    except BotoCoreError as exc:
        raise CallError(name, type(exc).__name__, str(exc)) from None
    except (ResponseParserError, ValueError, TypeError, KeyError, RuntimeError, AttributeError) as exc:
        # botocore's parsers raise these for a body that is not the protocol's (XML cut short, a
        # date that is not one, an object where a list belongs)
        raise CallError(name, "MalformedResponse", f"{type(exc).__name__}: {exc}") from None
    if not isinstance(response, Mapping):
        raise CallError(name, "MalformedResponse", f"expected an object, got {type(response).__name__}")
    return response


@dataclass(frozen=True)
class Paging:
    """How one operation pages: the request parameter that asks for the next page, the response
    field that gives it, and (IAM) the flag that says there is one."""

    input_token: str
    output_token: str
    more_flag: str | None = None


_IAM_LISTS = (
    "list_access_keys",
    "list_attached_role_policies",
    "list_attached_user_policies",
    "list_groups_for_user",
    "list_instance_profiles_for_role",
    "list_mfa_devices",
    "list_policy_versions",
    "list_role_policies",
    "list_role_tags",
    "list_signing_certificates",
    "list_ssh_public_keys",
    "list_user_policies",
    "list_user_tags",
)

#: Every paginated operation the audit and ``--fix`` call, by (service, boto3 method name).
PAGING: dict[tuple[str, str], Paging] = {
    ("iam", "get_account_authorization_details"): Paging("Marker", "Marker", "IsTruncated"),
    **{("iam", operation): Paging("Marker", "Marker", "IsTruncated") for operation in _IAM_LISTS},
    ("s3", "list_buckets"): Paging("ContinuationToken", "ContinuationToken"),
    ("lambda", "list_functions"): Paging("Marker", "NextMarker"),
    ("codebuild", "list_projects"): Paging("nextToken", "nextToken"),
    ("apigateway", "get_rest_apis"): Paging("position", "position"),
    ("apigateway", "get_resources"): Paging("position", "position"),
    ("ecs", "list_clusters"): Paging("nextToken", "nextToken"),
    ("ecs", "list_services"): Paging("nextToken", "nextToken"),
    ("ecs", "list_tasks"): Paging("nextToken", "nextToken"),
    ("ecs", "list_task_definitions"): Paging("nextToken", "nextToken"),
    ("ec2", "describe_instances"): Paging("NextToken", "NextToken"),
    ("cloudformation", "describe_stacks"): Paging("NextToken", "NextToken"),
    ("glue", "get_dev_endpoints"): Paging("NextToken", "NextToken"),
    ("sagemaker", "list_notebook_instances"): Paging("NextToken", "NextToken"),
    ("accessanalyzer", "list_analyzers"): Paging("nextToken", "nextToken"),
    ("organizations", "list_accounts"): Paging("NextToken", "NextToken"),
}


def paged(client: BaseClient, operation: str, key: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """Every page of a paginated call, each checked: ``key`` (the list the caller reads) is a list
    of objects when present; a page that says there is more gives a marker; no marker repeats. An
    inconsistent page is a :class:`CallError` naming the call and the page, never a silent end."""
    service = client.meta.service_model.service_name
    paging = PAGING[(service, operation)]
    name = _call_name(client, operation)
    seen: set[str] = set()
    token: str | None = None
    number = 1
    while True:
        params = dict(kwargs)
        if token is not None:
            params[paging.input_token] = token
        page = call(client, operation, **params)
        items = page.get(key)
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, Mapping | str) for i in items)):
            raise CallError(name, "MalformedResponse", f"page {number}: {key} is not a list of items")
        yield page
        following = page.get(paging.output_token)
        if paging.more_flag is not None:
            more = page.get(paging.more_flag)
            if not isinstance(more, bool | None):
                raise CallError(name, "MalformedResponse", f"page {number}: {paging.more_flag} is {more!r}")
            if not more:
                return
            if not following:
                raise CallError(
                    name,
                    "InconsistentPaging",
                    f"page {number} says {paging.more_flag} but gives no {paging.output_token}",
                )
        elif not following:
            return
        if not isinstance(following, str):
            raise CallError(name, "MalformedResponse", f"page {number}: {paging.output_token} is {following!r}")
        if following in seen:
            raise CallError(
                name,
                "InconsistentPaging",
                f"page {number} repeats the {paging.output_token} of an earlier page ({following[:40]!r})",
            )
        seen.add(following)
        token = following
        number += 1


def _base_session(target: AwsTarget) -> boto3.Session:
    kwargs: dict[str, Any] = {"region_name": target.regions[0] if target.regions else None}
    if target.profile:
        kwargs["profile_name"] = target.profile
    if target.access_key_id:
        kwargs["aws_access_key_id"] = target.access_key_id
        kwargs["aws_secret_access_key"] = target.secret_access_key
    try:
        session = boto3.Session(**kwargs)
        if session.region_name is None:
            # no --aws-region, AWS_REGION/AWS_DEFAULT_REGION or profile region (a CI runner with bare
            # credentials): the documented default, rather than botocore's NoRegionError on the first call
            session = boto3.Session(**{**kwargs, "region_name": DEFAULT_REGION})
        return session
    except BotoCoreError as exc:
        raise AwsAccessError(f"cannot create an AWS session (profile {target.profile!r}): {exc}") from None


def assume_role_session(
    base: boto3.Session,
    role_arn: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    call_timeout: float = DEFAULT_CALL_TIMEOUT,
    session_name: str = _SESSION_NAME,
) -> boto3.Session:
    """A session on temporary credentials from STS AssumeRole on ``role_arn``."""
    sts = AwsClients(base, endpoint_url, call_timeout).client("sts", region or base.region_name)
    return assume_with(sts, role_arn, session_name, region or base.region_name)


def assume_with(sts: Any, role_arn: str, session_name: str, region: str | None) -> boto3.Session:
    """A new session (one per thread: sessions are not thread-safe, clients are) on the temporary
    credentials ``sts`` (a client, which threads may share) gets from AssumeRole on ``role_arn``.

    The credentials renew themselves: botocore assumes the role again shortly before they expire
    (``RefreshableCredentials``). A role assumed from an assumed role (``--aws-role-arn``, then each
    account's role) lasts at most an hour whatever the role allows, and reading a large organization
    or account takes longer than that. Raises :class:`AwsAccessError` naming the role and AWS's answer
    (a later renewal that fails raises it from the call that needed it)."""

    def assume() -> dict[str, str]:
        try:
            creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
        except (ClientError, BotoCoreError) as exc:
            raise AwsAccessError(f"cannot assume role {role_arn}: {error_code(exc)}: {exc}") from None
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=assume(), refresh_using=assume, method="sts-assume-role"
    )
    core = botocore.session.Session()
    # first in the session's chain of credential providers: nothing of the environment is consulted
    core.get_component("credential_provider").insert_before("env", _Given(credentials))
    return boto3.Session(botocore_session=core, region_name=region)


class _Given(CredentialProvider):
    """A credential provider that hands out the credentials it was given (refreshing ones)."""

    METHOD = "ams-iam-audit-assume-role"

    def __init__(self, credentials: RefreshableCredentials) -> None:
        super().__init__()
        self._given = credentials

    def load(self) -> RefreshableCredentials:
        return self._given


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


def caller_identity(
    session: boto3.Session, endpoint_url: str | None = None, call_timeout: float = DEFAULT_CALL_TIMEOUT
) -> CallerIdentity:
    sts = AwsClients(session, endpoint_url, call_timeout).client("sts", session.region_name)
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


def base_session(target: AwsTarget) -> tuple[boto3.Session, CallerIdentity]:
    """The caller's own session for ``target`` (its profile, explicit credentials, and
    ``--aws-role-arn`` assumed when given) and who the caller is, with no account guard: a run of
    several accounts reaches each of them from here and guards each one (:func:`guard_account`)."""
    session = _base_session(target)
    if target.role_arn:
        try:  # the session name says who audits (CloudTrail records it), as each account's does
            name = auditor_session_name(caller_identity(session, target.endpoint_url, target.call_timeout).arn)
        except AwsAccessError:
            name = _SESSION_NAME  # the AssumeRole below then says what is wrong with these credentials
        session = assume_role_session(
            session,
            target.role_arn,
            target.endpoint_url,
            target.regions[0] if target.regions else None,
            target.call_timeout,
            session_name=name,
        )
    return session, caller_identity(session, target.endpoint_url, target.call_timeout)


_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)


def auditor_session_name(caller_arn: str) -> str:
    """The RoleSessionName that says who audits: ``ams-iam-audit@<caller name>`` (the last part of
    the caller's ARN: a user's name, an assumed role's session name), in what AWS allows (2 to 64
    of letters, digits and ``_+=,.@-``): any other character becomes ``-`` and the name is cut at 64
    characters. CloudTrail of the audited account records it with every call."""
    who = caller_arn.rsplit("/", 1)[-1] if "/" in caller_arn else caller_arn.rsplit(":", 1)[-1]
    return _SESSION_NAME_CHARS.sub("-", f"{_SESSION_NAME}@{who}")[:64]


def role_arn_in(account_id: str, role_name: str, partition: str = "aws") -> str:
    """``arn:<partition>:iam::<account>:role/<name>``: the role a run assumes in a member account."""
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def open_session(target: AwsTarget) -> tuple[AwsClients, CallerIdentity]:
    """Session for ``target`` (role assumed when asked), checked against the expected account."""
    session, ident = base_session(target)
    guard_account(target.account_id, ident)
    return AwsClients(session, target.endpoint_url, target.call_timeout), ident


def is_account_id(value: str) -> bool:
    return _ACCOUNT_RE.fullmatch(value) is not None
