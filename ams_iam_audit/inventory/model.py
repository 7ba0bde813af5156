"""The account as data: frozen resources, read once per run and never changed.

Rules read an :class:`Inventory`; they never call AWS. Whatever could not be read is recorded as a
:class:`Section` with ``readable=False`` and the permission that was missing, so a rule that needs it
can report an error instead of a pass.

Policy documents are kept as the JSON mappings AWS returned (already URL-decoded); parse them with
:func:`ams_iam_audit.policy.parse_policy`. Access key ids are masked at collection time: the full id
never enters an inventory, a snapshot or a report, and secrets are never read at all. Environment
variables of Lambda functions and CodeBuild projects are read (the APIs return them with the rest),
classified and dropped at collection: only :class:`EnvironmentVariable` records reach the inventory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from ..jsonio import mask_key_id

__all__ = [
    "IAM_PARTS",
    "REDEPLOY_TAG",
    "RETIRING_TAG",
    "AccessKey",
    "AccountSummary",
    "Analyzer",
    "AttachedPolicy",
    "Bucket",
    "Consumer",
    "EnvironmentVariable",
    "Group",
    "InlinePolicy",
    "Inventory",
    "ManagedPolicy",
    "PasswordPolicy",
    "PolicyVersion",
    "Role",
    "Section",
    "Trail",
    "User",
    "mask_key_id",
]

Document = Mapping[str, Any]

#: Tag ``--fix`` puts on each stage of a REST API before changing one of its integrations, and
#: removes from a stage once it is redeployed: a run killed in between leaves it on the stages that
#: may still serve the old role, and the next run redeploys them before anything retires that role.
REDEPLOY_TAG = "ams-iam-audit:redeploy-pending"
#: Tag ``--fix`` puts on a legacy role before it detaches anything from it (value: the legacy name
#: pattern). A run killed before the role is deleted leaves the role tagged, and the next run still
#: knows it for what it is, even once the policies that identified it are gone.
RETIRING_TAG = "ams-iam-audit:retiring"


#: The parts of IAM a rule can depend on. A live run reads them in one download (section ``iam``);
#: a GetAccountAuthorizationDetails file may hold only some of its lists, each part then a section.
IAM_PARTS = ("iam:users", "iam:groups", "iam:roles", "iam:policies")


@dataclass(frozen=True)
class Section:
    """One part of the account as collection left it. ``name`` is e.g. ``iam``, ``iam:roles``,
    ``s3``, ``access_keys``, ``lambda:us-east-1``; when unreadable, ``permission`` names the IAM
    action whose denial (or absence) made it so and ``error`` says what happened. Names nest at
    ``:``: see :meth:`Inventory.section`."""

    name: str
    readable: bool
    permission: str | None = None
    error: str | None = None
    source: str | None = None  # how it was read, e.g. "credential report" or "ListAccessKeys"

    def describe(self) -> str:
        if self.readable:
            return f"{self.name}: read" + (f" ({self.source})" if self.source else "")
        return f"{self.name}: unreadable ({self.error}; needs {self.permission})"


@dataclass(frozen=True)
class InlinePolicy:
    name: str
    document: Document = field(hash=False)


@dataclass(frozen=True)
class AttachedPolicy:
    name: str
    arn: str


@dataclass(frozen=True)
class AccessKey:
    masked_id: str | None  # None when only the credential report (which has no ids) was available
    slot: int | None  # 1 or 2 in the credential report
    status: str  # "Active" / "Inactive"
    created: datetime | None
    last_used: datetime | None
    last_used_service: str | None
    last_used_region: str | None = None  # where the key last signed a request (AccessKeyLastUsed.Region)


@dataclass(frozen=True)
class User:
    name: str
    arn: str
    path: str
    created: datetime | None
    groups: tuple[str, ...]
    inline_policies: tuple[InlinePolicy, ...]
    attached_policies: tuple[AttachedPolicy, ...]
    tags: tuple[tuple[str, str], ...]
    #: from the credential report: a console password, and an MFA device (``None``: not known)
    password_enabled: bool | None = None
    mfa_active: bool | None = None
    access_keys: tuple[AccessKey, ...] | None = None  # None: not known (section unreadable)
    permissions_boundary: str | None = None  # the boundary policy's ARN


@dataclass(frozen=True)
class Group:
    name: str
    arn: str
    inline_policies: tuple[InlinePolicy, ...]
    attached_policies: tuple[AttachedPolicy, ...]


@dataclass(frozen=True)
class Role:
    name: str
    arn: str
    path: str
    created: datetime | None
    trust_policy: Document = field(hash=False)
    inline_policies: tuple[InlinePolicy, ...] = ()
    attached_policies: tuple[AttachedPolicy, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    last_used: datetime | None = None
    last_used_region: str | None = None
    permissions_boundary: str | None = None  # the boundary policy's ARN
    instance_profiles: tuple[str, ...] = ()  # ARNs of the instance profiles that hold the role

    @property
    def policy_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.attached_policies) + tuple(p.name for p in self.inline_policies)


@dataclass(frozen=True)
class PolicyVersion:
    version_id: str
    is_default: bool
    document: Document = field(hash=False)
    created: datetime | None = None


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    arn: str
    path: str
    aws_managed: bool
    default_version_id: str
    attachment_count: int
    versions: tuple[PolicyVersion, ...]
    description: str | None = None
    #: why the default version's document could not be had (missing from the GAAD data, or not
    #: JSON); ``None`` when it was read. Rules judging documents report such a policy as an error.
    document_error: str | None = None

    @property
    def default_document(self) -> Document | None:
        for version in self.versions:
            if version.version_id == self.default_version_id:
                return version.document
        return None


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str | None
    policy: Document | None = field(default=None, hash=False)  # None: the bucket has no policy
    policy_error: str | None = None  # set when the policy could not be read; ``policy`` is then unknown
    public_access_block: Mapping[str, bool] | None = field(default=None, hash=False)
    public_access_block_error: str | None = None


@dataclass(frozen=True)
class EnvironmentVariable:
    """One environment variable of a Lambda function or CodeBuild project, *without its value*.

    Collection classifies the value (``inventory.environment.classify``) and keeps only what a rule
    needs to judge it offline: ``classification`` (``None``: nothing secret-looking; otherwise one of
    ``environment.SECRET_KINDS``) and ``masked``, a form safe to print (``AKIA************WXYZ`` for an
    access key id, ``[secret masked] (40 characters)`` for anything else). The value itself never
    enters the inventory, a snapshot or a report."""

    name: str
    #: ``PLAINTEXT`` (every Lambda variable), or CodeBuild's ``PARAMETER_STORE`` / ``SECRETS_MANAGER``
    #: (the value is then the name of a parameter or secret, resolved at build time: never judged)
    type: str
    classification: str | None = None
    masked: str | None = None


@dataclass(frozen=True)
class Consumer:
    """Something that uses a role: a Lambda function's execution role, a CodeBuild project's service
    role, an API Gateway integration's credentials, an ECS task definition's task or execution role,
    an EC2 instance's profile, a CloudFormation stack's service role, a Glue development endpoint's or
    a SageMaker notebook's role. The kinds, and how each is read, are registered in
    ``inventory.consumer_kinds``."""

    kind: str  # a registered kind's name: "lambda", "codebuild", "apigateway", "ecs", "ec2"...
    region: str
    #: function name, project name, "<api name> <METHOD> <path>", "<family>:<revision> (task role)"
    name: str
    arn: str
    #: the role's ARN; "" when not known (an instance profile IAM does not list)
    role_arn: str
    #: API Gateway: the stages of the integration's REST API (each serves a deployed copy of it)
    stages: tuple[str, ...] = ()
    #: API Gateway: stages tagged :data:`REDEPLOY_TAG`: ``--fix`` changed an integration of the API
    #: and had not yet redeployed them, so they may still serve the old role
    pending_stages: tuple[str, ...] = ()
    #: how the role reaches it: EC2, the instance profile's ARN; ECS, the task definition's field
    #: (``taskRoleArn`` or ``executionRoleArn``)
    via: str | None = None
    #: ECS: the services (``cluster/service``) running the task definition
    services: tuple[str, ...] = ()
    #: Lambda and CodeBuild: the environment variables (names and classifications, never values);
    #: ``None`` when not read (another kind, or a snapshot written before they were collected)
    environment: tuple[EnvironmentVariable, ...] | None = None
    #: Lambda: why the variables could not be had (``Environment.Error``: the caller may not decrypt
    #: them with the function's KMS key); ``environment`` is then ``None``
    environment_error: str | None = None


@dataclass(frozen=True)
class Trail:
    """A CloudTrail trail as DescribeTrails (shadow trails included), GetTrailStatus and
    GetEventSelectors answered. A status or selectors that could not be read leave ``logging`` /
    the selectors ``None`` and say why in ``status_error`` / ``selectors_error`` (naming the permission)."""

    name: str
    arn: str
    home_region: str
    multi_region: bool
    organization: bool = False
    #: DescribeTrails' HasCustomEventSelectors: without them a trail logs every management event
    custom_event_selectors: bool = False
    logging: bool | None = None
    status_error: str | None = None
    event_selectors: tuple[Document, ...] | None = field(default=None, hash=False)
    advanced_event_selectors: tuple[Document, ...] | None = field(default=None, hash=False)
    selectors_error: str | None = None


@dataclass(frozen=True)
class AccountSummary:
    """What GetAccountSummary says of the account's root user (section ``account_summary``)."""

    root_mfa_enabled: bool  # AccountMFAEnabled
    root_access_keys_present: bool  # AccountAccessKeysPresent


@dataclass(frozen=True)
class PasswordPolicy:
    """The account's IAM password policy as GetAccountPasswordPolicy answered (section
    ``password_policy``; the account having none is :attr:`Inventory.password_policy` ``None``).
    A setting AWS left out of the answer is ``None`` (not set)."""

    minimum_length: int | None = None
    reuse_prevention: int | None = None
    require_symbols: bool = False
    require_numbers: bool = False
    require_uppercase: bool = False
    require_lowercase: bool = False
    max_age_days: int | None = None
    expire_passwords: bool = False
    hard_expiry: bool = False
    allow_users_to_change: bool = False


@dataclass(frozen=True)
class Analyzer:
    """An IAM Access Analyzer analyzer as ListAnalyzers answered in ``region`` (section
    ``accessanalyzer:<region>``, one per audited region)."""

    name: str
    arn: str
    region: str
    type: str  # ACCOUNT, ORGANIZATION, ACCOUNT_UNUSED_ACCESS, ...
    status: str  # ACTIVE, CREATING, DISABLED, FAILED


@dataclass(frozen=True)
class Inventory:
    account_id: str
    partition: str
    collected_at: datetime
    caller_arn: str | None
    regions: tuple[str, ...]
    sections: tuple[Section, ...]
    users: tuple[User, ...] = ()
    groups: tuple[Group, ...] = ()
    roles: tuple[Role, ...] = ()
    policies: tuple[ManagedPolicy, ...] = ()
    buckets: tuple[Bucket, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    source: str = "live"  # "live", "snapshot", "gaad"
    #: the AIModelShare execution role(s) audited with this inventory (kept so a replay judges them too)
    execution_role_arns: tuple[str, ...] = ()
    #: CloudTrail trails visible from the first audited region (multi-region trails of every home
    #: region among them); section ``cloudtrail``
    trails: tuple[Trail, ...] = ()
    #: the account-level S3 public access block (s3control GetPublicAccessBlock); ``None``: the account
    #: has none. Section ``s3control``
    account_public_access_block: Mapping[str, bool] | None = field(default=None, hash=False)
    #: the root user's MFA and access keys (GetAccountSummary); section ``account_summary``
    account_summary: AccountSummary | None = None
    #: the IAM password policy; ``None``: the account has none (or, section ``password_policy``
    #: unreadable, not known)
    password_policy: PasswordPolicy | None = None
    #: Access Analyzer analyzers of every audited region; sections ``accessanalyzer:<region>``
    analyzers: tuple[Analyzer, ...] = ()

    def section(self, name: str) -> Section | None:
        """The section ``name``. Names nest at ``:``: a part (``iam:roles``) not recorded on its own
        is its whole's (``iam``, read in one piece); a whole (``iam``) not recorded on its own is
        made of its parts (``iam:users``...), readable only when every part is."""
        exact = next((s for s in self.sections if s.name == name), None)
        if exact is not None:
            return exact
        whole, _, part = name.partition(":")
        if part:
            container = next((s for s in self.sections if s.name == whole), None)
            if container is not None:
                return container
        parts = [s for s in self.sections if s.name.startswith(f"{name}:")]
        if not parts:
            return None
        gaps = [s for s in parts if not s.readable]
        if not gaps:
            sources = sorted({s.source for s in parts if s.source})
            return Section(name=name, readable=True, source="; ".join(sources) or None)
        return Section(
            name=name,
            readable=False,
            permission=", ".join(dict.fromkeys(s.permission for s in gaps if s.permission)) or None,
            error="; ".join(f"{s.name}: {s.error}" for s in gaps),
        )

    def readable(self, name: str) -> bool:
        section = self.section(name)
        return section is not None and section.readable

    @property
    def unreadable(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if not s.readable)

    @cached_property
    def policy_by_arn(self) -> dict[str, ManagedPolicy]:
        return {p.arn: p for p in self.policies}

    @cached_property
    def role_by_name(self) -> dict[str, Role]:
        return {r.name: r for r in self.roles}

    @cached_property
    def role_by_arn(self) -> dict[str, Role]:
        return {r.arn: r for r in self.roles}

    @cached_property
    def consumers_by_role_arn(self) -> dict[str, tuple[Consumer, ...]]:
        index: dict[str, list[Consumer]] = defaultdict(list)
        for consumer in self.consumers:
            index[consumer.role_arn].append(consumer)
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def attachments(self) -> dict[str, tuple[str, ...]]:
        """Managed policy ARN -> ARNs of the users, groups and roles it is attached to."""
        index: dict[str, list[str]] = defaultdict(list)
        principals: tuple[User | Group | Role, ...] = (*self.users, *self.groups, *self.roles)
        for principal in principals:
            for attached in principal.attached_policies:
                index[attached.arn].append(principal.arn)
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def consumer_sections(self) -> tuple[Section, ...]:
        """What was read of the consumers of roles: each registered kind's section in each audited
        region (``inventory.consumer_kinds``), and ``consumers`` where a file had none to give. A
        kind's section the inventory does not hold (a snapshot written before the kind was read) is
        unreadable here: an unread kind could hide the one consumer that keeps a role in use."""
        from .consumer_kinds import CONSUMER_KINDS  # the registry reads into this model: imported late

        names = {kind.name for kind in CONSUMER_KINDS}
        found = tuple(s for s in self.sections if s.name.split(":")[0] in (*names, "consumers"))
        if any(s.name == "consumers" for s in found):
            return found
        recorded = {s.name for s in found}
        missing = tuple(
            Section(
                name=kind.section(region),
                readable=False,
                permission=", ".join(kind.permissions),
                error=f"not in this inventory ({self.source}): {kind.label} were not read",
            )
            for kind in CONSUMER_KINDS
            for region in self.regions
            if kind.section(region) not in recorded
        )
        return found + missing
