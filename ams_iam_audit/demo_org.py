"""The organization demo: a moto server on 127.0.0.1 holding an AWS Organization whose member
accounts are at different stages of the AIModelShare migration, so ``pytest --aws-account demo-org``
shows a multi-account audit anywhere, with no AWS account.

The organization (its management account is the caller, :data:`demo.DEMO_ACCOUNT_ID`, which holds
only ordinary, clean resources) has these members, created in this order (``MEMBERS``):

* ``ml-legacy``: the library's whole legacy footprint, as the demo account has it (:func:`demo.seed`);
* ``ml-migrating``: half way: the four shared roles exist (the API path's two in their desired state
  with their boundaries, as ``--fix`` leaves them; the container path's two from the refactored
  library's own, broader documents), the container path's per-deployment roles are still in use, one
  ephemeral ``AI_MODELSHARE_*`` user is left whose access key is still used, the execution role is
  trusted by a CI user without MFA;
* ``ml-migrated``: the refactored state: the four shared roles with their desired policies and
  boundaries, an execution role trusted by a CI role, no legacy resource; it fails only account-wide
  checks the demo server cannot satisfy (root MFA, an AWS managed support policy, Access Analyzer);
* ``analytics``: no AIModelShare at all, ordinary application roles;
* ``acquired-startup``: joined from another organization: its ``OrganizationAccountAccessRole`` still
  trusts its former management account only, so assuming it is refused (AccessDenied) and the audit
  reports the account as unreachable, on purpose;
* ``retired-sandbox``: closed (SUSPENDED): Organizations still lists it, an audit of the organization
  leaves it out.

What moto does not do, and this module adds:

* moto's ``sts:AssumeRole`` neither checks that the role exists nor reads its trust policy; the
  :class:`TrustEmulation` layer in front of the server refuses an AssumeRole, with STS's own
  ``AccessDenied``, when the role does not exist or no Allow of its trust policy names the caller (its
  account, the account's root, its ARN, or ``*``; conditions are not evaluated);
* account ids are random in moto: the server's random generator is seeded (``/moto-api/seed``) before
  the organization is made, and every account is created in the same order, so the ids (and the
  organization's) are the same at every start: :data:`EXPECTED_IDS`.

moto's backends are process-wide: every moto server in one process shares one state. :meth:`start`
empties it (``/moto-api/reset``) before building the organization, so a second start in the same
process (or one after tests that used moto) begins clean, and :meth:`stop` empties it again; another
moto server of the process loses its state then (the random generator stays seeded). Tests that need
both run the organization in a child process (``python -m ams_iam_audit.demo_org``, :func:`main`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import re
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from html import escape
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import boto3
import botocore.loaders
import botocore.session

from .aimodelshare import BOUNDARY_PATH, SharedRole, replacement, shared_roles
from .demo import (
    DEMO_ACCOUNT_ID,
    DEMO_CREDENTIALS,
    DEMO_REGION,
    DRIFTED_SHARED_ROLES,
    LAMBDA_TRUST,
    DemoUnavailable,
    Seeder,
    WsgiApp,
    _doc,
    emulate_access_analyzer,
    seed,
    seed_drifted_shared_roles,
    seed_ephemeral_users,
    seed_execution_role,
    seed_model_roles,
    seed_unrelated,
    start_server,
    user_bucket,
)

__all__ = [
    "EXPECTED_IDS",
    "MANAGEMENT_ACCOUNT_ID",
    "MEMBERS",
    "ORGANIZATION_ROLE",
    "DemoOrganization",
    "Member",
    "TrustEmulation",
    "emulate_trust",
    "main",
]

MANAGEMENT_ACCOUNT_ID = DEMO_ACCOUNT_ID
#: The role Organizations creates in each account it creates, trusting the management account.
ORGANIZATION_ROLE = "OrganizationAccountAccessRole"
#: The seed of moto's random generator: the organization's and the accounts' ids follow from it.
SEED = 20240311
#: The account the acquired startup's role still trusts: its former organization's management account.
FORMER_MANAGEMENT_ACCOUNT = "999988887777"


class Member(NamedTuple):
    """A member account: its id, its name in the organization, and what it shows."""

    account_id: str
    name: str
    description: str


#: name -> what the member shows, in the order the members are created (their ids depend on it).
MEMBERS: Mapping[str, str] = {
    "ml-legacy": "the library's whole legacy footprint (ephemeral users, per-deployment roles, drifted shared roles)",
    "ml-migrating": "half migrated: four shared roles, the container path's legacy roles still in use, "
    "one ephemeral user whose access key is still used",
    "ml-migrated": "the refactored state: four shared roles in their desired state with boundaries, no legacy",
    "analytics": "no AIModelShare at all: ordinary application roles",
    "acquired-startup": f"unreachable on purpose: its {ORGANIZATION_ROLE} trusts only its former organization",
    "retired-sandbox": "closed (SUSPENDED): listed by Organizations, left out of the audit",
}
#: What the ids are at every start (moto's generator seeded with :data:`SEED`); a test checks it.
EXPECTED_IDS: Mapping[str, str] = {
    "organization": "o-s4lgk7nrzi",
    "ml-legacy": "608573271855",
    "ml-migrating": "795035091758",
    "ml-migrated": "342624351025",
    "analytics": "707193576010",
    "acquired-startup": "872028632510",
    "retired-sandbox": "796168182708",
}
_UNREACHABLE = "acquired-startup"
_CLOSED = "retired-sandbox"


@dataclass
class DemoOrganization:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager). After
    :meth:`start`: ``endpoint_url``, ``organization_id``, ``members`` (every member but the
    management account, the closed one included), ``unreachable`` and ``closed`` (account ids)."""

    endpoint_url: str | None = None
    organization_id: str = ""
    members: tuple[Member, ...] = ()
    unreachable: frozenset[str] = frozenset()
    closed: frozenset[str] = frozenset()
    #: seconds :meth:`start` took (server, organization and every account's footprint)
    start_seconds: float = 0.0
    _server: Any = field(default=None, repr=False)

    @property
    def credentials(self) -> tuple[str, str]:
        """The management account's (key, secret): dummy values moto accepts, never real credentials."""
        return DEMO_CREDENTIALS

    @property
    def management_account_id(self) -> str:
        return MANAGEMENT_ACCOUNT_ID

    def start(self) -> DemoOrganization:
        """Start the moto server, empty moto's process-wide state, and build the organization. Raises
        :class:`demo.DemoUnavailable` when moto (the ``demo`` extra) is not installed."""
        began = time.perf_counter()
        self._server, self.endpoint_url = start_server("demo-org")
        try:
            emulate_access_analyzer(self._server, MANAGEMENT_ACCOUNT_ID)
            emulate_trust(self._server)
            self._moto_api("reset")
            self._moto_api(f"seed?a={SEED}")
            self._build()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - began
        return self

    def stop(self) -> None:
        """Empty moto's process-wide state (so a demo started later in this process, such as
        :class:`demo.DemoAccount`, which does not, begins clean) and stop the server."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._moto_api("reset")
            self._server.stop()
            self._server = None

    def __enter__(self) -> DemoOrganization:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def session(self) -> boto3.Session:
        """A session of the management account (the caller)."""
        key, secret = self.credentials
        return _session(key, secret)

    def member_session(self, account_id: str, role_name: str = ORGANIZATION_ROLE) -> boto3.Session:
        """A session in member ``account_id`` through ``role_name``, assumed from the management
        account as an audit of the organization does. Raises botocore's ``ClientError``
        (``AccessDenied``) for the unreachable member, and for a role the member does not have."""
        if self.endpoint_url is None:
            raise RuntimeError("the demo organization is not started: call start() first")
        sts = self.session().client("sts", endpoint_url=self.endpoint_url)
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}", RoleSessionName="ams-iam-audit-demo-org"
        )["Credentials"]
        return _session(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def member(self, name: str) -> Member:
        """The member named ``name`` (one of :data:`MEMBERS`)."""
        found = next((m for m in self.members if m.name == name), None)
        if found is None:
            raise KeyError(f"the demo organization has no member {name!r}: its members are {', '.join(MEMBERS)}")
        return found

    def _moto_api(self, path: str) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/{path}", method="POST")
        with urllib.request.urlopen(request, timeout=30):  # our own server, on 127.0.0.1
            pass

    def _build(self) -> None:
        url = str(self.endpoint_url)
        management = self.session()
        org = management.client("organizations", endpoint_url=url)
        self.organization_id = str(org.create_organization(FeatureSet="ALL")["Organization"]["Id"])
        members = []
        for name, description in MEMBERS.items():
            status = org.create_account(AccountName=name, Email=f"aws+{name}@example.com")["CreateAccountStatus"]
            members.append(Member(str(status["AccountId"]), name, description))
        self.members = tuple(members)
        _seed_management(Seeder(management, url, MANAGEMENT_ACCOUNT_ID))
        for member in self.members:
            _FOOTPRINTS[member.name](Seeder(self.member_session(member.account_id), url, member.account_id))
        startup = self.member(_UNREACHABLE).account_id
        self.member_session(startup).client("iam", endpoint_url=url).update_assume_role_policy(
            RoleName=ORGANIZATION_ROLE,
            PolicyDocument=json.dumps(_trusting(f"arn:aws:iam::{FORMER_MANAGEMENT_ACCOUNT}:root")),
        )
        retired = self.member(_CLOSED).account_id
        org.close_account(AccountId=retired)
        self.unreachable = frozenset({startup})
        self.closed = frozenset({retired})


@cache
def _loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def _session(key: str, secret: str, token: str | None = None) -> boto3.Session:
    """A boto3 session on these credentials whose clients share one loader of botocore's service
    models: each new session otherwise reads and parses them again, which was half of :meth:`start`."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.Session(
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        region_name=DEMO_REGION,
        botocore_session=core,
    )


def _trusting(principal: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}],
    }


# --- the members' footprints ------------------------------------------------------------------------


def _well_run(s: Seeder) -> None:
    """What a well-run account has set, as far as the demo server allows: CIS's password policy, and
    the trail of :func:`demo.seed_unrelated` logging read events too (AssumeRole among them). Root MFA,
    the AWS managed support policy and Access Analyzer stay missing: moto (5) sets none of them through
    its API (its managed policies are not loaded, Access Analyzer is emulated once for the whole server)."""
    s.iam.update_account_password_policy(MinimumPasswordLength=14, PasswordReusePrevention=24)
    s.client("cloudtrail").put_event_selectors(
        TrailName="corp-audit-trail", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )


def _seed_management(s: Seeder) -> None:
    """The management account: ordinary, clean resources only, well run."""
    seed_unrelated(s)
    _well_run(s)


def seed_desired_shared_roles(s: Seeder, specs: Iterable[SharedRole]) -> None:
    """Each of ``specs`` as ``--fix`` leaves it: its policy holding the desired state, its trust,
    description and tags, and its ``<role>-boundary`` (the desired state again, under
    :data:`aimodelshare.BOUNDARY_PATH`) as its permissions boundary."""
    for spec in specs:
        desired = json.dumps(spec.policy_for(s.account_id))
        boundary = s.iam.create_policy(
            PolicyName=spec.boundary_name,
            Path=BOUNDARY_PATH,
            PolicyDocument=desired,
            Description=spec.boundary_description,
        )["Policy"]["Arn"]
        policy = s.iam.create_policy(
            PolicyName=spec.policy_name, PolicyDocument=desired, Description=spec.policy_description
        )["Policy"]["Arn"]
        s.iam.create_role(
            RoleName=spec.role_name,
            AssumeRolePolicyDocument=json.dumps(spec.trust),
            Description=spec.description,
            PermissionsBoundary=boundary,
            Tags=[{"Key": k, "Value": v} for k, v in spec.tags.items()],
        )
        s.iam.attach_role_policy(RoleName=spec.role_name, PolicyArn=policy)


def _guarded_bucket(s: Seeder) -> None:
    """The library's bucket, as the refactored library leaves it: no bucket policy, every public
    access blocked."""
    bucket = user_bucket(s.account_id)
    s.s3.create_bucket(Bucket=bucket)
    s.s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )


def _legacy(s: Seeder) -> None:
    seed(s.session, s.endpoint_url, s.account_id)


def _migrating(s: Seeder) -> None:
    bucket = user_bucket(s.account_id)
    _guarded_bucket(s)
    api_path = [spec for spec in shared_roles() if spec.role_name not in _container_path_roles()]
    seed_desired_shared_roles(s, api_path)
    seed_drifted_shared_roles(s)
    seed_model_roles(s, bucket)
    ((_, key_id),) = seed_ephemeral_users(
        s, bucket, (("2025_09_30_08_15_27", "e4f1a2b3c9d411f0b6a10242ac120006"),), orphaned=False
    )
    _use_key(s, key_id)
    seed_execution_role(s)
    seed_unrelated(s)
    s.iam.update_account_password_policy(MinimumPasswordLength=14, PasswordReusePrevention=24)


def _container_path_roles() -> frozenset[str]:
    """The shared roles replacing the container path's roles (``codebuild_role``, ``lambda_role_<api_id>``),
    those the demo account has drifted."""
    return frozenset(spec.role_name for legacy in DRIFTED_SHARED_ROLES if (spec := replacement(legacy)) is not None)


def _use_key(s: Seeder, key_id: str) -> None:
    """Make the user's key "in use": a call signed with it sets its last use. moto reads the key
    id only (any secret is accepted), so the secret the demo discarded is not needed."""
    user = _session(key_id, "unused")
    user.client("s3", endpoint_url=s.endpoint_url).list_buckets()


def _migrated(s: Seeder) -> None:
    _guarded_bucket(s)
    seed_desired_shared_roles(s, shared_roles())
    # The execution role, trusted by one CI role (GitHub Actions through OIDC), which people cannot sign in as.
    provider = s.iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )["OpenIDConnectProviderArn"]
    ci = s.role(
        "ml-platform-deploy",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                            "token.actions.githubusercontent.com:sub": "repo:corp/ml-models:ref:refs/heads/main",
                        }
                    },
                }
            ],
        },
    )
    seed_execution_role(s, _trusting(ci))
    seed_unrelated(s)
    _well_run(s)


def _analytics(s: Seeder) -> None:
    seed_unrelated(s)
    _well_run(s)
    warehouse = f"corp-warehouse-{s.account_id}"
    s.s3.create_bucket(Bucket=warehouse)
    s.s3.put_public_access_block(
        Bucket=warehouse,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    etl = s.managed(
        "warehouse-etl",
        _doc(
            [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{warehouse}", f"arn:aws:s3:::{warehouse}/*"],
                },
                {
                    "Effect": "Allow",
                    "Action": ["glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"],
                    "Resource": f"arn:aws:glue:{DEMO_REGION}:{s.account_id}:*",
                },
            ]
        ),
    )
    glue_trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "glue.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    s.role("warehouse-etl-glue", glue_trust, etl)
    reports = s.managed(
        "dashboard-reports-read",
        _doc([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{warehouse}/reports/*"}]),
    )
    s.role("dashboard-refresh", LAMBDA_TRUST, reports)


def _startup(s: Seeder) -> None:
    seed_unrelated(s)


def _retired(s: Seeder) -> None:
    """Nothing: the sandbox is closed right after it is made."""


_FOOTPRINTS: Mapping[str, Callable[[Seeder], None]] = {
    "ml-legacy": _legacy,
    "ml-migrating": _migrating,
    "ml-migrated": _migrated,
    "analytics": _analytics,
    "acquired-startup": _startup,
    "retired-sandbox": _retired,
}

# --- sts:AssumeRole as AWS decides it -----------------------------------------------------------------

_STS_SIGNED = re.compile(r"Credential=([^/]+)/\d{8}/[a-z0-9-]+/sts/")
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class TrustEmulation:
    """A WSGI layer in front of a moto server that decides ``sts:AssumeRole`` as AWS does, in part:
    moto (5) hands out credentials for any role ARN, existing or not, whatever its trust policy says.
    This layer refuses, with STS's ``AccessDenied`` (HTTP 403), an AssumeRole whose role does not
    exist, or whose trust policy has no Allow of ``sts:AssumeRole`` naming the caller (``*``, the
    caller's account id or root, or the caller's own ARN). Conditions and Deny statements are not
    evaluated. Every other request goes to moto unchanged. It reads moto's state directly, so it
    works only in front of a server of this process (``ThreadedMotoServer``)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        signed = _STS_SIGNED.search(environ.get("HTTP_AUTHORIZATION", ""))
        if signed is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the body again
        params = parse_qs(environ.get("QUERY_STRING", "")) | parse_qs(body.decode("utf-8", "replace"))
        if params.get("Action") != ["AssumeRole"] or not params.get("RoleArn"):
            return self.app(environ, start_response)
        refusal = refusal_of(signed.group(1), params["RoleArn"][0])
        if refusal is None:
            return self.app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "text/xml")])
        return [
            (
                f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>Sender</Type><Code>AccessDenied</Code>'
                f"<Message>{escape(refusal)}</Message></Error><RequestId>ams-iam-audit-demo-org</RequestId>"
                "</ErrorResponse>"
            ).encode()
        ]


def refusal_of(access_key_id: str, role_arn: str) -> str | None:
    """STS's message refusing the caller of ``access_key_id`` the role ``role_arn``, or ``None``
    when its trust policy lets the caller assume it (see :class:`TrustEmulation`)."""
    from moto.iam.models import get_account_id_from, iam_backends
    from moto.sts.models import sts_backends

    caller_account = get_account_id_from(access_key_id)
    assumed = sts_backends[caller_account]["aws"].get_assumed_role_from_access_key(access_key_id)
    key = iam_backends[caller_account]["aws"].access_keys.get(access_key_id)
    if assumed is not None:
        caller = assumed.arn
    elif key is not None and key.user_name:
        caller = f"arn:aws:iam::{caller_account}:user/{key.user_name}"
    else:  # a key moto does not know: its default caller
        caller = f"arn:aws:sts::{caller_account}:user/moto"
    denied = f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit():
        return denied
    try:
        role = iam_backends[parts[4]]["aws"].get_role_by_arn(role_arn)
        trust = json.loads(role.assume_role_policy_document)
    except Exception:  # no such role, or a trust policy that is not JSON: AWS refuses both alike
        return denied
    accepted = {"*", caller_account, f"arn:aws:iam::{caller_account}:root", caller}
    if assumed is not None:
        accepted.add(assumed.role_arn)
    statements = trust.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatch.fnmatchcase("sts:assumerole", str(a).lower()) for a in actions):
            continue
        principal = statement.get("Principal", {})
        named = principal.get("AWS", []) if isinstance(principal, dict) else principal
        named = [named] if isinstance(named, str) else named
        if accepted & set(named):
            return None
    return denied


def emulate_trust(server: Any) -> TrustEmulation:
    """Put a :class:`TrustEmulation` in front of a started ``ThreadedMotoServer``'s app."""
    wsgi = server._server  # werkzeug's server: its handler calls ``wsgi.app`` for each request
    layer = TrustEmulation(wsgi.app)
    wsgi.app = layer
    return layer


def main(argv: list[str] | None = None) -> int:
    """``python -m ams_iam_audit.demo_org``: start the organization, print it as one JSON line
    (endpoint, credentials, organization, members, unreachable and closed ids, start seconds) and
    serve until standard input closes; for tests that need it in a process of its own. Without moto
    (the ``demo`` extra), one line saying so and exit status 4, as pytest's usage errors."""
    del argv
    try:
        org = DemoOrganization().start()
    except DemoUnavailable as exc:
        print(exc, file=sys.stderr)
        return 4
    with org:
        print(
            json.dumps(
                {
                    "endpoint_url": org.endpoint_url,
                    "credentials": list(org.credentials),
                    "management_account_id": org.management_account_id,
                    "organization_id": org.organization_id,
                    "members": [list(m) for m in org.members],
                    "unreachable": sorted(org.unreachable),
                    "closed": sorted(org.closed),
                    "start_seconds": round(org.start_seconds, 3),
                }
            ),
            flush=True,
        )
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
