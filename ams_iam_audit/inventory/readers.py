"""The readers of the consumers of roles: one function per kind, reading one region.

Each reader is named by its kind's entry in ``inventory.consumer_kinds`` (the registry), which says
what it calls and with which permissions; collection runs every registered reader in every audited
region, and a reader that fails (a refusal, a malformed answer) leaves its ``<kind>:<region>``
section unreadable. A reader returns :class:`Consumer` records and nothing else: environment
variables are classified and their values dropped here (``inventory.environment``), so no secret
leaves a reader.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..aws import AwsClients, CallerIdentity, CallError, call
from .answers import MALFORMED, mapping, opaque_mapping, pages, text
from .environment import PLAINTEXT, classify
from .model import REDEPLOY_TAG, Consumer, EnvironmentVariable

if TYPE_CHECKING:
    from mypy_boto3_apigateway import APIGatewayClient
    from mypy_boto3_ecs import ECSClient


__all__ = [
    "CLOUDFORMATION",
    "ECS_ROLE_FIELDS",
    "GLUE",
    "LAMBDA",
    "Listing",
    "apigateway_consumers",
    "codebuild_consumers",
    "ec2_consumers",
    "ecs_consumers",
    "lambda_consumers",
    "sagemaker_consumers",
]


def _variables(pairs: Iterable[tuple[Any, Any, Any]], call_name: str) -> tuple[EnvironmentVariable, ...]:
    """(name, value, type) triples -> records without values (see ``inventory.environment``)."""
    out = []
    for name, value, type_ in pairs:
        if not isinstance(name, str) or not isinstance(type_, str):
            raise CallError(call_name, MALFORMED, "an environment variable has no name or type")
        out.append(classify(name, value, type_))
    return tuple(sorted(out, key=lambda v: v.name))


def lambda_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    """Lambda functions: their execution role, and their environment variables (classified, values
    dropped). ``Environment.Error`` (variables the caller cannot decrypt) is recorded as such."""
    out = []
    for consumer, item in LAMBDA.items(clients, region, owner):
        environment = opaque_mapping(item.get("Environment"), "Environment", "lambda:ListFunctions")
        failure = opaque_mapping(environment.get("Error"), "Environment.Error", "lambda:ListFunctions")
        if failure:
            code, message = failure.get("ErrorCode", "Error"), failure.get("Message", "")
            error = f"{code}: {message} (the variables are encrypted with a KMS key the caller may not use)"
            out.append(replace(consumer, environment_error=error))
            continue
        variables = opaque_mapping(environment.get("Variables"), "Environment.Variables", "lambda:ListFunctions")
        pairs = ((k, v, PLAINTEXT) for k, v in variables.items())
        out.append(replace(consumer, environment=_variables(pairs, "lambda:ListFunctions")))
    return out


def codebuild_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    client = clients.client("codebuild", region)
    names = list(pages(client, "list_projects", "projects"))
    if not all(isinstance(n, str) and n for n in names):
        raise CallError("codebuild:ListProjects", MALFORMED, "projects is not a list of names")
    out = []
    for start in range(0, len(names), 100):
        batch = names[start : start + 100]
        answer = call(client, "batch_get_projects", names=batch)
        projects, gone = answer.get("projects") or [], answer.get("projectsNotFound") or []
        if not isinstance(projects, list) or not isinstance(gone, list):
            raise CallError("codebuild:BatchGetProjects", MALFORMED, "projects is not a list")
        seen = set(gone)
        for project in projects:
            name = text(project, "name", "codebuild:BatchGetProjects")
            seen.add(name)
            role = text(project, "serviceRole", "codebuild:BatchGetProjects", optional=True)
            if role:
                arn = text(project, "arn", "codebuild:BatchGetProjects")
                environment = opaque_mapping(project.get("environment"), "environment", "codebuild:BatchGetProjects")
                listed = environment.get("environmentVariables") or []
                if not isinstance(listed, list) or not all(isinstance(v, Mapping) for v in listed):
                    raise CallError("codebuild:BatchGetProjects", MALFORMED, "environmentVariables is not a list")
                pairs = ((v.get("name"), v.get("value"), v.get("type", PLAINTEXT)) for v in listed)
                variables = _variables(pairs, "codebuild:BatchGetProjects")
                out.append(
                    Consumer(kind="codebuild", region=region, name=name, arn=arn, role_arn=role, environment=variables)
                )
        if unanswered := sorted(set(batch) - seen):
            raise CallError(
                "codebuild:BatchGetProjects",
                MALFORMED,
                f"no answer for project(s) {', '.join(unanswered[:5])}",
            )
    return out


def _stages(client: APIGatewayClient, api_id: str) -> list[Mapping[str, Any]]:
    items = call(client, "get_stages", restApiId=api_id).get("item") or []
    if not isinstance(items, list):
        raise CallError("apigateway:GetStages", MALFORMED, "item is not a list")
    for stage in items:
        text(stage, "stageName", "apigateway:GetStages")
        mapping(stage.get("tags"), "tags", "apigateway:GetStages")
    return sorted(items, key=lambda s: s["stageName"])


def apigateway_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    client = clients.client("apigateway", region)
    out = []
    for api in pages(client, "get_rest_apis", "items"):
        api_id = text(api, "id", "apigateway:GetRestApis")
        stages: list[Mapping[str, Any]] | None = None
        for resource in pages(client, "get_resources", "items", restApiId=api_id, embed=["methods"]):
            resource_id = text(resource, "id", "apigateway:GetResources")
            methods = mapping(resource.get("resourceMethods"), "resourceMethods", "apigateway:GetResources")
            for method, detail in sorted(methods.items()):
                integration = mapping(
                    mapping(detail, f"method {method}", "apigateway:GetResources").get("methodIntegration"),
                    "methodIntegration",
                    "apigateway:GetResources",
                )
                role = text(integration, "credentials", "apigateway:GetResources", optional=True)
                if not role or ":role/" not in role:
                    continue  # no credentials, or the caller's own ("arn:aws:iam::*:user/*")
                arn = f"arn:aws:apigateway:{region}::/restapis/{api_id}/resources/{resource_id}/methods/{method}"
                if stages is None:  # one call per API, only for APIs whose integrations use a role
                    stages = _stages(client, api_id)
                out.append(
                    Consumer(
                        kind="apigateway",
                        region=region,
                        arn=arn,
                        role_arn=role,
                        name=f"{api.get('name', api_id)} {method} {resource.get('path', '')}",
                        stages=tuple(s["stageName"] for s in stages),
                        pending_stages=tuple(s["stageName"] for s in stages if REDEPLOY_TAG in (s.get("tags") or {})),
                    )
                )
    return out


def ec2_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    """Instances that carry an instance profile. ``role_arn`` is filled from the IAM part of the
    inventory (which role the profile holds: GetAccountAuthorizationDetails lists each role's
    instance profiles), once both are read: see ``ConsumerKind.role_via_instance_profile``."""
    client = clients.client("ec2", region)
    out = []
    for reservation in pages(client, "describe_instances", "Reservations"):
        for instance in mapping(reservation, "a reservation", "ec2:DescribeInstances").get("Instances") or []:
            profile = mapping(instance.get("IamInstanceProfile"), "IamInstanceProfile", "ec2:DescribeInstances")
            if not profile:
                continue
            instance_id = text(instance, "InstanceId", "ec2:DescribeInstances")
            arn = f"arn:{owner.partition}:ec2:{region}:{owner.account_id}:instance/{instance_id}"
            profile_arn = text(profile, "Arn", "ec2:DescribeInstances")
            out.append(Consumer(kind="ec2", region=region, name=instance_id, arn=arn, role_arn="", via=profile_arn))
    return out


@dataclass(frozen=True)
class Listing:
    """A consumer kind read from one paginated list call whose items name their role: each item with
    a role (``role_key``) becomes a :class:`Consumer` named by ``name_key``, its ARN from ``arn_key``
    or, where the item holds none, built from ``arn_format``."""

    kind: str
    operation: str  # e.g. "list_functions" on the kind's own client
    call_name: str  # e.g. "lambda:ListFunctions"
    key: str
    role_key: str
    name_key: str
    arn_key: str | None = None
    arn_format: str = ""  # with {partition}, {region}, {account}, {name}

    def read(self, clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
        return [consumer for consumer, _ in self.items(clients, region, owner)]

    def items(
        self, clients: AwsClients, region: str, owner: CallerIdentity
    ) -> Iterator[tuple[Consumer, Mapping[str, Any]]]:
        """Each consumer with the item it was read from (for readers that need more of it)."""
        for item in pages(clients.client(self.kind, region), self.operation, self.key):
            role = text(item, self.role_key, self.call_name, optional=True)
            if not role:
                continue
            name = text(item, self.name_key, self.call_name)
            arn = (
                text(item, self.arn_key, self.call_name)
                if self.arn_key
                else self.arn_format.format(
                    partition=owner.partition, region=region, account=owner.account_id, name=name
                )
            )
            yield Consumer(kind=self.kind, region=region, name=name, arn=arn, role_arn=role), item


#: Lambda functions (execution role), CloudFormation stacks with a service role (CloudFormation acts
#: as it on every update), Glue development endpoints (each runs as its role).
LAMBDA = Listing("lambda", "list_functions", "lambda:ListFunctions", "Functions", "Role", "FunctionName", "FunctionArn")
CLOUDFORMATION = Listing(
    "cloudformation", "describe_stacks", "cloudformation:DescribeStacks", "Stacks", "RoleARN", "StackName", "StackId"
)
GLUE = Listing(
    "glue",
    "get_dev_endpoints",
    "glue:GetDevEndpoints",
    "DevEndpoints",
    "RoleArn",
    "EndpointName",
    arn_format="arn:{partition}:glue:{region}:{account}:devEndpoint/{name}",
)


def sagemaker_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    """SageMaker notebook instances (each runs as its role; the list omits it: one describe each)."""
    client = clients.client("sagemaker", region)
    out = []
    for notebook in pages(client, "list_notebook_instances", "NotebookInstances"):
        name = text(notebook, "NotebookInstanceName", "sagemaker:ListNotebookInstances")
        detail = call(client, "describe_notebook_instance", NotebookInstanceName=name)
        role = text(detail, "RoleArn", "sagemaker:DescribeNotebookInstance", optional=True)
        if role:
            arn = text(notebook, "NotebookInstanceArn", "sagemaker:ListNotebookInstances")
            out.append(Consumer(kind="sagemaker", region=region, name=name, arn=arn, role_arn=role))
    return out


#: ECS answers at most this many services per DescribeServices call, and tasks per DescribeTasks.
_ECS_SERVICE_BATCH = 10
_ECS_TASK_BATCH = 100
#: DescribeTaskDefinition calls in flight at once, per region (ECS has no batch describe).
_ECS_DESCRIBE_WORKERS = 4
#: The role fields of an ECS task definition: what the containers act as, and what the ECS agent
#: acts as (pulling images, reading the task's secrets, writing its logs).
ECS_ROLE_FIELDS = (("taskRoleArn", "task role"), ("executionRoleArn", "execution role"))


def _ecs_described(
    client: ECSClient, operation: str, key: str, cluster: str, arns: list[str]
) -> list[Mapping[str, Any]]:
    """The items ``operation`` (DescribeServices, DescribeTasks) answers for ``arns`` of ``cluster``,
    in batches of what ECS accepts. An item gone in between (``MISSING``) is passed over; any other
    failure could hide a task definition, and is an error."""
    call_name = f"ecs:{''.join(p.capitalize() for p in operation.split('_'))}"
    size = _ECS_SERVICE_BATCH if operation == "describe_services" else _ECS_TASK_BATCH
    out: list[Mapping[str, Any]] = []
    for start in range(0, len(arns), size):
        answer = call(client, operation, cluster=cluster, **{key: arns[start : start + size]})
        items, failures = answer.get(key) or [], answer.get("failures") or []
        if not isinstance(items, list) or not isinstance(failures, list):
            raise CallError(call_name, MALFORMED, f"{key} is not a list")
        reasons = [opaque_mapping(f, "a failure", call_name).get("reason") for f in failures]
        if failed := [r for r in reasons if r != "MISSING"]:
            raise CallError(call_name, MALFORMED, f"{len(failed)} not described ({str(failed[0])[:60]})")
        out += [opaque_mapping(item, f"an item of {key}", call_name) for item in items]
    return out


@dataclass(frozen=True)
class _EcsRuns:
    """What an ECS region runs: task definition ARN -> the services (``cluster/service``) running it,
    the task definitions running tasks use (standalone ones included), and the consumers that are
    a running task's role override (RunTask's ``overrides``, which no task definition shows)."""

    services: Mapping[str, tuple[str, ...]]
    definitions: frozenset[str]
    overrides: tuple[Consumer, ...]


def _ecs_runs(client: ECSClient, region: str) -> _EcsRuns:
    """Every cluster's services (each deployment's task definition: a service in the middle of a
    rolling update runs its old and new ones at once) and running tasks."""
    services: dict[str, list[str]] = defaultdict(list)
    definitions: set[str] = set()
    overrides: list[Consumer] = []
    for cluster in pages(client, "list_clusters", "clusterArns"):
        if not isinstance(cluster, str) or not cluster:
            raise CallError("ecs:ListClusters", MALFORMED, "clusterArns is not a list of ARNs")
        cluster_name = cluster.rsplit("/", 1)[-1]
        service_arns = list(pages(client, "list_services", "serviceArns", cluster=cluster))
        for service in _ecs_described(client, "describe_services", "services", cluster, service_arns):
            name = f"{cluster_name}/{text(service, 'serviceName', 'ecs:DescribeServices')}"
            deployments = service.get("deployments") or []
            if not isinstance(deployments, list):
                raise CallError("ecs:DescribeServices", MALFORMED, "deployments is not a list")
            used = {text(service, "taskDefinition", "ecs:DescribeServices", optional=True)}
            used |= {text(d, "taskDefinition", "ecs:DescribeServices") for d in deployments}
            for definition in sorted(d for d in used if d):
                services[definition].append(name)
        task_arns = list(pages(client, "list_tasks", "taskArns", cluster=cluster))
        for task in _ecs_described(client, "describe_tasks", "tasks", cluster, task_arns):
            # a task's answer holds its containers' environment overrides: no error quotes it
            arn, definition = task.get("taskArn"), task.get("taskDefinitionArn")
            if not isinstance(arn, str) or not arn or not isinstance(definition, str) or not definition:
                raise CallError("ecs:DescribeTasks", MALFORMED, "a task has no taskArn or taskDefinitionArn")
            definitions.add(definition)
            given = opaque_mapping(task.get("overrides"), "overrides", "ecs:DescribeTasks")
            for field, label in ECS_ROLE_FIELDS:
                role = given.get(field)
                if role is not None and not isinstance(role, str):
                    raise CallError("ecs:DescribeTasks", MALFORMED, f"{arn}: overrides.{field} is not text")
                if role:
                    overrides.append(
                        Consumer(
                            kind="ecs",
                            region=region,
                            name=f"task {cluster_name}/{arn.rsplit('/', 1)[-1]} ({label} override)",
                            arn=arn,
                            role_arn=role,
                            via=f"overrides.{field}",
                        )
                    )
    return _EcsRuns(
        services={k: tuple(sorted(v)) for k, v in services.items()},
        definitions=frozenset(definitions),
        overrides=tuple(overrides),
    )


def _ecs_definition(client: ECSClient, arn: str) -> tuple[str, dict[str, str]]:
    """``<family>:<revision>`` and the role fields set of one task definition. Its answer holds the
    containers' environment, so no error quotes it."""
    answer = call(client, "describe_task_definition", taskDefinition=arn)
    detail = opaque_mapping(answer.get("taskDefinition"), "taskDefinition", "ecs:DescribeTaskDefinition")
    family, revision = detail.get("family"), detail.get("revision")
    if not isinstance(family, str) or not family:
        raise CallError("ecs:DescribeTaskDefinition", MALFORMED, f"{arn}: the task definition has no family")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise CallError("ecs:DescribeTaskDefinition", MALFORMED, f"{arn}: revision is a {type(revision).__name__}")
    roles = {field: detail.get(field) for field, _ in ECS_ROLE_FIELDS}
    if not all(role is None or isinstance(role, str) for role in roles.values()):
        raise CallError("ecs:DescribeTaskDefinition", MALFORMED, f"{arn}: a role field is not text")
    return f"{family}:{revision}", {field: role for field, role in roles.items() if role}


def ecs_consumers(clients: AwsClients, region: str, owner: CallerIdentity) -> list[Consumer]:
    """ECS task definitions and the roles they give their tasks: every ACTIVE task definition, and
    every task definition a service or a running task uses (a deregistered, INACTIVE one keeps
    running under them). One consumer per role field set (:data:`ECS_ROLE_FIELDS`), named
    ``<family>:<revision> (task role)`` or ``(execution role)``, ``via`` the field, ``services`` the
    ``cluster/service`` names running it; and one per role a running task was started with in place
    of its definition's (``task <cluster>/<id> (task role override)``, ``via`` ``overrides.<field>``).
    ECS has no batch describe of task definitions: they are described one by one,
    :data:`_ECS_DESCRIBE_WORKERS` at a time."""
    client = clients.client("ecs", region)
    runs = _ecs_runs(client, region)
    active = list(pages(client, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"))
    if not all(isinstance(a, str) and a for a in active):
        raise CallError("ecs:ListTaskDefinitions", MALFORMED, "taskDefinitionArns is not a list of ARNs")
    arns = sorted({*active, *runs.services, *runs.definitions})
    with ThreadPoolExecutor(max_workers=_ECS_DESCRIBE_WORKERS, thread_name_prefix="ams-ecs") as pool:
        definitions = list(pool.map(lambda arn: _ecs_definition(client, arn), arns))
    labels = dict(ECS_ROLE_FIELDS)
    return [
        *(
            Consumer(
                kind="ecs",
                region=region,
                name=f"{name} ({labels[field]})",
                arn=arn,
                role_arn=role,
                via=field,
                services=runs.services.get(arn, ()),
            )
            for arn, (name, roles) in zip(arns, definitions, strict=True)
            for field, role in roles.items()
        ),
        *runs.overrides,
    ]
