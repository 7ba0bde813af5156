"""AWS operations moto 5 lacks, answered the way AWS answers them, for the loopback proxy.

``--fix`` needs CodeBuild ``UpdateProject`` and API Gateway ``UpdateIntegration``, which moto does
not implement. The moto server runs in this process, so the proxy can make the change in moto's own
backend and answer with AWS's response shape: the code under test makes exactly the calls it makes
against AWS, and later reads (``BatchGetProjects``, ``GetIntegration``) see the change. ``--fix``
also asks IAM's service last accessed data (``GenerateServiceLastAccessedDetails``,
``GetServiceLastAccessedDetails``), which moto lacks too: answered from what a test says each role
last accessed (nothing, by default).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from aws_proxy import Emulate, Request

ACCOUNT = "123456789012"
_INTEGRATION = re.compile(r"^/restapis/([^/]+)/resources/([^/]+)/methods/([^/]+)/integration$")


def _region(request: Request) -> str:
    return "us-east-1"  # every test account lives there


def _update_project(request: Request) -> tuple[int, str, bytes]:
    from moto.codebuild.models import codebuild_backends

    body = json.loads(request.body)
    projects = codebuild_backends[ACCOUNT][_region(request)].codebuild_projects
    project = projects.get(body["name"])
    if project is None:
        error = {"__type": "ResourceNotFoundException", "message": f"project {body['name']} not found"}
        return 400, "application/x-amz-json-1.1", json.dumps(error).encode()
    if "serviceRole" in body:
        project.service_role = body["serviceRole"]
        project.project_metadata["serviceRole"] = body["serviceRole"]
    return 200, "application/x-amz-json-1.1", json.dumps({"project": project.project_metadata}, default=str).encode()


def _update_integration(request: Request) -> tuple[int, str, bytes]:
    from moto.apigateway.models import apigateway_backends

    match = _INTEGRATION.match(request.path.split("?")[0])
    assert match is not None
    api, resource, method = match.groups()
    integration: Any = apigateway_backends[ACCOUNT][_region(request)].get_integration(api, resource, method)
    for op in json.loads(request.body).get("patchOperations", []):
        if op["path"] == "/credentials":
            integration.credentials = op.get("value") if op["op"] == "replace" else None
        else:
            return 400, "application/json", json.dumps({"message": f"unsupported patch {op['path']}"}).encode()
    return 200, "application/json", json.dumps(integration.to_json()).encode()


def codebuild_update_project() -> Emulate:
    return Emulate(lambda r: r.target.endswith(".UpdateProject"), _update_project)


def apigateway_update_integration() -> Emulate:
    return Emulate(
        lambda r: r.method == "PATCH" and bool(_INTEGRATION.match(r.path.split("?")[0])), _update_integration
    )


_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_JOB_IDS = itertools.count(1)


def _iam_answer(action: str, result: str) -> tuple[int, str, bytes]:
    body = (
        f'<{action}Response xmlns="{_IAM_NS}"><{action}Result>{result}</{action}Result>'
        f"<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    )
    return 200, "text/xml", body.encode()


def _is_action(action: str) -> Any:
    return lambda r: f"Action={action}&" in r.body + "&"


def service_last_accessed(
    accessed: Mapping[str, tuple[str, datetime, str]] | None = None, *, polls_in_progress: int = 1
) -> tuple[Emulate, Emulate]:
    """IAM's service last accessed jobs: ``accessed`` maps a role ARN to (service namespace, when,
    region) of its last access; any other ARN accessed nothing. Each job answers IN_PROGRESS
    ``polls_in_progress`` times before COMPLETED, as AWS's jobs take a while."""
    accessed = dict(accessed or {})
    jobs: dict[str, list[Any]] = {}

    def generate(request: Request) -> tuple[int, str, bytes]:
        arn = parse_qs(request.body)["Arn"][0]
        job = f"00000000-0000-4000-8000-{next(_JOB_IDS):012d}"  # a UUID, as AWS's job ids are
        jobs[job] = [arn, polls_in_progress]
        return _iam_answer("GenerateServiceLastAccessedDetails", f"<JobId>{job}</JobId>")

    def get(request: Request) -> tuple[int, str, bytes]:
        job = jobs[parse_qs(request.body)["JobId"][0]]
        created = "<JobCreationDate>2026-01-01T00:00:00Z</JobCreationDate><JobType>SERVICE_LEVEL</JobType>"
        if job[1] > 0:
            job[1] -= 1
            return _iam_answer("GetServiceLastAccessedDetails", f"<JobStatus>IN_PROGRESS</JobStatus>{created}")
        services = ""
        if job[0] in accessed:
            namespace, when, region = accessed[job[0]]
            services = (
                f"<member><ServiceName>{namespace}</ServiceName><ServiceNamespace>{namespace}</ServiceNamespace>"
                f"<LastAuthenticated>{when.strftime('%Y-%m-%dT%H:%M:%SZ')}</LastAuthenticated>"
                f"<LastAuthenticatedEntity>{job[0]}</LastAuthenticatedEntity>"
                f"<LastAuthenticatedRegion>{region}</LastAuthenticatedRegion>"
                "<TotalAuthenticatedEntities>1</TotalAuthenticatedEntities></member>"
            )
        return _iam_answer(
            "GetServiceLastAccessedDetails",
            f"<JobStatus>COMPLETED</JobStatus>{created}<JobCompletionDate>2026-01-01T00:00:01Z</JobCompletionDate>"
            f"<ServicesLastAccessed>{services}</ServicesLastAccessed><IsTruncated>false</IsTruncated>",
        )

    return (
        Emulate(_is_action("GenerateServiceLastAccessedDetails"), generate),
        Emulate(_is_action("GetServiceLastAccessedDetails"), get),
    )


def all_gaps(
    accessed: Mapping[str, tuple[str, datetime, str]] | None = None, polls_in_progress: int = 0
) -> tuple[Emulate, ...]:
    return (
        codebuild_update_project(),
        apigateway_update_integration(),
        *service_last_accessed(accessed, polls_in_progress=polls_in_progress),
    )
