"""A synthetic account at IAM's quotas, seeded straight into moto's in-process backends (fast); the
audit itself then reads it over HTTP like any other account.

The mix is what real half-migrated accounts hold: about a third of the roles, users and customer
managed policies are legacy AIModelShare resources (``lambda_role_<id>``/``lambda_policy_<id>`` and
``myService-dev-…`` pairs holding the library's byte-identical per-deployment documents,
``AI_MODELSHARE_<ts>`` users with an access key and a ``temporaryaccessAImodelsharePolicy``), the rest
application roles, users and policies with documents of their own. Every role and user also holds an
inline policy. Buckets (some with wildcard policies) and Lambda functions using legacy roles complete
the consumers.

Two shapes of the same sizes: ``simple`` (above: the application documents are five one-service
shapes, so most documents differ only in a resource name) and ``varied`` (:func:`varied_pool`: every
application policy and inline policy is drawn from a pool of a few hundred distinct realistic
documents of many services, the library's legacy and refactored templates, and the escalation
catalogue's examples). Users do not choose the shape of their account: both are measured.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from policy_sentry.querying.actions import get_actions_with_access_level

from ams_iam_audit.aimodelshare import library_template, library_template_names

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


#: The account shapes ``seed`` makes (see the module docstring).
SHAPES = ("simple", "varied")


@dataclass(frozen=True)
class Size:
    name: str
    roles: int
    users: int
    policies: int
    buckets: int = 40
    functions: int = 40
    shape: str = "simple"  # one of SHAPES

    @property
    def principals(self) -> int:
        return self.roles + self.users


DEFAULT = Size("default quotas", roles=1000, users=500, policies=1500)
MAXIMUM = Size("maximum quotas", roles=5000, users=5000, policies=5000)
TINY = Size("tiny", roles=30, users=15, policies=45, buckets=3, functions=3)


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _app_policy(i: int) -> str:
    """Application policies: a handful of shapes, each with its own resources (so mostly distinct
    documents), a few with the wildcards the rules look for."""
    shape = i % 5
    if shape == 0:
        return _doc(
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::app-{i}/*"}
        )
    if shape == 1:
        return _doc({"Effect": "Allow", "Action": "dynamodb:*", "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/t{i}"})
    if shape == 2:
        return _doc({"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"], "Resource": "*"})
    if shape == 3:
        return _doc(
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "logs:DeleteLogGroup", "Resource": "*"},
        )
    return _doc({"Effect": "Allow", "Action": ["ec2:Describe*", "cloudwatch:Get*"], "Resource": "*"})


#: Services the varied pool's application documents are written for, with the kind of resource ARN
#: each grants on (``*`` where the service has no resource-level permissions worth naming).
_POOL_SERVICES = {
    "s3": "arn:aws:s3:::app-{n}-data/*",
    "dynamodb": "arn:aws:dynamodb:us-east-1:{account}:table/app-{n}",
    "sqs": "arn:aws:sqs:us-east-1:{account}:app-{n}",
    "sns": "arn:aws:sns:us-east-1:{account}:app-{n}",
    "lambda": "arn:aws:lambda:us-east-1:{account}:function:app-{n}",
    "logs": "arn:aws:logs:us-east-1:{account}:log-group:/app/{n}:*",
    "kms": "arn:aws:kms:us-east-1:{account}:key/{n:08d}-0000-4000-8000-000000000000",
    "secretsmanager": "arn:aws:secretsmanager:us-east-1:{account}:secret:app-{n}-*",
    "ssm": "arn:aws:ssm:us-east-1:{account}:parameter/app/{n}/*",
    "ecr": "arn:aws:ecr:us-east-1:{account}:repository/app-{n}",
    "kinesis": "arn:aws:kinesis:us-east-1:{account}:stream/app-{n}",
    "firehose": "arn:aws:firehose:us-east-1:{account}:deliverystream/app-{n}",
    "states": "arn:aws:states:us-east-1:{account}:stateMachine:app-{n}",
    "events": "arn:aws:events:us-east-1:{account}:rule/app-{n}",
    "glue": "arn:aws:glue:us-east-1:{account}:table/app_{n}/*",
    "athena": "arn:aws:athena:us-east-1:{account}:workgroup/app-{n}",
    "sagemaker": "arn:aws:sagemaker:us-east-1:{account}:endpoint/app-{n}",
    "codebuild": "arn:aws:codebuild:us-east-1:{account}:project/app-{n}",
    "ec2": "*",
    "cloudwatch": "*",
    "xray": "*",
    "ecs": "*",
    "rds": "*",
    "elasticache": "*",
    "cloudformation": "*",
    "apigateway": "*",
}
#: How many application documents the varied pool holds (the library's templates and the
#: escalation catalogue's examples come on top: a little over 300 in all).
POOL_APPLICATION_DOCUMENTS = 240


@cache
def varied_pool() -> tuple[str, ...]:
    """A few hundred distinct, realistic policy documents (JSON text), the same on every call:
    application documents of many services (actions drawn from policy_sentry by access level, on the
    service's resources or ``*``, some with service wildcards or a Deny), the library's legacy and
    refactored permission templates, and one document per escalation method of the catalogue that
    grants what it needs."""
    rng = random.Random(20261202)
    services = sorted(_POOL_SERVICES)
    documents: list[str] = []
    for n in range(POOL_APPLICATION_DOCUMENTS):
        statements: list[dict[str, Any]] = []
        for service in rng.sample(services, rng.choice((1, 1, 2, 2, 3))):
            resource = _POOL_SERVICES[service].format(n=n, account=ACCOUNT)
            read = get_actions_with_access_level(service, "Read") + get_actions_with_access_level(service, "List")
            write = get_actions_with_access_level(service, "Write")
            style = rng.random()
            if style < 0.1:
                actions: str | list[str] = f"{service}:*"
            elif style < 0.25:
                actions = [f"{service}:Get*", f"{service}:List*", f"{service}:Describe*"]
            else:
                picked = rng.sample(read, min(len(read), rng.randint(1, 6)))
                if write and rng.random() < 0.6:
                    picked += rng.sample(write, min(len(write), rng.randint(1, 4)))
                actions = sorted(picked)
            statements.append({"Sid": f"{service.title().replace('-', '')}{n}", "Effect": "Allow",
                               "Action": actions, "Resource": resource})  # fmt: skip
        if rng.random() < 0.15:
            service = rng.choice(services)
            statements.append({"Effect": "Deny", "Action": f"{service}:Delete*", "Resource": "*"})
        documents.append(_doc(*statements))
    for era in ("legacy", "refactored"):
        for name in library_template_names():
            if "trust" in name or "_role_" in name:
                continue  # trust policies, not permissions
            for bucket in ("aimodelshare-x", "aimodelshare-team-a", "aimodelshare-team-b"):
                documents.append(json.dumps(library_template(era, name, bucket=bucket)))
    text = files("ams_iam_audit").joinpath("data/escalation_methods.json").read_text(encoding="utf-8")
    for method in json.loads(text)["methods"]:
        # each step names its action ("a|b": either) first, then what it must be allowed on
        for choice in (0, 1):
            chosen = {step[0].split("|")[min(choice, step[0].count("|"))] for step in method["needs"]}
            documents.append(_doc({"Effect": "Allow", "Action": sorted(chosen), "Resource": "*"}))
    return tuple(dict.fromkeys(documents))  # distinct, in a stable order


def seed(endpoint_url: str, size: Size) -> dict[str, int]:
    """Fill the (empty) moto account behind ``endpoint_url`` — a server in this process — to ``size``.
    Returns what was created."""
    from moto.iam.models import iam_backends
    from moto.s3.models import s3_backends

    iam = iam_backends[ACCOUNT]["global"]
    legacy_lambda = json.dumps(library_template("legacy", "iam_lambda_policy"))
    legacy_api = json.dumps(library_template("legacy", "json_templates_lambda_policy_1"))
    temporary = json.dumps(library_template("legacy", "bucketpolicy_custom_s3_policy", bucket="aimodelshare-x"))
    inline = _doc({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"})
    varied = size.shape == "varied"
    pool = varied_pool() if varied else ()

    def app_document(i: int) -> str:
        return pool[i * 7 % len(pool)] if varied else _app_policy(i)

    def inline_document(i: int) -> str:
        return pool[i * 13 % len(pool)] if varied else inline

    def policy(name: str, document: str) -> Any:
        return iam.create_policy(description="", path="/", policy_document=document, policy_name=name, tags=[])

    # A third of the policies are legacy: per-deployment (paired with a role) and temporary-access
    # (attached to an ephemeral user); the rest are the application's.
    legacy_roles = size.roles // 3
    legacy_users = size.users // 3
    created = {"roles": 0, "users": 0, "policies": 0, "access_keys": 0, "buckets": 0, "functions": 0}
    app_policies = []
    for i in range(size.policies - legacy_roles - legacy_users):
        app_policies.append(policy(f"app-policy-{i}", app_document(i)))
    created["policies"] += len(app_policies)

    legacy_role_arns = []
    for i in range(size.roles):
        if i < legacy_roles:
            if i % 2:
                name, pname, document = f"lambda_role_{i:08x}", f"lambda_policy_{i:08x}", legacy_lambda
            else:
                name = f"myService-dev-us-us-east-1-lambdaRole{i:012d}"
                pname, document = f"myService-dev-us-east-1-lambdaPolicy{i:012d}", legacy_api
            attached = policy(pname, document)
            created["policies"] += 1
        else:
            name = f"app-role-{i}"
            attached = app_policies[i % len(app_policies)] if app_policies else None
        role = iam.create_role(
            role_name=name,
            assume_role_policy_document=TRUST,
            path="/",
            permissions_boundary=None,
            description="",
            tags=[],
            max_session_duration=None,
        )
        if attached is not None:
            attached.attach_to(role)
        iam.put_role_policy(name, "metrics", inline_document(i))
        created["roles"] += 1
        if i < legacy_roles:
            legacy_role_arns.append(role.arn)

    for i in range(size.users):
        if i < legacy_users:
            name = f"AI_MODELSHARE_2024_{i // 3600 % 12 + 1:02d}_{i // 60 % 60:02d}_{i % 60:02d}_{i:06d}"
            user = iam.create_user(region_name=REGION, user_name=name)
            policy(f"temporaryaccessAImodelsharePolicy{i:032x}", temporary).attach_to(user)
            created["policies"] += 1
            iam.create_access_key(name)
            created["access_keys"] += 1
        else:
            name = f"app-user-{i}"
            user = iam.create_user(region_name=REGION, user_name=name)
            if app_policies:
                app_policies[i % len(app_policies)].attach_to(user)
            if i % 4 == 0:
                iam.create_access_key(name)
                created["access_keys"] += 1
        iam.put_user_policy(name, "metrics", inline_document(size.roles + i))
        created["users"] += 1

    s3 = s3_backends[ACCOUNT]["aws"]
    for i in range(size.buckets):
        name = f"aimodelshare-user{i}-{ACCOUNT}" if i % 2 else f"app-data-{i}-{ACCOUNT}"
        s3.create_bucket(name, REGION)
        if i % 3 == 0:
            body = _doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                }
            )
            s3.put_bucket_policy(name, body.encode())
        created["buckets"] += 1

    import boto3

    lam = boto3.client("lambda", endpoint_url=endpoint_url, region_name=REGION)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return {}\n")
    for i in range(min(size.functions, len(legacy_role_arns))):
        lam.create_function(
            FunctionName=f"modfunction{i:08x}",
            Runtime="python3.12",
            Role=legacy_role_arns[i],
            Handler="main.handler",
            Code={"ZipFile": code.getvalue()},
        )
        created["functions"] += 1
    return created
