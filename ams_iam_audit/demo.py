"""The embedded demo account: a moto server on 127.0.0.1 seeded with a half-migrated AIModelShare
footprint, so ``pytest --aws-account demo`` shows the product anywhere, with no AWS account.

The footprint follows what the library really leaves behind (names and documents from its source):

* three ephemeral users ``AI_MODELSHARE_<ts>``, each with an access key and its
  ``temporaryaccessAImodelsharePolicy<hex>``, plus an orphaned policy from an earlier run;
* per-deployment roles still in use: ``lambda_role_<api_id>`` (a model function),
  ``myService-dev-us-us-east-1-lambdaRole<id>`` (prediction and evaluation functions),
  ``lambda_invoke_function_assume_apigw_role_2`` (an API Gateway integration), ``codebuild_role``
  (a CodeBuild project), and a custom-container ``<function>-codebuild-role``;
* two of the four shared roles, provisioned from the refactored library's documents (so drifted from
  the tightened desired state); the other two missing;
* the user's ``aimodelshare…`` bucket with an ``s3:*`` bucket policy;
* clean, unrelated resources that every rule must pass (including a ``<x>-lambda-role`` that is not
  the library's, a bucket policy made only of a Deny, and the trail's own bucket, each of the two with
  its public access block).

Everything is created through boto3 over HTTP, exactly as a client would against AWS.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

import boto3

from .aimodelshare import library_template, replacement, shared_roles

__all__ = [
    "DEMO_ACCOUNT_ID",
    "DEMO_REGION",
    "AccessAnalyzerEmulation",
    "DemoAccount",
    "DemoUnavailable",
    "Seeder",
    "add_api_integration",
    "emulate_access_analyzer",
    "execution_policy",
    "seed",
    "seed_api_roles",
    "seed_drifted_shared_roles",
    "seed_ephemeral_users",
    "seed_execution_role",
    "seed_model_roles",
    "seed_unrelated",
    "seed_user_bucket",
    "start_server",
    "user_bucket",
]

DEMO_ACCOUNT_ID = "123456789012"  # moto's default account
DEMO_REGION = "us-east-1"
DEMO_CREDENTIALS = ("demo", "demo")  # moto accepts any; never real credentials
_A = DEMO_ACCOUNT_ID


class DemoUnavailable(RuntimeError):
    """The demo cannot start: moto (the ``demo`` extra) is not installed."""


LAMBDA_TRUST = library_template("legacy", "iam_lambda_trust_relationship")
CODEBUILD_TRUST = library_template("legacy", "iam_codebuild_trust_relationship")
APIGW_TRUST = library_template("legacy", "json_templates_lambda_role_2")
USER_BUCKET = f"aimodelsharealice{_A}useast1"
TRAIL_BUCKET = f"corp-cloudtrail-logs-{_A}"  # as seed_unrelated names it
#: The legacy key pair in the evaluation function's environment: fake, shaped like AWS's (the audit
#: must find it and print only its masked form).
LEGACY_KEY_ID = "AKIADEMOLEGACYKEY7XQ"
LEGACY_SECRET = "demoLegacySecret/Key+NotReal0123456789ab"
_BLOCK_ALL: Any = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
EXECUTION_ROLE = "aimodelshare-execution-role"


@dataclass
class DemoAccount:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    endpoint_url: str | None = None
    _server: Any = None

    @property
    def execution_role_arn(self) -> str:
        return f"arn:aws:iam::{_A}:role/{EXECUTION_ROLE}"

    def start(self) -> DemoAccount:
        """Start the moto server and seed it. Raises :class:`DemoUnavailable` when moto is not
        installed (the ``demo`` extra)."""
        self._server, self.endpoint_url = start_server("demo")
        emulate_access_analyzer(self._server)
        seed(self.session(), self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def session(self) -> boto3.Session:
        key, secret = DEMO_CREDENTIALS
        return boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=DEMO_REGION)

    def __enter__(self) -> DemoAccount:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


#: What the demo's moto server (moto 5) does not implement, which ``--fix`` needs: the demo reports
#: these changes as not made, and keeps the roles that depend on them, rather than pretend.
UNSUPPORTED_CALLS = frozenset(
    {"codebuild:UpdateProject", "apigateway:UpdateIntegration", "iam:GenerateServiceLastAccessedDetails"}
)

_SIGNED_FOR = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/access-analyzer/")
_JSON = [("Content-Type", "application/json")]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AccessAnalyzerEmulation:
    """IAM Access Analyzer for a moto server, which (moto 5) does not implement it: a WSGI layer that
    answers CreateAnalyzer, ListAnalyzers and DeleteAnalyzer (REST-JSON, requests signed for
    ``access-analyzer``) from an in-memory store per region, the way AWS answers them, and hands every
    other request to moto; moto's ``/moto-api/reset`` empties the store too. The demo account has no
    analyzer (AMS-ACCT-003 fails, as on most accounts); tests create them through boto3."""

    def __init__(self, app: WsgiApp, account_id: str = DEMO_ACCOUNT_ID) -> None:
        self.app = app
        self.account_id = account_id
        #: region -> analyzer name -> the analyzer as ListAnalyzers returns it (tests may edit ``status``)
        self.analyzers: dict[str, dict[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset":
            with self._lock:
                self.analyzers.clear()
        signed = _SIGNED_FOR.search(environ.get("HTTP_AUTHORIZATION", ""))
        if signed is None:
            return self.app(environ, start_response)
        region, method = signed.group(1), environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        status, answer = self._answer(region, method, path, environ.get("QUERY_STRING", ""), body)
        start_response(status, _JSON)
        return [json.dumps(answer).encode()]

    def _answer(self, region: str, method: str, path: str, query: str, body: Any) -> tuple[str, dict[str, Any]]:
        with self._lock:
            store = self.analyzers.setdefault(region, {})
            if path == "/analyzer" and method == "GET":
                wanted = parse_qs(query).get("type")
                found = [a for a in store.values() if not wanted or a["type"] in wanted]
                return "200 OK", {"analyzers": found}
            if path == "/analyzer" and method == "PUT":
                name = str(body.get("analyzerName", ""))
                if name in store:
                    return "409 Conflict", {"message": f"analyzer {name} already exists"}
                arn = f"arn:aws:access-analyzer:{region}:{self.account_id}:analyzer/{name}"
                store[name] = {
                    "arn": arn,
                    "name": name,
                    "type": str(body.get("type", "ACCOUNT")),
                    "createdAt": time.time(),
                    "status": "ACTIVE",
                }
                return "200 OK", {"arn": arn}
            if path.startswith("/analyzer/") and method == "DELETE":
                store.pop(path.removeprefix("/analyzer/"), None)
                return "200 OK", {}
        return "404 Not Found", {"message": f"{method} {path} is not emulated"}


def emulate_access_analyzer(server: Any, account_id: str = DEMO_ACCOUNT_ID) -> AccessAnalyzerEmulation:
    """Put an :class:`AccessAnalyzerEmulation` in front of a started ``ThreadedMotoServer``'s app."""
    wsgi = server._server  # werkzeug's server: its handler calls ``wsgi.app`` for each request
    layer = AccessAnalyzerEmulation(wsgi.app, account_id)
    wsgi.app = layer
    return layer


#: The loggers of the demo's moto server: werkzeug logs each request, and Flask's app (named "moto")
#: logs a traceback for every call moto does not implement, to stderr, into the user's terminal.
SERVER_LOGGERS = ("werkzeug", "moto")


def start_server(demo: str) -> tuple[Any, str]:
    """A started moto server on 127.0.0.1 (a free port) with its log kept out of the terminal, and
    its URL. ``demo`` (``demo``, ``demo-org``) names the ``--aws-account`` value in the one-line
    :class:`DemoUnavailable` raised when moto, the ``demo`` extra, is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise DemoUnavailable(
            f"--aws-account {demo} needs the demo extra (a local moto server), which is not installed "
            f"({exc}): pip install 'ams-iam-audit[demo]'"
        ) from None
    _quiet_server_logs()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def _quiet_server_logs() -> None:
    """Keep the demo server's own log out of the terminal: what the user sees of the demo is the
    audit, which reports what the server could not do in its findings. A logger that has a handler
    is left alone by Flask and werkzeug, which otherwise add one writing to stderr."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [logging.NullHandler()]
        logger.propagate = False
        logger.setLevel(logging.CRITICAL + 1)


def _doc(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def add_api_integration(apigw: Any, api_name: str, path: str, function_arn: str, credentials: str) -> str:
    """A REST API whose ``POST /<path>`` invokes ``function_arn`` with the ``credentials`` role, as
    the library's ``create_prediction_api`` wires it. Returns the API id."""
    api = apigw.create_rest_api(name=api_name)
    root = apigw.get_resources(restApiId=api["id"])["items"][0]["id"]
    resource = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart=path)["id"]
    apigw.put_method(restApiId=api["id"], resourceId=resource, httpMethod="POST", authorizationType="NONE")
    region = apigw.meta.region_name
    apigw.put_integration(
        restApiId=api["id"],
        resourceId=resource,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations",
        credentials=credentials,
    )
    apigw.create_deployment(restApiId=api["id"], stageName="prod")  # as the library deploys it
    return str(api["id"])


@dataclass(frozen=True)
class Seeder:
    """boto3 clients on one (empty) account of a demo server, and that account's id, which the
    footprint's names and ARNs carry (bucket names, policy resources, trust principals). The parts
    of the footprint below each take one; :func:`seed` puts them all in the demo account, the demo
    organization (``demo_org``) a chosen few in each of its accounts."""

    session: boto3.Session
    endpoint_url: str
    account_id: str = DEMO_ACCOUNT_ID

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    @cached_property
    def iam(self) -> Any:
        return self.client("iam")

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def region(self) -> str:
        return str(self.session.region_name or DEMO_REGION)

    def managed(self, name: str, document: dict[str, Any] | str) -> str:
        """Create the customer managed policy ``name``; its ARN."""
        body = document if isinstance(document, str) else json.dumps(document)
        return str(self.iam.create_policy(PolicyName=name, PolicyDocument=body)["Policy"]["Arn"])

    def role(self, name: str, trust: dict[str, Any], *policy_arns: str) -> str:
        """Create the role ``name`` trusting ``trust`` with ``policy_arns`` attached; its ARN."""
        arn = str(self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
        for policy_arn in policy_arns:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        return arn


def user_bucket(account_id: str) -> str:
    """The library's bucket of user ``alice`` in ``account_id`` (``aimodelshare<user><account><region>``)."""
    return f"aimodelsharealice{account_id}useast1"


#: The ephemeral users of the demo account: (form timestamp, uuid1 hex of the user's policy).
EPHEMERAL_USERS = (
    ("2024_03_11_14_22_05", "3f1c2a9edfb711eea1b20242ac120002"),
    ("2024_06_02_09_10_41", "7c9e6679e0a111efb8640242ac120003"),
    ("2025_01_17_18_03_59", "b2d4f6a8d4f011efa0f40242ac120004"),
)
#: The demo's per-deployment ids: a model API's id and a prediction API's shortuuid.
API_ID = "a1b2c3d4e5"
SHORT_ID = "Qm7Kx2Vb9Np4"


def seed_user_bucket(s: Seeder) -> str:
    """The user's bucket, with the wildcard policy of the legacy library's era; its name."""
    bucket = user_bucket(s.account_id)
    s.s3.create_bucket(Bucket=bucket)
    s.s3.put_bucket_policy(
        Bucket=bucket,
        Policy=_doc(
            [
                {
                    "Sid": "ModelShareAccess",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{s.account_id}:root"},
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ]
        ),
    )
    return bucket


def seed_ephemeral_users(
    s: Seeder, bucket: str, users: Iterable[tuple[str, str]] = EPHEMERAL_USERS, *, orphaned: bool = True
) -> list[tuple[str, str]]:
    """Ephemeral users ``AI_MODELSHARE_<stamp>``, one per credential setup, each with an access key
    and its ``temporaryaccessAImodelsharePolicy<hex>`` on ``bucket``; with ``orphaned``, one more such
    policy left from an earlier run. The users' (name, access key id), in order (the secrets are
    discarded: the demo never needs them)."""
    user_policy = library_template("legacy", "bucketpolicy_custom_s3_policy", bucket=bucket)
    created = []
    for stamp, suffix in users:
        name = f"AI_MODELSHARE_{stamp}"
        s.iam.create_user(UserName=name)
        key = s.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        s.iam.attach_user_policy(
            UserName=name, PolicyArn=s.managed(f"temporaryaccessAImodelsharePolicy{suffix}", user_policy)
        )
        created.append((name, str(key)))
    if orphaned:
        s.managed("temporaryaccessAImodelsharePolicy0a1b2c3dc0de11eeb9d10242ac120005", user_policy)
    return created


def seed_model_roles(s: Seeder, bucket: str, api_id: str = API_ID) -> None:
    """The container path's per-deployment roles, still used by their consumers:
    ``lambda_role_<api_id>`` (the model function ``modfunction<api_id>``), ``codebuild_role`` (the
    image build project), and a custom-container ``mymodel-codebuild-role``."""
    lambda_role = s.role(
        f"lambda_role_{api_id}",
        LAMBDA_TRUST,
        s.managed(f"lambda_policy_{api_id}", library_template("legacy", "iam_lambda_policy")),
    )
    build_role = s.role(
        "codebuild_role",
        CODEBUILD_TRUST,
        s.managed("codebuild_policy", library_template("legacy", "iam_codebuild_policy")),
    )
    s.role(
        "mymodel-codebuild-role",
        CODEBUILD_TRUST,
        s.managed("mymodel-codebuild-policies", library_template("legacy", "iam_codebuild_policy")),
    )
    s.client("lambda").create_function(
        FunctionName=f"modfunction{api_id}",
        Runtime="python3.12",
        Role=lambda_role,
        Handler="main.handler",
        Code={"ZipFile": _zip()},
    )
    s.client("codebuild").create_project(
        name=f"aimodelshare-image-build-{api_id}",
        serviceRole=build_role,
        source={"type": "S3", "location": f"{bucket}/build/{api_id}.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,
        },
    )


def seed_api_roles(s: Seeder, bucket: str, short: str = SHORT_ID, *, legacy_keys: bool = True) -> None:
    """The prediction API's per-deployment roles, still used by their consumers:
    ``myService-dev-us-us-east-1-lambdaRole<short>`` (the prediction and evaluation functions) and
    ``lambda_invoke_function_assume_apigw_role_2`` (the API Gateway integration). With
    ``legacy_keys``, the evaluation function's environment holds the legacy key pair
    (:data:`LEGACY_KEY_ID`) in plain text."""
    api_role = s.role(
        f"myService-dev-us-us-east-1-lambdaRole{short}",
        LAMBDA_TRUST,
        s.managed(
            f"myService-dev-us-east-1-lambdaPolicy{short}", library_template("legacy", "json_templates_lambda_policy_1")
        ),
    )
    invoke_role = s.role(
        "lambda_invoke_function_assume_apigw_role_2",
        APIGW_TRUST,
        s.managed("invokelambda", library_template("legacy", "json_templates_lambda_policy_2")),
    )
    lam = s.client("lambda")
    code: Any = {"ZipFile": _zip()}
    variables = (
        {"AWS_ACCESS_KEY_ID_AIMS": LEGACY_KEY_ID, "AWS_SECRET_ACCESS_KEY_AIMS": LEGACY_SECRET, "BUCKET_NAME": bucket}
        if legacy_keys
        else {"BUCKET_NAME": bucket}
    )
    for function, environment in ((f"modfunction{short}", {}), (f"evalfunction{short}", variables)):
        extra: Any = {"Environment": {"Variables": environment}} if environment else {}
        lam.create_function(
            FunctionName=function, Runtime="python3.12", Role=api_role, Handler="main.handler", Code=code, **extra
        )
    add_api_integration(
        s.client("apigateway"),
        f"modelapi-{short}",
        "m",
        f"arn:aws:lambda:{s.region}:{s.account_id}:function:modfunction{short}",
        invoke_role,
    )


#: The legacy patterns whose shared roles the demo account already has (drifted).
DRIFTED_SHARED_ROLES = ("codebuild_role", "lambda_role_<api_id>")
_REFACTORED_TEMPLATES = {"codebuild_role": (CODEBUILD_TRUST, "iam_codebuild_policy"),
                         "lambda_role_<api_id>": (LAMBDA_TRUST, "iam_lambda_policy")}  # fmt: skip


def seed_drifted_shared_roles(s: Seeder, legacies: Iterable[str] = DRIFTED_SHARED_ROLES) -> None:
    """The shared roles replacing ``legacies`` (those of :data:`DRIFTED_SHARED_ROLES`), provisioned
    from the refactored library's own documents: drifted from the tightened desired state."""
    for legacy in legacies:
        spec = replacement(legacy)
        if spec is None or legacy not in _REFACTORED_TEMPLATES:
            raise LookupError(f"data/shared_roles.json names no shared role replacing {legacy} with a demo template")
        trust, template = _REFACTORED_TEMPLATES[legacy]
        s.role(spec.role_name, trust, s.managed(spec.policy_name, library_template("refactored", template)))


def execution_policy(account_id: str) -> str:
    """The execution role's least-privilege policy (the library's bucket reads and writes, pinned to
    the account, and passing the four shared roles)."""
    shared_arns = [f"arn:aws:iam::{account_id}:role/{spec.role_name}" for spec in shared_roles()]
    return _doc(
        [
            {"Sid": "Identity", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
            {
                "Sid": "ModelBuckets",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"],
                "Condition": {"StringEquals": {"aws:ResourceAccount": account_id}},
            },
            {"Sid": "PassSharedRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": shared_arns},
        ]
    )


def seed_execution_role(s: Seeder, trust: dict[str, Any] | None = None) -> str:
    """The execution role the refactored library assumes, with its least-privilege policy. Trusted by
    ``trust``, or by default by one CI user ``ml-platform-ci`` (a long-lived key) without MFA, the
    guide's own step-1 trust, which AMS-EXEC-001 fails. Its ARN."""
    if trust is None:
        s.iam.create_user(UserName="ml-platform-ci")
        s.iam.create_access_key(UserName="ml-platform-ci")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{s.account_id}:user/ml-platform-ci"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    return s.role(EXECUTION_ROLE, trust, s.managed("aimodelshare-execution-policy", execution_policy(s.account_id)))


def seed_unrelated(s: Seeder) -> None:
    """Clean resources unrelated to AIModelShare, which every rule must pass: a data-lake bucket whose
    policy is only a Deny, a multi-region trail (of write events only: AssumeRole, a read event, is not
    recorded) with its bucket, each bucket with its public access block; a ``<x>-lambda-role`` that
    is not the library's, a billing policy, and a group with its user."""
    account = s.account_id
    data_lake = "corp-data-lake-" + account
    s.s3.create_bucket(Bucket=data_lake)
    s.s3.put_bucket_policy(
        Bucket=data_lake,
        Policy=_doc(
            [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{data_lake}", f"arn:aws:s3:::{data_lake}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ]
        ),
    )
    s.s3.put_public_access_block(Bucket=data_lake, PublicAccessBlockConfiguration=_BLOCK_ALL)
    trail_bucket = f"corp-cloudtrail-logs-{account}"
    cloudtrail = s.client("cloudtrail")
    s.s3.create_bucket(Bucket=trail_bucket)
    s.s3.put_public_access_block(Bucket=trail_bucket, PublicAccessBlockConfiguration=_BLOCK_ALL)
    cloudtrail.create_trail(Name="corp-audit-trail", S3BucketName=trail_bucket, IsMultiRegionTrail=True)
    cloudtrail.put_event_selectors(
        TrailName="corp-audit-trail", EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]
    )
    cloudtrail.start_logging(Name="corp-audit-trail")
    read_lake = s.managed(
        "data-lake-read",
        _doc(
            [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{data_lake}", f"arn:aws:s3:::{data_lake}/*"],
                }
            ]
        ),
    )
    s.role("analytics-lambda-role", LAMBDA_TRUST, read_lake)  # named like <project>-lambda-role, not the library's
    s.managed("billing-readonly", _doc([{"Effect": "Allow", "Action": ["ce:Get*", "ce:Describe*"], "Resource": "*"}]))
    s.iam.create_group(GroupName="data-scientists")
    s.iam.put_group_policy(
        GroupName="data-scientists",
        PolicyName="read-data-lake",
        PolicyDocument=_doc([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{data_lake}/*"}]),
    )
    s.iam.create_user(UserName="alice")
    s.iam.add_user_to_group(GroupName="data-scientists", UserName="alice")


def seed(session: boto3.Session, endpoint_url: str, account_id: str = DEMO_ACCOUNT_ID) -> None:
    """Create the demo footprint (the module's docstring) in the (empty) account ``account_id``
    behind ``endpoint_url``, which ``session`` reaches."""
    s = Seeder(session, endpoint_url, account_id)
    bucket = seed_user_bucket(s)
    seed_ephemeral_users(s, bucket)
    seed_model_roles(s, bucket)
    seed_api_roles(s, bucket)
    seed_drifted_shared_roles(s)
    seed_execution_role(s)
    seed_unrelated(s)
