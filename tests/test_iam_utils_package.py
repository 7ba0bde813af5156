"""``iam_utils`` is a package (one module per resource) whose namespace keeps the library-compatible
import path: every public name is reachable as ``from ams_iam_audit.iam_utils import X`` and as
``iam_utils.X``, the library's own functions among them, and each function's permissions stay
declared in the one ``PERMISSIONS``."""

from __future__ import annotations

import importlib
import inspect

import pytest

from ams_iam_audit import iam_utils

#: The functions the refactored AIModelShare library's ``iam_utils`` has, with its signatures.
LIBRARY = (
    "canonical_policy_doc",
    "policy_hash",
    "ensure_bucket",
    "ensure_role",
    "ensure_managed_policy",
    "ensure_inline_policy",
    "attach_managed_policy_to_role",
    "get_execution_session",
)

MODULES = ("roles", "policies", "users", "buckets", "lock")


@pytest.mark.parametrize("name", iam_utils.__all__)
def test_every_public_name_keeps_its_import_path(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from ams_iam_audit.iam_utils import {name}", namespace)
    assert namespace[name] is getattr(iam_utils, name)


def test_the_library_functions_and_a_star_import() -> None:
    assert set(LIBRARY) <= set(iam_utils.__all__)
    namespace: dict[str, object] = {}
    exec("from ams_iam_audit.iam_utils import *", namespace)
    assert set(iam_utils.__all__) <= set(namespace)
    assert not [n for n in namespace if n.startswith("_") and n != "__builtins__"]


def test_each_public_function_lives_in_a_resource_module_and_declares_its_permissions() -> None:
    """The package's modules by resource hold the code; what each function declares is in the one
    ``PERMISSIONS`` whichever module it is in."""
    homes = {}
    for name in iam_utils.__all__:
        value = getattr(iam_utils, name)
        if inspect.isfunction(value) and value.__module__.startswith("ams_iam_audit.iam_utils."):
            homes[name] = value.__module__.rsplit(".", 1)[1]
    assert set(homes.values()) == {*MODULES, "_common"}  # json_text, shared by all
    assert homes["ensure_role"] == "roles"
    assert homes["ensure_managed_policy"] == "policies"
    assert homes["retire_user"] == "users"
    assert homes["ensure_bucket"] == "buckets"
    assert homes["acquire_fix_lock"] == "lock"
    for module in MODULES:
        assert importlib.import_module(f"ams_iam_audit.iam_utils.{module}").__doc__, module
    for name in ("ensure_role", "retire_user", "ensure_bucket", "acquire_fix_lock", "services_last_accessed"):
        assert iam_utils.PERMISSIONS[name], name
    assert iam_utils.PERMISSIONS["get_execution_session"] == ("sts:AssumeRole",)
