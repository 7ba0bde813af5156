"""Writing results: findings plus run metadata, rendered from findings only (never from AWS).

Today this writes the versioned ``findings.json`` that every other output (HTML, Markdown, SARIF) is
to be rendered from; pytest's own ``--junitxml`` carries each rule's id, severity and resource as
properties.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from .findings import Finding, findings_document
from .jsonio import scrub, write_json_atomic
from .policy.actions import catalogue_version
from .policy.lint import linter_version
from .run import AuditRun

__all__ = ["FINDINGS_FILE", "ruleset_digest", "write_results"]

FINDINGS_FILE = "findings.json"


def ruleset_digest(rules: Iterable[Mapping[str, Any]]) -> str:
    """Digest of the rules' metadata: two reports with the same digest judged by the same rules."""
    body = json.dumps(sorted(rules, key=lambda r: str(r["id"])), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _command_line(config: pytest.Config) -> str:
    args = [str(a) for a in config.invocation_params.args]
    return scrub(shlex.join([Path(sys.argv[0]).name, *args]))


def write_results(
    report_dir: Path,
    findings: list[Finding],
    rules: Iterable[Mapping[str, Any]],
    run: AuditRun,
    config: pytest.Config,
    started: float,
    exit_status: int,
) -> list[Path]:
    rules = list(rules)
    inv = run.inventory
    meta = {
        "account_id": inv.account_id,
        "caller_arn": inv.caller_arn,
        "regions": list(inv.regions),
        "source": inv.source,
        "demo": run.demo is not None,
        "collected_at": inv.collected_at,
        "started_at": datetime.fromtimestamp(started, UTC),
        "finished_at": datetime.now(UTC),
        "tool_version": version("ams-iam-audit"),
        "ruleset_sha256": ruleset_digest(rules),
        "inventory_sha256": run.snapshot_sha256,
        "action_catalogue": catalogue_version(),
        "linter": linter_version(),
        "command_line": _command_line(config),
        "execution_role_arns": list(run.execution_role_arns),
        # 0 or 1 is a finished audit; anything else (interrupted, collection or internal error) means
        # rules may be missing from this file: read it as incomplete, never as "the rest passed".
        "pytest_exit_status": exit_status,
        "complete": exit_status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED),
    }
    coverage = [
        {
            "section": s.name,
            "readable": s.readable,
            "source": s.source,
            "error": s.error,
            "missing_permission": s.permission,
        }
        for s in inv.sections
    ]
    path = Path(report_dir) / FINDINGS_FILE
    write_json_atomic(path, findings_document(findings, rules, meta, coverage))
    return [path]
