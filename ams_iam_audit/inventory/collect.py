"""Reading an account into an :class:`Inventory` with as few API calls as the APIs allow.

* IAM: GetAccountAuthorizationDetails, every entity filter, every page (``Marker``).
* Access keys: the credential report (one report for every user); ``ListAccessKeys`` and
  ``GetAccessKeyLastUsed`` only for AIModelShare's ephemeral users (their evidence names each key by
  its masked id, which the report lacks), or for every user when the report cannot be had.
* S3: ListBuckets, then per bucket (threaded) its policy and public access block.
* Consumers of roles, per region (threaded): Lambda ListFunctions, CodeBuild ListProjects +
  BatchGetProjects, API Gateway GetRestApis + GetResources(embed=methods).

Every part that fails becomes an unreadable :class:`Section` naming the permission it needed; the
rest of the run goes on. Nothing here decides what is compliant.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from .. import aimodelshare
from ..aws import AwsClients, CallerIdentity, error_code
from ..policy.document import PolicyParseError, decode_policy
from .gaad import entities_from_gaad, merge_pages, parse_time
from .model import REDEPLOY_TAG, AccessKey, Bucket, Consumer, Inventory, Section, User, mask_key_id

__all__ = ["GAAD_FILTERS", "KEY_ID_LOOKUPS", "READ_PERMISSIONS", "collect"]

#: With the credential report, masked key ids are looked up (ListAccessKeys, GetAccessKeyLastUsed)
#: for the AIModelShare users only while there are at most this many: IAM requests stay a constant
#: beyond GetAccountAuthorizationDetails's pages however large the account.
KEY_ID_LOOKUPS = 25

#: Every action collection calls (read-only). What is denied becomes an unreadable section.
READ_PERMISSIONS = (
    "sts:GetCallerIdentity",
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "s3:ListAllMyBuckets",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:GetBucketPublicAccessBlock",
    "lambda:ListFunctions",
    "codebuild:ListProjects",
    "codebuild:BatchGetProjects",
    "apigateway:GET",
)

GAAD_FILTERS = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
_MAX_WORKERS = 8
_REPORT_TIMEOUT_S = 60.0

T = TypeVar("T")


class _Unreadable(Exception):
    def __init__(self, section: Section) -> None:
        super().__init__(section.describe())
        self.section = section


def _guarded(name: str, permission: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; turn an AWS or transport error into :class:`_Unreadable` for section ``name``."""
    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        raise _Unreadable(
            Section(name=name, readable=False, permission=permission, error=f"{error_code(exc)}: {exc}")
        ) from None


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key) or []


# --- IAM -------------------------------------------------------------------------------------------


def _gaad(clients: AwsClients) -> dict[str, list[Any]]:
    iam = clients.client("iam")
    pages = iam.get_paginator("get_account_authorization_details").paginate(Filter=GAAD_FILTERS)
    return merge_pages(pages)


# --- access keys ----------------------------------------------------------------------------------


def _credential_report(clients: AwsClients) -> dict[str, list[AccessKey]]:
    iam = clients.client("iam")
    deadline = time.monotonic() + _REPORT_TIMEOUT_S
    delay = 0.2
    while iam.generate_credential_report()["State"] != "COMPLETE":
        if time.monotonic() > deadline:
            raise _Unreadable(
                Section(
                    name="access_keys",
                    readable=False,
                    error="credential report not ready in time",
                    permission="iam:GenerateCredentialReport",
                )
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    content = iam.get_credential_report()["Content"]
    text = content.decode() if isinstance(content, bytes) else str(content)
    keys: dict[str, list[AccessKey]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        user = row.get("user", "")
        if user == "<root_account>":
            continue
        user_keys = []
        for slot in (1, 2):
            rotated = row.get(f"access_key_{slot}_last_rotated", "N/A")
            if rotated in ("N/A", "", None):
                continue
            used = row.get(f"access_key_{slot}_last_used_date", "N/A")
            service = row.get(f"access_key_{slot}_last_used_service", "N/A")
            user_keys.append(
                AccessKey(
                    masked_id=None,
                    slot=slot,
                    status="Active" if row.get(f"access_key_{slot}_active") == "true" else "Inactive",
                    created=parse_time(rotated),
                    last_used=parse_time(used) if used not in ("N/A", "no_information") else None,
                    last_used_service=service if service not in ("N/A", "not_supported") else None,
                )
            )
        keys[user] = user_keys
    return keys


def _listed_keys(clients: AwsClients, user: str) -> list[AccessKey]:
    iam = clients.client("iam")
    out = []
    for meta in _pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=user):
        last = iam.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"]).get("AccessKeyLastUsed", {})
        service = last.get("ServiceName")
        out.append(
            AccessKey(
                masked_id=mask_key_id(meta["AccessKeyId"]),
                slot=None,
                status=meta["Status"],
                created=parse_time(meta.get("CreateDate")),
                last_used=parse_time(last.get("LastUsedDate")),
                last_used_service=service if service not in (None, "N/A") else None,
            )
        )
    return out


def _is_aimodelshare_user(user: User) -> bool:
    return aimodelshare.is_ephemeral_user(user.name) or any(
        aimodelshare.is_ephemeral_policy(p.name) for p in user.attached_policies
    )


def _access_keys(
    clients: AwsClients, pool: ThreadPoolExecutor, users: tuple[User, ...]
) -> tuple[dict[str, tuple[AccessKey, ...]], Section]:
    try:
        report = _guarded(
            "access_keys", "iam:GenerateCredentialReport, iam:GetCredentialReport", lambda: _credential_report(clients)
        )
        targets = [u.name for u in users if _is_aimodelshare_user(u)]
        source = "credential report"
        if len(targets) > KEY_ID_LOOKUPS:
            # two calls per user would make IAM requests grow with the account: the report alone
            # (keys by slot, with status, age and last use, without masked ids) stays constant
            targets = []
            source = f"credential report (masked key ids looked up only for up to {KEY_ID_LOOKUPS} AIModelShare users)"
    except _Unreadable as unreadable:
        report = {}
        targets = [u.name for u in users]
        source = f"ListAccessKeys (credential report unavailable: {unreadable.section.error})"
    keys: dict[str, tuple[AccessKey, ...]] = {u.name: tuple(report.get(u.name, ())) for u in users}
    permission = "iam:ListAccessKeys, iam:GetAccessKeyLastUsed"
    futures = {
        name: pool.submit(_guarded, "access_keys", permission, lambda n=name: _listed_keys(clients, n))
        for name in targets
    }
    for name, future in futures.items():
        try:
            keys[name] = tuple(future.result())
        except _Unreadable as unreadable:
            if name not in report:
                return {}, unreadable.section
            # keep the report's data for this user; its key ids stay unknown
    return keys, Section(name="access_keys", readable=True, source=source)


# --- S3 ---------------------------------------------------------------------------------------------


def _bucket(clients: AwsClients, name: str, region: str | None) -> Bucket:
    s3 = clients.client("s3", region)
    policy: Any = None
    policy_error = None
    try:
        policy = s3.get_bucket_policy(Bucket=name)["Policy"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchBucketPolicy":
            policy_error = f"{error_code(exc)} (needs s3:GetBucketPolicy)"
    except BotoCoreError as exc:
        policy_error = f"{error_code(exc)}: {exc}"
    pab = None
    pab_error = None
    try:
        pab = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if error_code(exc) != "NoSuchPublicAccessBlockConfiguration":
            pab_error = f"{error_code(exc)} (needs s3:GetBucketPublicAccessBlock)"
    except BotoCoreError as exc:
        pab_error = f"{error_code(exc)}: {exc}"
    document = None
    if policy is not None:
        try:
            document = decode_policy(policy, f"bucket {name} policy")
        except PolicyParseError as exc:
            policy_error = str(exc)
    return Bucket(
        name=name,
        region=region,
        policy=document,
        policy_error=policy_error,
        public_access_block=pab,
        public_access_block_error=pab_error,
    )


def _bucket_region(clients: AwsClients, item: dict[str, Any]) -> str | None:
    if item.get("BucketRegion"):
        return str(item["BucketRegion"])
    try:
        location = clients.client("s3").get_bucket_location(Bucket=item["Name"]).get("LocationConstraint")
    except (ClientError, BotoCoreError):
        return None
    # GetBucketLocation's legacy answers: no constraint is us-east-1, "EU" is eu-west-1.
    return str({None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location))


def _buckets(clients: AwsClients, pool: ThreadPoolExecutor) -> tuple[Bucket, ...]:
    s3 = clients.client("s3")
    items = _guarded("s3", "s3:ListAllMyBuckets", lambda: list(_pages(s3, "list_buckets", "Buckets")))
    regions = list(pool.map(lambda i: _bucket_region(clients, i), items))
    buckets = pool.map(lambda pair: _bucket(clients, pair[0]["Name"], pair[1]), zip(items, regions, strict=True))
    return tuple(sorted(buckets, key=lambda b: b.name))


# --- consumers --------------------------------------------------------------------------------------


def _lambda_consumers(clients: AwsClients, region: str) -> list[Consumer]:
    client = clients.client("lambda", region)
    return [
        Consumer(kind="lambda", region=region, name=f["FunctionName"], arn=f["FunctionArn"], role_arn=f["Role"])
        for f in _pages(client, "list_functions", "Functions")
        if f.get("Role")
    ]


def _codebuild_consumers(clients: AwsClients, region: str) -> list[Consumer]:
    client = clients.client("codebuild", region)
    names = list(_pages(client, "list_projects", "projects"))
    out = []
    for start in range(0, len(names), 100):
        for project in client.batch_get_projects(names=names[start : start + 100]).get("projects", []):
            if project.get("serviceRole"):
                out.append(
                    Consumer(
                        kind="codebuild",
                        region=region,
                        name=project["name"],
                        arn=project["arn"],
                        role_arn=project["serviceRole"],
                    )
                )
    return out


def _apigateway_consumers(clients: AwsClients, region: str) -> list[Consumer]:
    client = clients.client("apigateway", region)
    out = []
    for api in _pages(client, "get_rest_apis", "items"):
        stages: list[dict[str, Any]] | None = None
        for resource in _pages(client, "get_resources", "items", restApiId=api["id"], embed=["methods"]):
            for method, detail in sorted((resource.get("resourceMethods") or {}).items()):
                role = (detail.get("methodIntegration") or {}).get("credentials")
                if not role or ":role/" not in role:
                    continue  # no credentials, or the caller's own ("arn:aws:iam::*:user/*")
                arn = f"arn:aws:apigateway:{region}::/restapis/{api['id']}/resources/{resource['id']}/methods/{method}"
                if stages is None:  # one call per API, only for APIs whose integrations use a role
                    stages = sorted(
                        client.get_stages(restApiId=api["id"]).get("item", ()), key=lambda s: s["stageName"]
                    )
                out.append(
                    Consumer(
                        kind="apigateway",
                        region=region,
                        arn=arn,
                        role_arn=role,
                        name=f"{api.get('name', api['id'])} {method} {resource.get('path', '')}",
                        stages=tuple(s["stageName"] for s in stages),
                        pending_stages=tuple(s["stageName"] for s in stages if REDEPLOY_TAG in (s.get("tags") or {})),
                    )
                )
    return out


_CONSUMER_READERS: tuple[tuple[str, str, Callable[[AwsClients, str], list[Consumer]]], ...] = (
    ("lambda", "lambda:ListFunctions", _lambda_consumers),
    ("codebuild", "codebuild:ListProjects, codebuild:BatchGetProjects", _codebuild_consumers),
    ("apigateway", "apigateway:GET", _apigateway_consumers),
)


# --- the whole account ------------------------------------------------------------------------------


def _try(fn: Callable[[], T]) -> tuple[T | None, Section | None]:
    try:
        return fn(), None
    except _Unreadable as unreadable:
        return None, unreadable.section


def collect(
    clients: AwsClients,
    identity: CallerIdentity,
    regions: Iterable[str],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Inventory:
    """Read the account behind ``clients`` into an :class:`Inventory`."""
    regions = tuple(dict.fromkeys(regions))
    collected_at = now()
    sections: list[Section] = []
    with ThreadPoolExecutor(max_workers=_MAX_WORKERS, thread_name_prefix="ams-collect") as pool:
        consumer_futures = [
            (
                f"{kind}:{region}",
                pool.submit(
                    _try, lambda r=region, read=read, k=kind, p=perm: _guarded(f"{k}:{r}", p, lambda: read(clients, r))
                ),
            )
            for kind, perm, read in _CONSUMER_READERS
            for region in regions
        ]
        bucket_future = pool.submit(_try, lambda: _buckets(clients, pool))
        gaad, gaad_error = _try(lambda: _guarded("iam", "iam:GetAccountAuthorizationDetails", lambda: _gaad(clients)))
        users: tuple[User, ...] = ()
        entities = None
        if gaad is not None:
            entities = entities_from_gaad(gaad)
            sections.append(Section(name="iam", readable=True, source="GetAccountAuthorizationDetails"))
            keys, key_section = _access_keys(clients, pool, entities.users)
            sections.append(key_section)
            users = tuple(replace(u, access_keys=keys[u.name]) if key_section.readable else u for u in entities.users)
        else:
            assert gaad_error is not None
            sections.append(gaad_error)
            sections.append(
                Section(
                    name="access_keys",
                    readable=False,
                    permission="iam:GetAccountAuthorizationDetails",
                    error="not read: the IAM section is unreadable",
                )
            )
        buckets, bucket_error = bucket_future.result()
        sections.append(bucket_error or Section(name="s3", readable=True, source="ListBuckets"))
        consumers: list[Consumer] = []
        for name, future in consumer_futures:
            found, error = future.result()
            sections.append(error or Section(name=name, readable=True))
            consumers.extend(found or ())

    return Inventory(
        account_id=identity.account_id,
        partition=identity.arn.split(":")[1] if identity.arn.startswith("arn:") else "aws",
        collected_at=collected_at,
        caller_arn=identity.arn,
        regions=regions,
        sections=tuple(sections),
        users=users,
        groups=entities.groups if entities else (),
        roles=entities.roles if entities else (),
        policies=entities.policies if entities else (),
        buckets=buckets or (),
        consumers=tuple(sorted(consumers, key=lambda c: (c.kind, c.region, c.arn))),
        source="live",
    )
