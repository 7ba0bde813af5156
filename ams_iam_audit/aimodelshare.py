"""Everything this project knows about the AIModelShare library, in one place.

The legacy library created IAM resources on every run; its refactoring replaces them with four shared
roles and STS sessions. This module holds the name patterns of what the legacy library creates, what
replaces each, and the shared roles' desired state (``data/shared_roles.json``). It knows names and
documents only: deciding what is a violation is the rules' job, reading AWS is the inventory's.

Name patterns come from the library's source (PyPI ``aimodelshare`` 0.5.84 and its refactoring):

* ``modeluser.create_user_getkeyandpassword``: user ``AI_MODELSHARE_<form_timestamp>``, managed policy
  ``temporaryaccessAImodelsharePolicy<uuid1 hex>``;
* ``containerization``: ``codebuild_role``/``codebuild_policy``, ``lambda_role_<api_id>``/``lambda_policy_<api_id>``;
* ``api.create_prediction_api``: ``'myService-dev-us-' + region + '-lambdaRole' + shortuuid`` (older
  releases: the fixed ``myService-dev-us-east-1-lambdaRole``) with ``'myService-dev-' + region +
  '-lambdaPolicy' + shortuuid``, and ``lambda_invoke_function_assume_apigw_role_2``/``invokelambda``;
* custom-container and data-sharing paths (not addressed by the refactoring):
  ``<function>-codebuild-role``/``<function>-codebuild-policies``, ``<project>-lambda-role``/
  ``<project>-lambda-policy``, ``<dataset>-codebuild-role``.

``<x>-lambda-role`` and ``<x>-codebuild-role`` are common names outside AIModelShare too, so those two
patterns count only with their partner policy beside them (the library always creates the pair).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = [
    "BOUNDARY_PATH",
    "BUCKET_PREFIX",
    "EPHEMERAL_POLICY_GLOB",
    "EPHEMERAL_USER_GLOB",
    "EXECUTION_ROLE_DESCRIPTION",
    "EXECUTION_ROLE_ENV",
    "EXECUTION_ROLE_NAME",
    "EXECUTION_ROLE_TAG",
    "EXECUTION_TEMPLATE",
    "LegacyMatch",
    "SharedRole",
    "classify_policy",
    "classify_role",
    "execution_role_trust",
    "is_aimodelshare_bucket",
    "is_ephemeral_policy",
    "is_ephemeral_user",
    "legacy_policy_globs",
    "legacy_role_globs",
    "library_function_arns",
    "library_s3_actions",
    "library_template",
    "library_template_names",
    "replacement",
    "role_pattern",
    "shared_policy_names",
    "shared_role",
    "shared_role_names",
    "shared_roles",
]

#: The environment variable the refactored library reads its execution role ARN from.
EXECUTION_ROLE_ENV = "AIMODELSHARE_EXECUTION_ROLE_ARN"
#: The execution role's name in the library's refactoring guide (migration step 1's example ARN).
EXECUTION_ROLE_NAME = "aimodelshare-execution-role"
#: The tag ``--fix`` puts on the execution role it creates (value: who asked for it), so it is found again.
EXECUTION_ROLE_TAG = "aimodelshare:execution-role"
#: The library's policy whose permissions the execution role takes over: the ephemeral users' policy
#: (``temporaryaccessAImodelsharePolicy<hex>``), as the refactored library ships it. Its permissions
#: are what marks a role as the execution role (``analysis.execution_roles``).
EXECUTION_TEMPLATE = "bucketpolicy_custom_s3_policy"
#: Buckets the library creates: ``aimodelshare<username><account><region>``.
BUCKET_PREFIX = "aimodelshare"
#: IAM path of the policies ams-iam-audit owns (each shared role's permissions boundary, the fix lock):
#: the library never writes under it, so what ``--fix`` puts there stays as it was put.
BOUNDARY_PATH = "/ams-iam-audit/"

_TRUSTABLE = re.compile(r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):(?P<kind>user|role|root)(/.+)?")
#: The description of the execution role ``--fix`` creates.
EXECUTION_ROLE_DESCRIPTION = (
    "AIModelShare execution role (AIMODELSHARE_EXECUTION_ROLE_ARN): the library's sessions assume it; "
    "created by ams-iam-audit --fix"
)

_EPHEMERAL_USER = re.compile(r"AI_MODELSHARE_[0-9][0-9_.\-]*")
_EPHEMERAL_POLICY_PREFIX = "temporaryaccessAImodelsharePolicy"
#: IAM ARN wildcards (resource names) covering every ephemeral user and temporary-access policy.
EPHEMERAL_USER_GLOB = "AI_MODELSHARE_*"
EPHEMERAL_POLICY_GLOB = f"{_EPHEMERAL_POLICY_PREFIX}*"


@dataclass(frozen=True)
class LegacyMatch:
    """Why a role or policy is a legacy per-deployment resource."""

    pattern: str  # the library's naming, e.g. "lambda_role_<api_id>"
    created_by: str  # the library function that creates it
    replaced_by: str | None  # shared role name, or None when the refactoring left it in place
    partner: str | None = None  # the partner resource that confirmed a weak pattern


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    pattern: str
    created_by: str
    partner_suffix: str | None = None  # weak pattern: needs "<stem><partner_suffix>" beside it
    glob: str | None = None  # IAM ARN wildcard covering every match; default: each <placeholder> of pattern a *

    @property
    def arn_glob(self) -> str:
        return self.glob or re.sub(r"<[^>]+>", "*", self.pattern)

    @property
    def replaced_by(self) -> str | None:
        """The shared role whose ``replaces`` (``data/shared_roles.json``) names this pattern, or
        ``None`` when the refactoring left it in place."""
        spec = replacement(self.pattern)
        return spec.role_name if spec is not None else None


_ROLE_PATTERNS = (
    _Pattern(re.compile(r"codebuild_role"), "codebuild_role", "containerization.build_image"),
    _Pattern(
        re.compile(r"lambda_role_[A-Za-z0-9_\-]+"),
        "lambda_role_<api_id>",
        "containerization.create_lambda_using_base_image",
    ),
    _Pattern(
        re.compile(r"myService-dev-us-[A-Za-z0-9\-]+-lambdaRole[A-Za-z0-9]*"),
        "myService-dev-us-<region>-lambdaRole<id>",
        "api.create_prediction_api",
    ),
    _Pattern(
        re.compile(r"lambda_invoke_function_assume_apigw_role(_[0-9]+)?"),
        "lambda_invoke_function_assume_apigw_role_2",
        "api.create_prediction_api",
        glob="lambda_invoke_function_assume_apigw_role*",
    ),
    _Pattern(
        re.compile(r"(?P<stem>.+)-codebuild-role"),
        "<function>-codebuild-role",
        "containerisation.deploy_container / data_sharing.share_data_codebuild",
        partner_suffix="-codebuild-policies",
    ),
    _Pattern(
        re.compile(r"(?P<stem>.+)-lambda-role"),
        "<project>-lambda-role",
        "base_image",
        partner_suffix="-lambda-policy",
    ),
)

_POLICY_PATTERNS = (
    _Pattern(
        re.compile(r"codebuild_policy"),
        "codebuild_policy",
        "containerization.build_image",
    ),
    _Pattern(
        re.compile(r"lambda_policy_[A-Za-z0-9_\-]+"),
        "lambda_policy_<api_id>",
        "containerization.create_lambda_using_base_image",
    ),
    _Pattern(
        re.compile(r"myService-dev-[A-Za-z0-9\-]+-lambdaPolicy[A-Za-z0-9]*"),
        "myService-dev-<region>-lambdaPolicy<id>",
        "api.create_prediction_api",
    ),
    _Pattern(re.compile(r"invokelambda"), "invokelambda", "api.create_prediction_api"),
    _Pattern(
        re.compile(r"(?P<stem>.+)-codebuild-policies"),
        "<function>-codebuild-policies",
        "containerisation.deploy_container",
    ),
    _Pattern(
        re.compile(r"(?P<stem>.+)-lambda-policy"),
        "<project>-lambda-policy",
        "base_image",
        partner_suffix="-lambda-role",
    ),
)


@dataclass(frozen=True)
class SharedRole:
    """A shared role's desired state. Documents hold ``${account}``: use :meth:`policy_for`."""

    role_name: str
    policy_name: str
    description: str
    trust: Mapping[str, Any]
    policy: Mapping[str, Any]
    #: the legacy per-deployment role and policy patterns (``LegacyMatch.pattern``) this role replaces
    replaces: tuple[str, ...] = ()

    @property
    def policy_description(self) -> str:
        return f"Least-privilege policy of the AIModelShare shared role {self.role_name}"

    @property
    def tags(self) -> dict[str, str]:
        """Tags a fix puts on the role, so its owner and origin are visible in the console."""
        return {"aimodelshare:shared-role": self.role_name, "managed-by": "ams-iam-audit"}

    @property
    def boundary_name(self) -> str:
        """The customer managed policy (under :data:`BOUNDARY_PATH`) that ``--fix`` sets as the
        role's permissions boundary: the desired policy again, which the library's
        ``ensure_managed_policy`` never rewrites and its ``ensure_role`` never removes, so a deployment
        that widens the role's own policy cannot widen what the role may do."""
        return f"{self.role_name}-boundary"

    @property
    def boundary_description(self) -> str:
        return f"Permissions boundary of the AIModelShare shared role {self.role_name}: its desired state"

    def boundary_arn(self, partition: str, account_id: str) -> str:
        return f"arn:{partition}:iam::{account_id}:policy{BOUNDARY_PATH}{self.boundary_name}"

    def policy_for(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(json.dumps(self.policy).replace("${account}", account_id))
        return result

    @property
    def trusted_services(self) -> frozenset[str]:
        out: set[str] = set()
        for statement in _statements(self.trust):
            services = statement.get("Principal", {}).get("Service", [])
            out |= {services} if isinstance(services, str) else set(services)
        return frozenset(out)


def _statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    body = doc.get("Statement", [])
    return list(body) if isinstance(body, list) else [body]


@cache
def shared_roles() -> tuple[SharedRole, ...]:
    """The four shared roles, from the package data file (the one home of their names). A
    ``replaces`` entry that is no legacy pattern is refused: it would silently leave that pattern's
    roles without a replacement."""
    data = json.loads(files("ams_iam_audit").joinpath("data/shared_roles.json").read_text())
    roles = tuple(
        SharedRole(
            role_name=r["role_name"],
            policy_name=r["policy_name"],
            description=r["description"],
            trust=r["trust"],
            policy=r["policy"],
            replaces=tuple(r.get("replaces", ())),
        )
        for r in data["roles"]
    )
    known = {p.pattern for p in (*_ROLE_PATTERNS, *_POLICY_PATTERNS)}
    for role in roles:
        unknown = sorted(set(role.replaces) - known)
        if unknown:
            raise ValueError(f"shared_roles.json: {role.role_name} replaces unknown legacy patterns {unknown}")
    return roles


def replacement(pattern: str) -> SharedRole | None:
    """The shared role that replaces the legacy role or policy ``pattern`` (``"codebuild_role"``), or
    ``None`` when the refactoring left that pattern in place."""
    return next((r for r in shared_roles() if pattern in r.replaces), None)


def library_template(era: str, name: str, bucket: str | None = None) -> dict[str, Any]:
    """One of the library's own policy documents, as shipped ``legacy`` (before the refactoring) or
    ``refactored`` (after it): e.g. ``library_template("legacy", "iam_lambda_policy")``. ``bucket``
    fills the library's ``${bucket}`` placeholder."""
    if era not in ("legacy", "refactored"):
        raise ValueError(f"era must be 'legacy' or 'refactored', not {era!r}")
    text = files("ams_iam_audit").joinpath(f"data/aimodelshare/{era}/{name}.json").read_text()
    if bucket is not None:
        text = text.replace("${bucket}", bucket)
    result: dict[str, Any] = json.loads(text)
    return result


def library_template_names() -> tuple[str, ...]:
    """The names :func:`library_template` takes (the same in both eras)."""
    folder = files("ams_iam_audit").joinpath("data/aimodelshare/refactored")
    return tuple(sorted(f.name.removesuffix(".json") for f in folder.iterdir() if f.name.endswith(".json")))


def _s3_actions(document: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        out.update(a for a in ([actions] if isinstance(actions, str) else actions) if a.lower().startswith("s3:"))
    return out


@cache
def library_s3_actions() -> tuple[str, ...]:
    """The S3 actions the library's workloads use: those the shared roles' desired policies and the
    library's refactored policy templates grant (the temporary-access bucket policy's
    ``s3:DeleteObject`` among them). A wildcard S3 grant is narrowed to these (``policy.rewrite``), so
    a rewrite never takes away an action the refactored library itself grants its workloads."""
    out: set[str] = set()
    for spec in shared_roles():
        out |= _s3_actions(spec.policy)
    for name in library_template_names():
        out |= _s3_actions(library_template("refactored", name))
    return tuple(sorted(out))


def library_function_arns(account_id: str) -> tuple[str, ...]:
    """The Lambda functions the library's API Gateway may invoke, as ARN patterns in ``account_id``:
    those the shared invoke role's desired policy grants ``lambda:InvokeFunction`` on
    (``modfunction*``, ``evalfunction*``, ``redisAccess*``)."""
    out: list[str] = []
    for spec in shared_roles():
        for statement in _statements(spec.policy_for(account_id)):
            actions = statement.get("Action", [])
            if "lambda:InvokeFunction" in ([actions] if isinstance(actions, str) else actions):
                resources = statement.get("Resource", [])
                out += [resources] if isinstance(resources, str) else resources
    return tuple(sorted(set(out)))


def shared_role(name: str) -> SharedRole | None:
    return next((r for r in shared_roles() if r.role_name == name), None)


@cache
def shared_role_names() -> frozenset[str]:
    return frozenset(r.role_name for r in shared_roles())


@cache
def shared_policy_names() -> frozenset[str]:
    return frozenset(r.policy_name for r in shared_roles())


@cache
def _shared_names() -> frozenset[str]:
    return shared_role_names() | shared_policy_names()


def legacy_role_globs() -> tuple[str, ...]:
    """IAM ARN wildcards (``role/<glob>``) covering every legacy per-deployment role name, for the
    fix policy's resources."""
    return tuple(sorted({p.arn_glob for p in _ROLE_PATTERNS}))


def legacy_policy_globs() -> tuple[str, ...]:
    """IAM ARN wildcards covering every legacy per-deployment policy name."""
    return tuple(sorted({p.arn_glob for p in _POLICY_PATTERNS}))


def is_ephemeral_user(name: str) -> bool:
    """``AI_MODELSHARE_<timestamp>``: the user the legacy library made for every credential setup."""
    return _EPHEMERAL_USER.fullmatch(name) is not None


def is_ephemeral_policy(name: str) -> bool:
    """``temporaryaccessAImodelsharePolicy<hex>``: the legacy per-run user policy."""
    return name.startswith(_EPHEMERAL_POLICY_PREFIX)


def is_aimodelshare_bucket(name: str) -> bool:
    return name.startswith(BUCKET_PREFIX)


def _classify(name: str, patterns: Iterable[_Pattern], partners: Iterable[str]) -> LegacyMatch | None:
    if name in _shared_names():
        return None
    # a set of the partners only when a pattern needs one (an account's 5,000 role names, made into a
    # set for each of its 5,000 policies, was a quadratic second of the audit at the maximum quotas)
    partner_names: AbstractSet[str] | None = None
    for p in patterns:
        m = p.regex.fullmatch(name)
        if m is None:
            continue
        partner = None
        if p.partner_suffix is not None:
            if partner_names is None:
                partner_names = partners if isinstance(partners, AbstractSet) else set(partners)
            partner = m.group("stem") + p.partner_suffix
            if partner not in partner_names or partner in _shared_names():
                continue
        return LegacyMatch(pattern=p.pattern, created_by=p.created_by, replaced_by=p.replaced_by, partner=partner)
    return None


def role_pattern(pattern: str) -> LegacyMatch | None:
    """The legacy role pattern labelled ``pattern`` (e.g. ``"<project>-lambda-role"``)."""
    for p in _ROLE_PATTERNS:
        if p.pattern == pattern:
            return LegacyMatch(pattern=p.pattern, created_by=p.created_by, replaced_by=p.replaced_by)
    return None


def classify_role(name: str, policy_names: Iterable[str]) -> LegacyMatch | None:
    """Is role ``name`` a legacy per-deployment role? ``policy_names`` are the names of the policies
    attached to it or inline in it (they confirm the weak ``<x>-lambda-role`` patterns)."""
    return _classify(name, _ROLE_PATTERNS, policy_names)


def classify_policy(name: str, role_names: Iterable[str]) -> LegacyMatch | None:
    """Is managed policy ``name`` a legacy per-deployment policy? ``role_names`` are the account's
    role names (they confirm ``<x>-lambda-policy``)."""
    return _classify(name, _POLICY_PATTERNS, role_names)


def execution_role_trust(principals: Iterable[str], account_id: str) -> dict[str, Any]:
    """The trust policy ``--fix`` gives the execution role (the guide's migration step 1), for the
    principals the operator named (``--fix-execution-role-trust``), written to pass AMS-EXEC-001:
    people (IAM users, in any account, and this account's ``root``) may assume it only with MFA
    (``Bool aws:MultiFactorAuthPresent true``); roles are trusted by ARN. A whole foreign account is
    refused (it needs an ``sts:ExternalId`` agreed with its owner: name the role there instead), and
    so is anything that is no user, role or account ARN. Raises ``ValueError`` saying which and why."""
    people: list[str] = []
    roles: list[str] = []
    for principal in dict.fromkeys(principals):
        match = _TRUSTABLE.fullmatch(principal)
        if match is None or "*" in principal:
            raise ValueError(f"{principal!r} is not an IAM user, role or account root ARN")
        kind = match.group("kind")
        if kind == "root" and (match.group(0) != f"arn:{match.group('partition')}:iam::{match.group('account')}:root"):
            raise ValueError(f"{principal!r} is not an account root ARN")
        if kind == "root" and match.group("account") != account_id:
            raise ValueError(
                f"{principal} is a whole foreign account: name the role or user there that runs AIModelShare"
            )
        (roles if kind == "role" else people).append(principal)
    if not people and not roles:
        raise ValueError("no principal given")
    statements: list[dict[str, Any]] = []
    if people:
        statements.append(
            {
                "Sid": "PeopleWithMfa",
                "Effect": "Allow",
                "Principal": {"AWS": people},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        )
    if roles:
        statements.append({"Sid": "Roles", "Effect": "Allow", "Principal": {"AWS": roles}, "Action": "sts:AssumeRole"})
    return {"Version": "2012-10-17", "Statement": statements}
