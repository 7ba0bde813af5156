"""``--baseline FINDINGS.json``: compare a run with an earlier one, so only new failures break the
build. A finding is the same problem in both when its rule and resource are (``Finding.key``).

A failure the baseline also failed is *unchanged*: reported as failing, but it does not fail the run
(pytest's xfail). A failure the baseline did not have is *new* and fails the run. What the baseline
failed and this run no longer fails is *resolved*, listed in the report.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .findings import FINDINGS_FORMAT, Finding, Outcome
from .schema import SchemaError, validate_findings

__all__ = ["Baseline", "BaselineError", "load_baseline"]


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Baseline:
    path: Path
    failing: frozenset[tuple[str, str]]
    account_id: str | None

    def classify(self, finding: Finding) -> Finding:
        if finding.outcome is not Outcome.FAIL:
            return finding
        return replace(finding, baseline="unchanged" if finding.key in self.failing else "new")

    def summary(self, findings: Iterable[Finding]) -> dict[str, Any]:
        findings = list(findings)
        still = {f.key for f in findings if f.outcome in (Outcome.FAIL, Outcome.WAIVED, Outcome.ERROR)}
        judged = {f.key for f in findings}

        def keys(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
            return [{"rule_id": r, "resource": res} for r, res in sorted(pairs)]

        return {
            "path": str(self.path),
            "account_id": self.account_id,
            "new": keys(f.key for f in findings if f.baseline == "new"),
            "unchanged": keys(f.key for f in findings if f.baseline == "unchanged"),
            # judged again and no longer failing; what this run did not judge (deselected) is not resolved
            "resolved": keys(k for k in self.failing if k in judged and k not in still),
        }


def load_baseline(path: Path) -> Baseline:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"--baseline {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or data.get("format") != FINDINGS_FORMAT:
        raise BaselineError(f"--baseline {path}: not an ams-iam-audit findings file")
    try:
        validate_findings(data)
    except SchemaError as exc:
        raise BaselineError(f"--baseline {path}: {exc}") from None
    failing = frozenset((f["rule_id"], f["resource"]) for f in data["findings"] if f["outcome"] in ("fail", "waived"))
    return Baseline(path=path, failing=failing, account_id=data.get("run", {}).get("account_id"))
