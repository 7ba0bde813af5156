"""SARIF 2.1.0 for code scanning (GitHub, Azure DevOps): the rules with their help text and
severity, and one result per failing finding (waived ones as suppressed results), each with a stable
fingerprint of account, rule and resource so a code-scanning service tracks it across runs.

An IAM resource has no file; each result names a pseudo-path ``aws/<account>/<resource>`` (code
scanning requires a physical location) and the resource's ARN as its logical location.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["SARIF_SCHEMA", "sarif_document", "sarif_head", "sarif_results"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
#: GitHub's "security-severity" (0-10) for its critical/high/medium/low ranking.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def _fingerprint(account: str, rule_id: str, resource: str) -> str:
    return hashlib.sha256(f"{account}\n{rule_id}\n{resource}".encode()).hexdigest()


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    controls = rule.get("controls") or {}
    tags = ["security", "iam", str(rule.get("area", ""))]
    tags += [f"CIS-{c}" for c in controls.get("cis_aws_foundations", [])]
    tags += [f"NIST-{c}" for c in controls.get("nist_800_53", [])]
    tags += [f"SOC2-{c}" for c in controls.get("soc2", [])]
    severity = str(rule.get("severity", "medium"))
    return {
        "id": rule["id"],
        "name": "".join(w.capitalize() for w in str(rule.get("title", rule["id"])).replace("-", " ").split()),
        "shortDescription": {"text": rule.get("title", rule["id"])},
        "fullDescription": {"text": rule.get("rationale") or rule.get("title", rule["id"])},
        "help": {
            "text": f"{rule.get('rationale', '')}\n\nRemediation: {rule.get('remediation', '')}",
            "markdown": f"{rule.get('rationale', '')}\n\n**Remediation:** {rule.get('remediation', '')}",
        },
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {
            "tags": [t for t in tags if t],
            "security-severity": _SECURITY_SEVERITY.get(severity, "5.5"),
            "precision": "high",
            "problem.severity": _LEVEL.get(severity, "warning"),
        },
    }


def sarif_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The SARIF log of a findings document, whole (the report writes it as a stream:
    :func:`sarif_head`, then :func:`sarif_results` one at a time)."""
    sarif = sarif_head(document)
    sarif["runs"][0]["results"] = list(sarif_results(document))
    return sarif


def sarif_results(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One SARIF result per failing or waived finding, in the document's order."""
    run = document.get("run", {})
    index = {r["id"]: i for i, r in enumerate(sorted(document.get("rules", []), key=lambda r: r["id"]))}
    for f in document.get("findings", []):
        if f["outcome"] not in ("fail", "waived"):
            continue
        account = str(f.get("account_id") or run.get("account_id", ""))  # merged: each finding's own
        result: dict[str, Any] = {
            "ruleId": f["rule_id"],
            "ruleIndex": index.get(f["rule_id"], -1),
            "level": _LEVEL.get(f["severity"], "warning"),
            "message": {"text": f["message"] or f["title"]},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": f"aws/{account}/{f['resource']}"}},
                    "logicalLocations": [
                        {"fullyQualifiedName": f.get("resource_arn") or f["resource"], "kind": "resource"}
                    ],
                }
            ],
            "partialFingerprints": {"amsIamAudit/v1": _fingerprint(account, f["rule_id"], f["resource"])},
            "properties": {"severity": f["severity"], "resource": f["resource"]},
        }
        if result["ruleIndex"] < 0:
            del result["ruleIndex"]
        if f.get("baseline"):
            result["baselineState"] = f["baseline"]
        if f["outcome"] == "waived" and f.get("waiver"):
            w = f["waiver"]
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": f"{w['justification']} (owner {w['owner']}, expires {w['expires']})",
                }
            ]
        yield result


def sarif_head(document: Mapping[str, Any]) -> dict[str, Any]:
    """The SARIF log around its results (``runs[0].results`` an empty list): tool, rules, invocation."""
    run = document.get("run", {})
    rules = [_rule(r) for r in sorted(document.get("rules", []), key=lambda r: r["id"])]
    invocation: dict[str, Any] = {"executionSuccessful": bool(run.get("complete", False))}
    if run.get("command_line"):
        invocation["commandLine"] = run["command_line"]
    if run.get("started_at"):
        invocation["startTimeUtc"] = run["started_at"]
    if run.get("finished_at"):
        invocation["endTimeUtc"] = run["finished_at"]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ams-iam-audit",
                        "version": str(run.get("tool_version", "")),
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"ams-iam-audit/{run.get('account_id') or 'organization'}/"},
                "invocations": [invocation],
                "results": [],
            }
        ],
    }
