"""AWS operations moto 5 lacks, answered the way AWS answers them, for the loopback proxy.

``--fix`` needs CodeBuild ``UpdateProject`` and API Gateway ``UpdateIntegration``, which moto does
not implement. The moto server runs in this process, so the proxy can make the change in moto's own
backend and answer with AWS's response shape: the code under test makes exactly the calls it makes
against AWS, and later reads (``BatchGetProjects``, ``GetIntegration``) see the change.
"""

from __future__ import annotations

import json
import re
from typing import Any

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


def all_gaps() -> tuple[Emulate, ...]:
    return (codebuild_update_project(), apigateway_update_integration())
