"""The boto3 clients are typed with the boto3 stubs (``mypy_boto3_*``), for mypy only: every service
the package asks a client for has an ``AwsClients.client`` overload and its stub in the dev extra,
and nothing at run time imports a stub (a production install has none)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import typing
from collections.abc import Callable
from pathlib import Path

from conftest import Account

from ams_iam_audit.aws import AwsClients

ROOT = Path(__file__).resolve().parent.parent


def _services_called() -> dict[str, str]:
    """service -> one place that asks for its client by literal name (``….client("iam", …)``)."""
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "ams_iam_audit").rglob("*.py"), *(ROOT / "rules").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "client"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _overloaded_services(function: Callable[..., object] = AwsClients.client) -> set[str]:
    """The service literals of ``function``'s overloads (annotations are text here)."""
    out: set[str] = set()
    for overload in typing.get_overloads(function):
        annotation = overload.__annotations__["service"]
        out.update(re.findall(r"Literal\[['\"]([a-z0-9-]+)['\"]\]", annotation))
    return out


def _stub_extras() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for requirement in pyproject["project"]["optional-dependencies"]["dev"]:
        match = re.fullmatch(r"boto3-stubs\[([^\]]*)\]", requirement)
        if match:
            return {extra.strip() for extra in match.group(1).split(",")}
    raise AssertionError("the dev extra installs no boto3-stubs")


def test_every_service_the_package_calls_has_a_typed_client_and_its_stub() -> None:
    called = _services_called()
    assert {"iam", "s3", "sts", "lambda", "codebuild", "apigateway"} <= called.keys()  # the scan finds them
    untyped = {service: where for service, where in called.items() if service not in _overloaded_services()}
    assert not untyped, f"add an AwsClients.client overload (aws.py) for: {untyped}"
    missing = {service: where for service, where in called.items() if service not in _stub_extras()}
    assert not missing, f"add these to the dev extra's boto3-stubs[...] (pyproject.toml): {missing}"


def test_the_test_account_types_the_same_services() -> None:
    """``Account.client`` (tests/conftest.py) repeats the overloads for the tests' own seeding: the
    same services, so a test reading a client the package reads is checked against the same stub."""
    assert _overloaded_services(Account.client) == _overloaded_services()


def test_the_package_runs_without_the_stubs_installed() -> None:
    """A production install has no ``mypy_boto3_*``: with every stub import refused, the package
    (plugin, inventory, remediation, iam_utils) still imports and hands out clients."""
    script = """
import importlib.abc, sys

class NoStubs(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("mypy_boto3") or name.startswith("botocore-stubs"):
            raise ImportError(f"stub imported at run time: {name}")
        return None

sys.meta_path.insert(0, NoStubs())
import boto3
import ams_iam_audit, ams_iam_audit.iam_utils, ams_iam_audit.remediate.consumers, ams_iam_audit.remediate.users
import ams_iam_audit.remediate.boundary, ams_iam_audit.remediate.journal, ams_iam_audit.inventory.collect
import ams_iam_audit.pytest_plugin.plugin
from ams_iam_audit.aws import AwsClients
client = AwsClients(boto3.Session(region_name="us-east-1")).client("iam")
assert client.meta.service_model.service_name == "iam"
assert not [m for m in sys.modules if m.startswith("mypy_boto3")]
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
