"""The findings file's JSON Schema (``data/findings.schema.json``, shipped in the package), and
validation against it: what the ``report`` command and ``--baseline`` accept."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

__all__ = ["SchemaError", "findings_schema", "validate_findings"]


class SchemaError(ValueError):
    """The document breaks the schema; the message says where."""


@cache
def findings_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(files("ams_iam_audit").joinpath("data/findings.schema.json").read_text())
    return schema


def validate_findings(document: Any) -> None:
    validator = jsonschema.Draft202012Validator(findings_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise SchemaError(f"does not match the findings schema at {where}: {error.message}")
