"""A synthetic account at IAM's quotas, seeded straight into moto's in-process backends (fast); the
audit itself then reads it over HTTP like any other account.

The mix is what real half-migrated accounts hold: about a third of the roles, users and customer
managed policies are legacy AIModelShare resources (``lambda_role_<id>``/``lambda_policy_<id>`` and
``myService-dev-…`` pairs holding the library's byte-identical per-deployment documents,
``AI_MODELSHARE_<ts>`` users with an access key and a ``temporaryaccessAImodelsharePolicy``), the rest
application roles, users and policies with documents of their own. Every role and user also holds an
inline policy. Buckets (some with wildcard policies) and Lambda functions using legacy roles complete
the consumers.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

from ams_iam_audit.aimodelshare import library_template

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


@dataclass(frozen=True)
class Size:
    name: str
    roles: int
    users: int
    policies: int
    buckets: int = 40
    functions: int = 40

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

    def policy(name: str, document: str) -> Any:
        return iam.create_policy(description="", path="/", policy_document=document, policy_name=name, tags=[])

    # A third of the policies are legacy: per-deployment (paired with a role) and temporary-access
    # (attached to an ephemeral user); the rest are the application's.
    legacy_roles = size.roles // 3
    legacy_users = size.users // 3
    created = {"roles": 0, "users": 0, "policies": 0, "access_keys": 0, "buckets": 0, "functions": 0}
    app_policies = []
    for i in range(size.policies - legacy_roles - legacy_users):
        app_policies.append(policy(f"app-policy-{i}", _app_policy(i)))
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
        iam.put_role_policy(name, "metrics", inline)
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
        iam.put_user_policy(name, "metrics", inline)
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
