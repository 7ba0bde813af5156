"""Moving what uses a role onto another role: Lambda functions (execution role), CodeBuild projects
(service role) and API Gateway integrations (credentials), one :class:`Repointer` per kind
(:data:`REPOINTERS`). Which kinds can be moved, and with which permissions, is the registry's
(``inventory.consumer_kinds``): a consumer of any other kind (an ECS task definition, an EC2
instance...) keeps its role, and that role is never retired.

An API Gateway integration is changed in place with ``update_integration`` and then every stage of its
REST API gets a new deployment, since a stage serves the deployment it was given, not the live
integration; re-creating the integration instead would drop its integration responses. Because a run
can die between the change and the last deployment, the REST API is tagged with
``inventory.model.REDEPLOY_TAG`` first and untagged last: the next run sees the tag and finishes the
deployments before anything retires the old role.

``repoint_calls``/``redeploy_calls`` compute the calls from a known current state (an inventory's, to
preview a plan); ``repoint``/``redeploy`` read the live state and make them through an ``Executor``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import ClientError

from ..aws import AwsClients
from ..iam_utils.changes import Call, Executor, is_error
from ..inventory.consumer_kinds import CONSUMER_KINDS, repointable
from ..inventory.model import REDEPLOY_TAG, Consumer

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_lambda import LambdaClient


__all__ = [
    "PERMISSIONS",
    "REPOINTABLE",
    "REPOINTERS",
    "RepointError",
    "Repointer",
    "current_role",
    "redeploy",
    "redeploy_calls",
    "repoint",
    "repoint_calls",
    "write_scopes",
]

#: How long to retry a Lambda update that fails only because a just-created role has not yet
#: propagated through IAM ("The role defined for the function cannot be assumed by Lambda").
_PROPAGATION_DELAYS = (1, 2, 4, 8, 10, 10, 10)


class RepointError(RuntimeError):
    """A consumer could not be moved to the new role; the message says which and why."""


@dataclass(frozen=True)
class _Method:
    api_id: str
    resource_id: str
    http_method: str

    @classmethod
    def of(cls, consumer: Consumer) -> _Method:
        # arn:aws:apigateway:<region>::/restapis/<api>/resources/<resource>/methods/<METHOD>
        parts = consumer.arn.split("::", 1)[-1].strip("/").split("/")
        if len(parts) != 6 or parts[0] != "restapis":
            raise RepointError(f"{consumer.name}: not an API Gateway method ARN: {consumer.arn}")
        return cls(api_id=parts[1], resource_id=parts[3], http_method=parts[5])

    def key(self) -> dict[str, str]:
        return {"restApiId": self.api_id, "resourceId": self.resource_id, "httpMethod": self.http_method}


def _stage_arn(region: str, api_id: str, stage: str) -> str:
    return f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{stage}"


def _untag(region: str, api_id: str, stage: str) -> Call:
    arn = _stage_arn(region, api_id, stage)
    return Call("apigateway", "untag_resource", {"resourceArn": arn, "tagKeys": [REDEPLOY_TAG]}, region=region)


def redeploy_calls(region: str, api_id: str, stages: Mapping[str, str | None]) -> list[Call]:
    """A new deployment of each stage, then its pending tag removed. ``stages`` maps each stage to
    its current deployment id, when known, so the undo can put the stage back on it."""
    calls = []
    for stage, deployment in sorted(stages.items()):
        back = {"op": "replace", "path": "/deploymentId", "value": deployment}
        undo = (
            (
                Call(
                    "apigateway",
                    "update_stage",
                    {"restApiId": api_id, "stageName": stage, "patchOperations": [back]},
                    region=region,
                ),
            )
            if deployment
            else ()
        )
        deploy = {"restApiId": api_id, "stageName": stage, "description": "ams-iam-audit: integration role re-pointed"}
        calls += [
            Call("apigateway", "create_deployment", deploy, region=region, undo=undo),
            _untag(region, api_id, stage),
        ]
    return calls


def _stages(client: APIGatewayClient, api_id: str, pending_only: bool = False) -> dict[str, str | None]:
    return {
        s["stageName"]: s.get("deploymentId")
        for s in client.get_stages(restApiId=api_id).get("item", ())
        if not pending_only or REDEPLOY_TAG in (s.get("tags") or {})
    }


def redeploy(clients: AwsClients, region: str, api_id: str, executor: Executor) -> list[Call]:
    """Deploy again each stage of the REST API that still carries the pending tag, and clear it."""
    client = clients.client("apigateway", region)
    calls = redeploy_calls(region, api_id, _stages(client, api_id, pending_only=True))
    for call in calls:
        executor.run(client, call)
    return calls


class Repointer(Protocol):
    """How ``--fix`` moves the consumers of one kind to another role. What it may call is the kind's
    ``Repointing`` in ``inventory.consumer_kinds`` (its permissions, the resources it writes)."""

    def current_role(self, clients: AwsClients, consumer: Consumer) -> str | None:
        """The role ``consumer`` uses now (read live); ``None`` when it no longer exists."""
        ...

    def calls(self, consumer: Consumer, current: str | None, to_arn: str, live: AwsClients | None) -> list[Call]:
        """The calls that move ``consumer`` from ``current`` to ``to_arn``; ``live``: read what else
        they depend on from the account (``None``: take it from the inventory, for a preview)."""
        ...

    def make(self, client: BaseClient, call: Call, executor: Executor) -> None:
        """Make one of :meth:`calls` through ``executor`` on the kind's ``client``."""
        ...


@dataclass(frozen=True)
class _Lambda:
    """A Lambda function's execution role: UpdateFunctionConfiguration, retried while a new role
    propagates, then waited on until the function is updated."""

    def current_role(self, clients: AwsClients, consumer: Consumer) -> str | None:
        config = clients.client("lambda", consumer.region).get_function_configuration(FunctionName=consumer.name)
        return str(config["Role"])

    def calls(self, consumer: Consumer, current: str | None, to_arn: str, live: AwsClients | None) -> list[Call]:
        key: dict[str, Any] = {"FunctionName": consumer.name}
        undo = (Call("lambda", "update_function_configuration", {**key, "Role": current}, region=consumer.region),)
        return [
            Call("lambda", "update_function_configuration", {**key, "Role": to_arn}, region=consumer.region, undo=undo)
        ]

    def make(self, client: BaseClient, call: Call, executor: Executor) -> None:
        name = call.params["FunctionName"]
        function = cast("LambdaClient", client)  # repoint() hands each kind its own service's client
        if function.get_function_configuration(FunctionName=name).get("LastUpdateStatus") == "InProgress":
            executor.wait(client, "function_updated_v2", FunctionName=name)
        for delay in (*_PROPAGATION_DELAYS, None):
            try:
                executor.run(client, call)
                break
            except ClientError as exc:
                if delay is None or not (is_error(exc, "InvalidParameterValueException") and "assumed" in str(exc)):
                    raise
                time.sleep(delay)
        executor.wait(client, "function_updated_v2", FunctionName=name)


@dataclass(frozen=True)
class _CodeBuild:
    """A CodeBuild project's service role: UpdateProject."""

    def current_role(self, clients: AwsClients, consumer: Consumer) -> str | None:
        projects = clients.client("codebuild", consumer.region).batch_get_projects(names=[consumer.name])
        found = projects.get("projects") or []
        return str(found[0]["serviceRole"]) if found else None

    def calls(self, consumer: Consumer, current: str | None, to_arn: str, live: AwsClients | None) -> list[Call]:
        key = {"name": consumer.name}
        undo = (Call("codebuild", "update_project", {**key, "serviceRole": current}, region=consumer.region),)
        return [Call("codebuild", "update_project", {**key, "serviceRole": to_arn}, region=consumer.region, undo=undo)]

    def make(self, client: BaseClient, call: Call, executor: Executor) -> None:
        executor.run(client, call)


@dataclass(frozen=True)
class _ApiGateway:
    """An API Gateway integration's credentials: every stage of its REST API tagged, the integration
    changed in place, every stage redeployed and untagged (see the module's docstring)."""

    def current_role(self, clients: AwsClients, consumer: Consumer) -> str | None:
        method = _Method.of(consumer)
        integration = clients.client("apigateway", consumer.region).get_integration(**method.key())
        credentials = integration.get("credentials")
        return str(credentials) if credentials else None

    def calls(self, consumer: Consumer, current: str | None, to_arn: str, live: AwsClients | None) -> list[Call]:
        region = consumer.region
        method = _Method.of(consumer)
        stages = (
            _stages(live.client("apigateway", region), method.api_id)
            if live is not None
            else dict.fromkeys(consumer.stages)
        )

        def patch(value: str | None) -> dict[str, Any]:
            op = (
                {"op": "replace", "path": "/credentials", "value": value}
                if value
                else {"op": "remove", "path": "/credentials"}
            )
            return {**method.key(), "patchOperations": [op]}

        # Mark every stage first: from here until its redeployment it may serve the old role.
        marks = [
            Call(
                "apigateway",
                "tag_resource",
                {"resourceArn": _stage_arn(region, method.api_id, stage), "tags": {REDEPLOY_TAG: to_arn}},
                region=region,
                undo=(_untag(region, method.api_id, stage),),
            )
            for stage in sorted(stages)
        ]
        change = Call(
            "apigateway",
            "update_integration",
            patch(to_arn),
            region=region,
            undo=(Call("apigateway", "update_integration", patch(current), region=region),),
        )
        return [*marks, change, *redeploy_calls(region, method.api_id, stages)]

    def make(self, client: BaseClient, call: Call, executor: Executor) -> None:
        executor.run(client, call)


#: The re-pointer of each kind ``inventory.consumer_kinds`` gives a ``Repointing``, and of no other
#: (``tests/test_consumer_kinds.py`` checks both ways).
REPOINTERS: Mapping[str, Repointer] = MappingProxyType(
    {"lambda": _Lambda(), "codebuild": _CodeBuild(), "apigateway": _ApiGateway()}
)

#: The consumer kinds ``--fix`` can move to another role. A role any other kind uses (an ECS task
#: definition, an EC2 instance profile, a CloudFormation stack...) is kept.
REPOINTABLE = repointable()

#: consumer kind -> the actions re-pointing it needs (reads included), from the registry.
PERMISSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {kind.name: kind.repoint.permissions for kind in CONSUMER_KINDS if kind.repoint is not None}
)


def write_scopes(account: str) -> dict[str, tuple[str, ...]]:
    """Resource type (``service:type``) -> the ARNs re-pointing may write to in ``account`` (``*``:
    any), as each re-pointable kind's ``Repointing.write_scopes`` says (``fix-policy``'s statements)."""
    return {
        resource: tuple(arn.format(account=account) for arn in arns)
        for kind in CONSUMER_KINDS
        if kind.repoint is not None
        for resource, arns in kind.repoint.write_scopes
    }


def _repointer(consumer: Consumer) -> Repointer:
    found = REPOINTERS.get(consumer.kind) if consumer.kind in REPOINTABLE else None
    if found is None:
        kind = next((k for k in CONSUMER_KINDS if k.name == consumer.kind), None)
        why = kind.blocks_because if kind is not None else "not a registered kind"
        raise RepointError(f"{consumer.kind} {consumer.name}: --fix cannot move this kind of consumer ({why})")
    return found


def repoint_calls(consumer: Consumer, current: str | None, to_arn: str) -> list[Call]:
    """The calls that move ``consumer`` from role ``current`` to ``to_arn`` (none when it is there),
    from what the inventory knows of it (a preview)."""
    if current == to_arn:
        return []
    return _repointer(consumer).calls(consumer, current, to_arn, None)


def current_role(clients: AwsClients, consumer: Consumer) -> str | None:
    """The role ``consumer`` uses now (read live); ``None`` when the consumer no longer exists."""
    try:
        return _repointer(consumer).current_role(clients, consumer)
    except ClientError as exc:
        if is_error(exc, "ResourceNotFoundException", "NotFoundException"):
            return None
        raise


def repoint(clients: AwsClients, consumer: Consumer, to_arn: str, executor: Executor) -> list[Call]:
    """Move ``consumer`` to ``to_arn`` and wait until the change is in effect. Returns the calls made
    (none when it already uses ``to_arn``). Raises :class:`RepointError` when it did not take."""
    repointer = _repointer(consumer)
    client = clients.client(consumer.kind, consumer.region)
    current = current_role(clients, consumer)
    if current is None:
        raise RepointError(f"{consumer.kind} {consumer.name} no longer exists in {consumer.region}")
    calls = [] if current == to_arn else repointer.calls(consumer, current, to_arn, clients)
    for call in calls:
        repointer.make(client, call, executor)
    if calls and current_role(clients, consumer) != to_arn:
        raise RepointError(f"{consumer.kind} {consumer.name} still uses {current} after the update")
    return calls
