"""Test wiring: a real moto server on 127.0.0.1 (HTTP, never ``mock_aws``), dummy credentials, and a
helper that runs the audit through ``pytester`` the way a user runs it, then reads ``findings.json``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import boto3
import pytest
from hypothesis import HealthCheck, settings
from moto.server import ThreadedMotoServer

import ams_iam_audit
import ams_iam_audit.pytest_plugin.plugin  # noqa: F401
from ams_iam_audit.aws import AwsClients
from ams_iam_audit.demo import emulate_access_analyzer

if TYPE_CHECKING:  # the boto3 stubs: a dev dependency, for mypy only
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

#: Property-based tests run a bounded number of examples in CI ("ci", the default) and many more with
#: ``make fuzz`` (HYPOTHESIS_PROFILE=fuzz).
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "210987654321"

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/ams-iam-audit-test",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ams-iam-audit-test",
}


@pytest.fixture(scope="session", autouse=True)
def _dummy_credentials() -> Iterator[None]:
    """No test may reach AWS: dummy credentials, no profile, no ambient endpoint or execution role."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AIMODELSHARE_EXECUTION_ROLE_ARN"):
            mp.delenv(key, raising=False)
        yield


@pytest.fixture(scope="session")
def moto_url(_dummy_credentials: None) -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    emulate_access_analyzer(server, ACCOUNT)  # moto 5 lacks Access Analyzer (AMS-ACCT-003 reads it)
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # Touch every service once now: moto imports a backend on first use, and pytester's in-process
    # runs drop modules imported during a run, which would leave the server with two backends.
    for service, call in (
        ("sts", "get_caller_identity"),
        ("iam", "list_roles"),
        ("s3", "list_buckets"),
        ("lambda", "list_functions"),
        ("codebuild", "list_projects"),
        ("apigateway", "get_rest_apis"),
        ("ecs", "list_clusters"),
        ("ec2", "describe_instances"),
        ("cloudformation", "describe_stacks"),
        ("glue", "get_dev_endpoints"),
        ("sagemaker", "list_notebook_instances"),
        ("cloudtrail", "describe_trails"),
    ):
        getattr(_client(service, url, "us-east-1"), call)()
    s3control = AwsClients(boto3.Session(region_name="us-east-1"), url).client("s3control")
    with contextlib.suppress(s3control.exceptions.NoSuchPublicAccessBlockConfiguration):
        s3control.get_public_access_block(AccountId=ACCOUNT)
    yield url
    server.stop()


def _client(service: str, url: str, region: str) -> BaseClient:
    """A plain boto3 client of ``service`` on the moto server at ``url``."""
    client: BaseClient = boto3.client(service, endpoint_url=url, region_name=region)  # type: ignore[call-overload]
    return client


@dataclass
class Account:
    """An empty moto account and clients to seed it."""

    url: str

    @overload
    def client(self, service: Literal["accessanalyzer"], region: str = ...) -> AccessAnalyzerClient: ...
    @overload
    def client(self, service: Literal["apigateway"], region: str = ...) -> APIGatewayClient: ...
    @overload
    def client(self, service: Literal["cloudformation"], region: str = ...) -> CloudFormationClient: ...
    @overload
    def client(self, service: Literal["cloudtrail"], region: str = ...) -> CloudTrailClient: ...
    @overload
    def client(self, service: Literal["codebuild"], region: str = ...) -> CodeBuildClient: ...
    @overload
    def client(self, service: Literal["ec2"], region: str = ...) -> EC2Client: ...
    @overload
    def client(self, service: Literal["ecs"], region: str = ...) -> ECSClient: ...
    @overload
    def client(self, service: Literal["glue"], region: str = ...) -> GlueClient: ...
    @overload
    def client(self, service: Literal["iam"], region: str = ...) -> IAMClient: ...
    @overload
    def client(self, service: Literal["lambda"], region: str = ...) -> LambdaClient: ...
    @overload
    def client(self, service: Literal["organizations"], region: str = ...) -> OrganizationsClient: ...
    @overload
    def client(self, service: Literal["s3"], region: str = ...) -> S3Client: ...
    @overload
    def client(self, service: Literal["s3control"], region: str = ...) -> S3ControlClient: ...
    @overload
    def client(self, service: Literal["sagemaker"], region: str = ...) -> SageMakerClient: ...
    @overload
    def client(self, service: Literal["sts"], region: str = ...) -> STSClient: ...
    @overload
    def client(self, service: str, region: str = ...) -> BaseClient: ...

    def client(self, service: str, region: str = "us-east-1") -> BaseClient:
        """A plain boto3 client of ``service`` on the server (typed with its stub for a literal name)."""
        return _client(service, self.url, region)

    @property
    def iam(self) -> IAMClient:
        return self.client("iam")

    @property
    def s3(self) -> S3Client:
        return self.client("s3")

    @property
    def s3control(self) -> S3ControlClient:
        """s3control sends requests to ``<account>.<host>``: this client sends them to the server."""
        return AwsClients(boto3.Session(region_name="us-east-1"), self.url).client("s3control")

    def trail(self, name: str = "account-trail") -> None:
        """A multi-region trail logging every management event (AMS-TRAIL-001's ask), for tests that
        audit a whole account and expect it clean: an account without one fails that rule."""
        self.s3.create_bucket(Bucket=f"{name}-logs")
        self.s3.put_public_access_block(
            Bucket=f"{name}-logs",
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        cloudtrail = self.client("cloudtrail")
        cloudtrail.create_trail(Name=name, S3BucketName=f"{name}-logs", IsMultiRegionTrail=True)
        cloudtrail.start_logging(Name=name)

    def aws_managed_policy(self, name: str) -> str:
        """The AWS managed policy ``name``, put in moto's backend (moto loads none of them unless
        configured to load all, which slows every reset): its ARN, to attach."""
        from moto.iam.aws_managed_policies import aws_managed_policies_data
        from moto.iam.models import AWSManagedPolicy, iam_backends

        backend = iam_backends[ACCOUNT]["aws"]
        arn = f"arn:aws:iam::aws:policy/{name}"
        if arn not in backend.managed_policies:
            data = json.loads(aws_managed_policies_data)[name]
            policy = AWSManagedPolicy.from_data(name, ACCOUNT, backend.region_name, data)
            backend.aws_managed_policies.append(policy)
            backend.managed_policies[arn] = policy
        return arn

    def support_role(self, name: str = "aws-support") -> None:
        """A role with AWSSupportAccess (AMS-ACCT-002's ask), for tests that audit a whole account and
        expect it clean."""
        on_call = {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
        trust = {"Version": "2012-10-17", "Statement": [on_call]}
        self.role(name, trust, self.aws_managed_policy("AWSSupportAccess"))

    def cis_account_settings(self) -> None:
        """What a well-run account has set before it holds anything (the ``aws`` fixture sets it):
        root MFA (moto cannot enable it through the API: its backend's flag), a password policy of 14
        characters and reuse prevention of 24, and an Access Analyzer analyzer in us-east-1."""
        from moto.iam.models import iam_backends

        iam_backends[ACCOUNT]["aws"].account_summary._account_mfa_enabled = 1
        self.iam.update_account_password_policy(MinimumPasswordLength=14, PasswordReusePrevention=24)
        self.client("accessanalyzer").create_analyzer(analyzerName="account", type="ACCOUNT")

    def like_the_demo(self) -> None:
        """Undo :meth:`cis_account_settings`: the embedded demo's account-wide settings are moto's
        defaults (no root MFA, no password policy, no analyzer), for tests that seed the demo here and
        count its findings (``demo_table``)."""
        from moto.iam.models import iam_backends

        iam_backends[ACCOUNT]["aws"].account_summary._account_mfa_enabled = 0
        self.iam.delete_account_password_policy()
        analyzers = self.client("accessanalyzer")
        for analyzer in analyzers.list_analyzers()["analyzers"]:
            analyzers.delete_analyzer(analyzerName=analyzer["name"])

    def policy(self, name: str, *statements: dict[str, Any], document: Any = None) -> str:
        body = document if document is not None else {"Version": "2012-10-17", "Statement": list(statements)}
        text = body if isinstance(body, str) else json.dumps(body)
        return str(self.iam.create_policy(PolicyName=name, PolicyDocument=text)["Policy"]["Arn"])

    def role(self, name: str, trust: dict[str, Any] | None = None, *policy_arns: str) -> str:
        trust = trust or {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        arn = str(self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
        for policy_arn in policy_arns:
            self.iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
        return arn


@pytest.fixture
def aws(moto_url: str) -> Account:
    """A fresh account on the shared moto server: empty, but for the account-wide settings CIS asks
    for (:meth:`Account.cis_account_settings`), so that a rule's test sees only what it seeds fail."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    account = Account(url=moto_url)
    account.cis_account_settings()
    return account


@dataclass
class AuditResult:
    ret: int
    outcome_lines: list[str]
    stdout: str
    stderr: str
    report_dir: Path
    document: dict[str, Any] | None

    @property
    def written(self) -> dict[str, Any]:
        """findings.json's document; the test fails (naming the run's output) when none was written."""
        assert self.document is not None, f"no findings.json written\n{self.stdout}\n{self.stderr}"
        return self.document

    @property
    def findings(self) -> list[dict[str, Any]]:
        assert self.document is not None, f"no findings.json written\n{self.stdout}\n{self.stderr}"
        return list(self.document["findings"])

    @property
    def counts_line(self) -> str:
        """pytest's own last line of counts ("3 failed, 5 passed in 1.2s"); the plugin's closing line
        (where the report is) comes after it."""
        return next(line for line in reversed(self.outcome_lines) if re.search(r" in [\d.]+s", line))

    def outcomes(self, rule_id: str | None = None) -> dict[str, str]:
        """resource -> outcome for one rule (or "rule resource" -> outcome for all). The subjects a
        rule's ``examined`` case stands for (they hold nothing it judges) are each a "pass"."""
        out: dict[str, str] = {}
        for f in self.findings:
            if rule_id is not None and f["rule_id"] != rule_id:
                continue
            prefix = "" if rule_id is not None else f"{f['rule_id']} "
            if f["resource"] == "examined":
                out.update((prefix + r, "pass") for r in f["evidence"]["examined"]["resources"])
            else:
                out[prefix + f["resource"]] = f["outcome"]
        return out

    def finding(self, rule_id: str, resource: str) -> dict[str, Any]:
        """The finding of ``rule_id`` on ``resource``: its own case's, or the rule's ``examined`` case
        that stands for it (it held nothing the rule judges)."""
        matches = [f for f in self.findings if f["rule_id"] == rule_id and f["resource"] == resource] or [
            f
            for f in self.findings
            if f["rule_id"] == rule_id
            and f["resource"] == "examined"
            and resource in f["evidence"]["examined"]["resources"]
        ]
        assert len(matches) == 1, f"{rule_id} {resource}: {len(matches)} findings\n{self.outcomes(rule_id)}"
        return matches[0]


def run_audit(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> AuditResult:
    report_dir = pytester.path / f"report-{len(list(pytester.path.glob('report-*')))}"
    full = ["-p", "no:cacheprovider", "-p", "no:randomly", "--report-dir", str(report_dir), *args]
    result = pytester.runpytest_subprocess(*full) if subprocess else pytester.runpytest_inprocess(*full)
    findings = report_dir / "findings.json"
    return AuditResult(
        ret=int(result.ret),
        outcome_lines=result.outlines,
        stdout=result.stdout.str(),
        stderr=result.stderr.str(),
        report_dir=report_dir,
        document=json.loads(findings.read_text()) if findings.exists() else None,
    )


def audit_at(pytester: pytest.Pytester, endpoint: str, *args: str, subprocess: bool = False) -> AuditResult:
    """Audit the moto account behind ``endpoint`` (the server, or a proxy in front of it)."""
    return run_audit(pytester, "--aws-account", ACCOUNT, "--aws-endpoint-url", endpoint, *args, subprocess=subprocess)


class Audit(Protocol):
    """The ``audit`` fixture: ``audit(*pytest_args, subprocess=False)`` audits the ``aws`` account."""

    def __call__(self, *args: str, subprocess: bool = False) -> AuditResult: ...


@pytest.fixture
def audit(pytester: pytest.Pytester, aws: Account) -> Audit:
    """``audit(*args)`` audits the ``aws`` account through the plugin and returns an AuditResult."""

    def _run(*args: str, subprocess: bool = False) -> AuditResult:
        return audit_at(pytester, aws.url, *args, subprocess=subprocess)

    return _run


def demo_audit(workdir: Path, *args: str) -> AuditResult:
    """Audit the embedded demo account in a subprocess (it starts its own moto server, which must not
    share this process's moto backends), reports into ``workdir/report``."""
    import subprocess
    import sys

    report = workdir / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--aws-account", "demo", "-p", "no:cacheprovider",
         "--report-dir", str(report), *args],
        cwd=workdir, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads((report / "findings.json").read_text())
    return AuditResult(proc.returncode, proc.stdout.splitlines(), proc.stdout, proc.stderr, report, document)
