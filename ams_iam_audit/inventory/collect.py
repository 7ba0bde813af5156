"""Reading an account into an :class:`Inventory` with as few API calls as the APIs allow.

* IAM: GetAccountAuthorizationDetails, every entity filter, every page (``Marker``).
* Access keys: the credential report (one report for every user); ``ListAccessKeys`` and
  ``GetAccessKeyLastUsed`` only for AIModelShare's ephemeral users (their evidence names each key by
  its masked id, which the report lacks), or for every user when the report cannot be had. The same
  report gives each user's console password and MFA (section ``credential_report``).
* The account's own settings (``inventory.account``): GetAccountSummary (the root user),
  GetAccountPasswordPolicy, and Access Analyzer ListAnalyzers in every audited region.
* S3: ListBuckets, then per bucket (threaded) its policy and public access block.
* S3's account-level public access block: s3control GetPublicAccessBlock (section ``s3control``).
* CloudTrail, from the first audited region: DescribeTrails (shadow trails included, so every
  multi-region trail is seen), then per trail GetTrailStatus and GetEventSelectors in its home region
  (section ``cloudtrail``).
* Consumers of roles, per region (threaded): each kind registered in ``inventory.consumer_kinds``,
  read by its reader (``inventory.readers``: Lambda ListFunctions, CodeBuild ListProjects +
  BatchGetProjects, API Gateway GetRestApis + GetResources(embed=methods), ECS task definitions and
  services, EC2 instances...), its section ``<kind>:<region>``. Lambda's and CodeBuild's answers hold
  the environment variables: each is classified (``inventory.environment``) and its value dropped on
  the spot, so no secret reaches the inventory.

Every AWS call goes through :func:`ams_iam_audit.aws.call` and every paginated one through
:func:`ams_iam_audit.aws.paged`: a refusal, a transport error, a call past its deadline, a response
that is not the protocol's shape (a garbage date, a document that is not JSON) or an inconsistent page
(truncated without a marker, a marker repeated) is a :class:`~ams_iam_audit.aws.CallError` naming the
call, and the part of the account it was reading becomes an unreadable :class:`Section` naming the
permission it needed; the rest of the run goes on. Nothing here raises out of :func:`collect` for what
AWS answered, and nothing here decides what is compliant.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .. import aimodelshare
from ..aws import AwsClients, CallerIdentity, CallError, call, paged
from ..policy.document import PolicyParseError, decode_policy
from .account import read_account
from .answers import MALFORMED as _MALFORMED
from .answers import mapping as _mapping
from .answers import pages as _pages
from .answers import text as _text
from .consumer_kinds import CONSUMER_KINDS, consumer_kind, read_permissions
from .gaad import GaadError, IamEntities, entities_from_gaad, merge_pages, parse_time, policy_sections
from .model import (
    AccessKey,
    Bucket,
    Consumer,
    Inventory,
    Role,
    Section,
    Trail,
    User,
    mask_key_id,
)

if TYPE_CHECKING:
    from mypy_boto3_iam.literals import EntityTypeType
    from mypy_boto3_s3 import S3Client


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
    "s3:GetAccountPublicAccessBlock",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    # the consumers of roles: each registered kind's (inventory.consumer_kinds)
    *read_permissions(),
    "iam:GetAccountSummary",
    "iam:GetAccountPasswordPolicy",
    "access-analyzer:ListAnalyzers",
)

GAAD_FILTERS: list[EntityTypeType] = ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"]
_MAX_WORKERS = 8
_REPORT_TIMEOUT_S = 60.0

T = TypeVar("T")


class _Unreadable(Exception):
    def __init__(self, section: Section) -> None:
        super().__init__(section.describe())
        self.section = section


def _guarded(name: str, permission: str, fn: Callable[[], T]) -> T:
    """Run ``fn``; turn a failed AWS call (:class:`CallError`) into :class:`_Unreadable` for section
    ``name``, its error naming the call and what went wrong."""
    try:
        return fn()
    except CallError as exc:
        raise _Unreadable(Section(name=name, readable=False, permission=permission, error=str(exc))) from None


# --- IAM -------------------------------------------------------------------------------------------


def _gaad(clients: AwsClients) -> IamEntities:
    iam = clients.client("iam")
    pages = paged(iam, "get_account_authorization_details", "RoleDetailList", Filter=GAAD_FILTERS)
    try:
        return entities_from_gaad(merge_pages(pages))
    except GaadError as exc:
        raise CallError("iam:GetAccountAuthorizationDetails", _MALFORMED, str(exc)) from None


# --- access keys ----------------------------------------------------------------------------------

_REPORT = "iam:GetCredentialReport"
_REPORT_COLUMNS = (
    "user",
    *(
        f"access_key_{slot}_{what}"
        for slot in (1, 2)
        for what in ("active", "last_rotated", "last_used_date", "last_used_service")
    ),
)


def _report_time(value: str | None, column: str, user: str) -> datetime | None:
    if value in ("N/A", "no_information", "not_supported", "", None):
        return None
    try:
        return parse_time(value)
    except GaadError:
        raise CallError(_REPORT, _MALFORMED, f"user {user}: {column} is not a date: {value!r:.40}") from None


#: A user's console sign-in as the credential report says: (password_enabled, mfa_active), each
#: ``None`` where the report has no such column.
Console = tuple[bool | None, bool | None]


def _report_flag(row: Mapping[str, str | None], column: str, user: str) -> bool | None:
    value = row.get(column)
    if value is None:
        return None
    if value not in ("true", "false", "not_supported"):
        raise CallError(_REPORT, _MALFORMED, f"user {user}: {column} is not true or false: {value!r:.40}")
    return value == "true" if value != "not_supported" else None


def _parse_report(content: Any) -> tuple[dict[str, list[AccessKey]], dict[str, Console]]:
    if isinstance(content, bytes):
        try:
            text = content.decode()
        except UnicodeDecodeError as exc:
            raise CallError(_REPORT, _MALFORMED, f"the report is not UTF-8 text ({exc.reason})") from None
    elif isinstance(content, str):
        text = content
    else:
        raise CallError(_REPORT, _MALFORMED, f"no report content (got {type(content).__name__})")
    reader = csv.DictReader(io.StringIO(text))
    keys: dict[str, list[AccessKey]] = {}
    console: dict[str, Console] = {}
    try:
        missing = [c for c in _REPORT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise CallError(_REPORT, _MALFORMED, f"the report has no column {', '.join(missing)}")
        for number, row in enumerate(reader, 2):
            user = row.get("user")
            if not user or None in row:
                raise CallError(_REPORT, _MALFORMED, f"line {number} is not a row of the report")
            if user == "<root_account>":
                continue
            console[user] = (
                _report_flag(row, "password_enabled", user),
                _report_flag(row, "mfa_active", user),
            )
            user_keys = []
            for slot in (1, 2):
                column = f"access_key_{slot}_last_rotated"
                created = _report_time(row.get(column), column, user)
                if created is None:
                    continue
                column = f"access_key_{slot}_last_used_date"
                service = row.get(f"access_key_{slot}_last_used_service", "N/A")
                region = row.get(f"access_key_{slot}_last_used_region", "N/A")
                user_keys.append(
                    AccessKey(
                        masked_id=None,
                        slot=slot,
                        status="Active" if row.get(f"access_key_{slot}_active") == "true" else "Inactive",
                        created=created,
                        last_used=_report_time(row.get(column), column, user),
                        last_used_service=service if service not in ("N/A", "not_supported") else None,
                        last_used_region=region if region not in ("N/A", "not_supported", "") else None,
                    )
                )
            keys[user] = user_keys
    except csv.Error as exc:
        raise CallError(_REPORT, _MALFORMED, f"the report is not CSV ({exc})") from None
    return keys, console


def _credential_report(clients: AwsClients) -> tuple[dict[str, list[AccessKey]], dict[str, Console]]:
    iam = clients.client("iam")
    deadline = time.monotonic() + _REPORT_TIMEOUT_S
    delay = 0.2
    while (state := call(iam, "generate_credential_report").get("State")) != "COMPLETE":
        if state not in ("STARTED", "INPROGRESS"):
            raise CallError("iam:GenerateCredentialReport", _MALFORMED, f"State is {state!r:.40}")
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
    return _parse_report(call(iam, "get_credential_report").get("Content"))


def _listed_keys(clients: AwsClients, user: str) -> list[AccessKey]:
    iam = clients.client("iam")
    out = []
    for meta in _pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=user):
        key_id = _text(meta, "AccessKeyId", "iam:ListAccessKeys")
        used = call(iam, "get_access_key_last_used", AccessKeyId=key_id).get("AccessKeyLastUsed")
        last = _mapping(used, "AccessKeyLastUsed", "iam:GetAccessKeyLastUsed")
        service, region = last.get("ServiceName"), last.get("Region")
        try:
            created, last_used = parse_time(meta.get("CreateDate")), parse_time(last.get("LastUsedDate"))
        except GaadError as exc:
            raise CallError("iam:ListAccessKeys", _MALFORMED, f"user {user}: {exc}") from None
        out.append(
            AccessKey(
                masked_id=mask_key_id(key_id),
                slot=None,
                status=_text(meta, "Status", "iam:ListAccessKeys"),
                created=created,
                last_used=last_used,
                last_used_service=service if service not in (None, "N/A") else None,
                last_used_region=region if isinstance(region, str) and region != "N/A" else None,
            )
        )
    return out


def _is_aimodelshare_user(user: User) -> bool:
    return aimodelshare.is_ephemeral_user(user.name) or any(
        aimodelshare.is_ephemeral_policy(p.name) for p in user.attached_policies
    )


def _access_keys(
    clients: AwsClients, pool: ThreadPoolExecutor, users: tuple[User, ...]
) -> tuple[dict[str, tuple[AccessKey, ...] | None], Section, dict[str, Console], Section]:
    """Each user's keys (``None``: unknown) and their section; each user's console password and MFA
    as the credential report says (a user it does not list is absent) and the report's section
    (``credential_report``). A user the credential report does not list (created after the report
    was generated: IAM reuses a report for up to four hours) has its keys looked up, never taken for a
    user without keys."""
    console: dict[str, Console] = {}
    report_section = Section(name="credential_report", readable=True, source="GetCredentialReport")
    try:
        report, console = _guarded(
            "access_keys", "iam:GenerateCredentialReport, iam:GetCredentialReport", lambda: _credential_report(clients)
        )
        targets = [u.name for u in users if _is_aimodelshare_user(u)]
        source = "credential report"
        if len(targets) > KEY_ID_LOOKUPS:
            # two calls per user would make IAM requests grow with the account: the report alone
            # (keys by slot, with status, age and last use, without masked ids) stays constant
            targets = []
            source = f"credential report (masked key ids looked up only for up to {KEY_ID_LOOKUPS} AIModelShare users)"
        absent = [u.name for u in users if u.name not in report]
        if len(absent) > KEY_ID_LOOKUPS:
            source += f"; keys unknown for {len(absent)} user(s) the report does not list"
        else:
            targets = list(dict.fromkeys([*targets, *absent]))
    except _Unreadable as unreadable:
        report = {}
        report_section = replace(unreadable.section, name="credential_report")
        targets = [u.name for u in users]
        source = f"ListAccessKeys (credential report unavailable: {unreadable.section.error})"
    keys: dict[str, tuple[AccessKey, ...] | None] = {
        u.name: tuple(report[u.name]) if u.name in report else None for u in users
    }
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
                return {}, unreadable.section, console, report_section
            # keep the report's data for this user; its key ids stay unknown
    return keys, Section(name="access_keys", readable=True, source=source), console, report_section


# --- S3 ---------------------------------------------------------------------------------------------


def _bucket_policy(s3: S3Client, name: str) -> tuple[Any, str | None]:
    """(policy document or ``None`` when the bucket has none, why it could not be read)."""
    try:
        policy = call(s3, "get_bucket_policy", Bucket=name).get("Policy")
    except CallError as exc:
        return None, None if exc.code == "NoSuchBucketPolicy" else f"{exc} (needs s3:GetBucketPolicy)"
    if not isinstance(policy, str | bytes):
        return None, f"{_MALFORMED} calling s3:GetBucketPolicy: no Policy in the answer (got {policy!r:.40})"
    try:
        return decode_policy(policy, f"bucket {name} policy"), None
    except (PolicyParseError, UnicodeDecodeError) as exc:
        return None, str(exc)


def _public_access_block(s3: S3Client, name: str) -> tuple[Mapping[str, bool] | None, str | None]:
    try:
        answer = call(s3, "get_public_access_block", Bucket=name)
    except CallError as exc:
        if exc.code == "NoSuchPublicAccessBlockConfiguration":
            return None, None
        return None, f"{exc} (needs s3:GetBucketPublicAccessBlock)"
    pab = answer.get("PublicAccessBlockConfiguration")
    if not isinstance(pab, Mapping) or not all(isinstance(v, bool) for v in pab.values()):
        return None, f"{_MALFORMED} calling s3:GetPublicAccessBlock: not a configuration (got {pab!r:.60})"
    return pab, None


def _bucket(clients: AwsClients, name: str, region: str | None) -> Bucket:
    s3 = clients.client("s3", region)
    document, policy_error = _bucket_policy(s3, name)
    pab, pab_error = _public_access_block(s3, name)
    return Bucket(
        name=name,
        region=region,
        policy=document,
        policy_error=policy_error,
        public_access_block=pab,
        public_access_block_error=pab_error,
    )


def _bucket_region(clients: AwsClients, item: Mapping[str, Any]) -> str | None:
    if isinstance(item.get("BucketRegion"), str) and item["BucketRegion"]:
        return str(item["BucketRegion"])
    try:
        location = call(clients.client("s3"), "get_bucket_location", Bucket=item["Name"]).get("LocationConstraint")
    except CallError:
        return None
    if location is not None and not isinstance(location, str):
        return None
    # GetBucketLocation's legacy answers: no constraint is us-east-1, "EU" is eu-west-1.
    return str({None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location))


def _bucket_items(clients: AwsClients) -> list[Mapping[str, Any]]:
    items = list(_pages(clients.client("s3"), "list_buckets", "Buckets"))
    for item in items:
        _text(item, "Name", "s3:ListBuckets")
    return items


def _buckets(clients: AwsClients, pool: ThreadPoolExecutor) -> tuple[Bucket, ...]:
    items = _guarded("s3", "s3:ListAllMyBuckets", lambda: _bucket_items(clients))
    regions = list(pool.map(lambda i: _bucket_region(clients, i), items))
    buckets = pool.map(lambda pair: _bucket(clients, pair[0]["Name"], pair[1]), zip(items, regions, strict=True))
    return tuple(sorted(buckets, key=lambda b: b.name))


def _configuration(answer: Mapping[str, Any], call_name: str) -> Mapping[str, bool]:
    pab = answer.get("PublicAccessBlockConfiguration")
    if not isinstance(pab, Mapping) or not all(isinstance(v, bool) for v in pab.values()):
        raise CallError(call_name, _MALFORMED, f"not a configuration (got {pab!r:.60})")
    return pab


def _account_public_access_block(clients: AwsClients, account_id: str) -> Mapping[str, bool] | None:
    """The account's own S3 public access block (``None``: the account has none)."""
    try:
        answer = call(clients.client("s3control"), "get_public_access_block", AccountId=account_id)
    except CallError as exc:
        if exc.code == "NoSuchPublicAccessBlockConfiguration":
            return None
        raise
    return _configuration(answer, "s3:GetAccountPublicAccessBlock")


# --- CloudTrail -------------------------------------------------------------------------------------


def _trail(clients: AwsClients, item: Any) -> Trail:
    """One trail of DescribeTrails, with its status and selectors read in its home region; what
    could not be read is recorded on the trail, naming the permission."""
    name = _text(item, "Name", "cloudtrail:DescribeTrails")
    arn = _text(item, "TrailARN", "cloudtrail:DescribeTrails")
    home = _text(item, "HomeRegion", "cloudtrail:DescribeTrails")
    client = clients.client("cloudtrail", home)
    logging: bool | None = None
    status_error = selectors_error = None
    selectors: tuple[Mapping[str, Any], ...] | None = None
    advanced: tuple[Mapping[str, Any], ...] | None = None
    try:
        state = call(client, "get_trail_status", Name=arn).get("IsLogging")
        if not isinstance(state, bool):
            raise CallError("cloudtrail:GetTrailStatus", _MALFORMED, f"IsLogging is {state!r:.40}")
        logging = state
    except CallError as exc:
        status_error = f"{exc} (needs cloudtrail:GetTrailStatus)"
    try:
        answer = call(client, "get_event_selectors", TrailName=arn)
        found = [answer.get("EventSelectors") or [], answer.get("AdvancedEventSelectors") or []]
        if not all(isinstance(f, list) and all(isinstance(i, Mapping) for i in f) for f in found):
            raise CallError("cloudtrail:GetEventSelectors", _MALFORMED, "selectors are not lists of objects")
        selectors, advanced = tuple(found[0]), tuple(found[1])
    except CallError as exc:
        selectors_error = f"{exc} (needs cloudtrail:GetEventSelectors)"
    return Trail(
        name=name,
        arn=arn,
        home_region=home,
        multi_region=item.get("IsMultiRegionTrail") is True,
        organization=item.get("IsOrganizationTrail") is True,
        custom_event_selectors=item.get("HasCustomEventSelectors") is True,
        logging=logging,
        status_error=status_error,
        event_selectors=selectors,
        advanced_event_selectors=advanced,
        selectors_error=selectors_error,
    )


def _trails(clients: AwsClients, region: str | None) -> tuple[Trail, ...]:
    answer = call(clients.client("cloudtrail", region), "describe_trails", includeShadowTrails=True)
    items = answer.get("trailList") or []
    if not isinstance(items, list):
        raise CallError("cloudtrail:DescribeTrails", _MALFORMED, "trailList is not a list")
    unique = {_text(i, "TrailARN", "cloudtrail:DescribeTrails"): i for i in items}
    return tuple(sorted((_trail(clients, i) for i in unique.values()), key=lambda t: t.arn))


# --- consumers --------------------------------------------------------------------------------------


def _resolve_roles(consumers: list[Consumer], roles: Iterable[Role], owner: CallerIdentity) -> list[Consumer]:
    """Each consumer's ``role_arn`` as the ARN of a role of the account: an instance's role is the one
    its instance profile holds (kinds with ``role_via_instance_profile``), a role given by name (ECS
    and CodeBuild accept one) is that role's ARN. A profile the IAM part does not know (IAM
    unreadable, or a profile of another account) leaves the role unknown (""); a name IAM does not
    know becomes the ARN the name would have without a path."""
    roles = tuple(roles)
    holder = {profile: role.arn for role in roles for profile in role.instance_profiles}
    by_name = {role.name: role.arn for role in roles}
    out = []
    for consumer in consumers:
        if consumer_kind(consumer.kind).role_via_instance_profile:
            consumer = replace(consumer, role_arn=holder.get(consumer.via or "", ""))
        elif consumer.role_arn and not consumer.role_arn.startswith("arn:"):
            name = consumer.role_arn
            own = f"arn:{owner.partition}:iam::{owner.account_id}:role/{name}"
            consumer = replace(consumer, role_arn=by_name.get(name, own))
        out.append(consumer)
    return out


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
                kind.section(region),
                pool.submit(
                    _try,
                    lambda r=region, k=kind: _guarded(
                        k.section(r), ", ".join(k.permissions), lambda: k.read(clients, r, identity)
                    ),
                ),
            )
            for kind in CONSUMER_KINDS
            for region in regions
        ]
        bucket_future = pool.submit(_try, lambda: _buckets(clients, pool))
        account_block_future = pool.submit(
            _try,
            lambda: _guarded(
                "s3control",
                "s3:GetAccountPublicAccessBlock",
                lambda: _account_public_access_block(clients, identity.account_id),
            ),
        )
        trail_future = pool.submit(
            _try,
            lambda: _guarded(
                "cloudtrail", "cloudtrail:DescribeTrails", lambda: _trails(clients, regions[0] if regions else None)
            ),
        )
        entities, gaad_error = _try(
            lambda: _guarded("iam", "iam:GetAccountAuthorizationDetails", lambda: _gaad(clients))
        )
        users: tuple[User, ...] = ()
        if entities is not None:
            sections.append(Section(name="iam", readable=True, source="GetAccountAuthorizationDetails"))
            sections.extend(policy_sections(entities))
            keys, key_section, console, report_section = _access_keys(clients, pool, entities.users)
            sections.extend((key_section, report_section))
            users = tuple(replace(u, access_keys=keys[u.name]) if key_section.readable else u for u in entities.users)
            users = tuple(
                replace(u, password_enabled=console[u.name][0], mfa_active=console[u.name][1])
                if u.name in console
                else u
                for u in users
            )
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
            sections.append(
                Section(
                    name="credential_report",
                    readable=False,
                    permission="iam:GetAccountAuthorizationDetails",
                    error="not read: the IAM section is unreadable",
                )
            )
        account = read_account(clients, regions, pool)
        sections.extend(account.sections)
        buckets, bucket_error = bucket_future.result()
        sections.append(bucket_error or Section(name="s3", readable=True, source="ListBuckets"))
        account_block, account_block_error = account_block_future.result()
        sections.append(
            account_block_error or Section(name="s3control", readable=True, source="s3control GetPublicAccessBlock")
        )
        trails, trail_error = trail_future.result()
        sections.append(trail_error or Section(name="cloudtrail", readable=True, source="DescribeTrails"))
        consumers: list[Consumer] = []
        for name, future in consumer_futures:
            found, error = future.result()
            sections.append(error or Section(name=name, readable=True))
            consumers.extend(found or ())

    return Inventory(
        account_id=identity.account_id,
        partition=identity.partition,
        collected_at=collected_at,
        caller_arn=identity.arn,
        regions=regions,
        sections=tuple(sections),
        users=users,
        groups=entities.groups if entities else (),
        roles=entities.roles if entities else (),
        policies=entities.policies if entities else (),
        buckets=buckets or (),
        trails=trails or (),
        account_public_access_block=account_block,
        account_summary=account.summary,
        password_policy=account.password_policy,
        analyzers=account.analyzers,
        consumers=tuple(
            sorted(
                _resolve_roles(consumers, entities.roles if entities else (), identity),
                key=lambda c: (c.kind, c.region, c.arn),
            )
        ),
        source="live",
    )
