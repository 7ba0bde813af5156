"""``--baseline FINDINGS.json``: compare a run with an earlier one, so only new failures break the
build. A finding is the same problem in both when its rule and resource are (``Finding.key``).

A failure the baseline also failed is *unchanged*: reported as failing, but it does not fail the run
(pytest's xfail). A failure the baseline did not have is *new* and fails the run. What the baseline
failed and this run no longer fails is *resolved*, listed in the report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..jsonio import FINDINGS_MAX_DEPTH, InputError, read_json
from . import FINDINGS_FORMAT, Finding, Outcome, examined_resources
from .schema import SchemaError, validate_findings

__all__ = ["Baseline", "BaselineError", "load_baseline", "ruleset_digest"]


class BaselineError(ValueError):
    """A baseline file that cannot be used; the message names it and says why."""


@dataclass(frozen=True)
class Baseline:
    path: Path
    failing: frozenset[tuple[str, str]]
    account_id: str | None
    #: the rule-set digest the baseline's run recorded, and each of its rules' metadata by id
    ruleset_sha256: str | None = None
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def check_account(self, account_id: str) -> None:
        """A baseline judges this account only: another account's failures are other resources
        under the same names (raises :class:`BaselineError`)."""
        if self.account_id is not None and self.account_id != account_id:
            raise BaselineError(
                f"--baseline {self.path}: the baseline is of account {self.account_id}, this run audits "
                f"account {account_id}: compare runs of the same account"
            )

    def check_rules(self, rules: Iterable[Mapping[str, Any]]) -> None:
        """The rules this run shares with the baseline must be the same rules (same metadata, so the
        same rule-set digest over them): a rule changed since the baseline judges differently, and
        its "unchanged" would be a guess (raises :class:`BaselineError`)."""
        ours = {str(r["id"]): r for r in rules}
        common = sorted(set(ours) & set(self.rules))
        if not self.rules or not common:
            return
        mine = ruleset_digest(ours[i] for i in common)
        theirs = ruleset_digest(self.rules[i] for i in common)
        if mine != theirs:
            changed = [i for i in common if ruleset_digest([ours[i]]) != ruleset_digest([self.rules[i]])]
            raise BaselineError(
                f"--baseline {self.path}: made with another rule set (rule-set digest "
                f"{self.ruleset_sha256 or theirs}, this run's rules {mine} over the rules in common); "
                f"changed: {', '.join(changed)}"
            )

    def classify(self, finding: Finding) -> Finding:
        if finding.outcome is not Outcome.FAIL:
            return finding
        return replace(finding, baseline="unchanged" if finding.key in self.failing else "new")

    def summary(self, findings: Iterable[Finding]) -> dict[str, Any]:
        findings = list(findings)
        still = {f.key for f in findings if f.outcome in (Outcome.FAIL, Outcome.WAIVED, Outcome.ERROR)}
        judged = {f.key for f in findings}
        # an examined case judged the subjects it stands for (and lists them), each without a case of its own
        judged |= {
            (f.rule_id, r)
            for f in findings
            if f.outcome is Outcome.PASS
            for r in examined_resources(f.resource, f.evidence) or ()
        }

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
        data = read_json(path, "--baseline", FINDINGS_MAX_DEPTH)
    except InputError as exc:
        raise BaselineError(str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FINDINGS_FORMAT:
        raise BaselineError(f"--baseline {path}: not an ams-iam-audit findings file")
    try:
        validate_findings(data)
    except SchemaError as exc:
        raise BaselineError(f"--baseline {path}: {exc}") from None
    if data["version"] != 1:  # an organization's merged file: its resource names repeat across accounts
        accounts = ", ".join(str(a) for a in data["run"].get("accounts") or ())
        raise BaselineError(
            f"--baseline {path}: a merged findings file of accounts {accounts} (version {data['version']}): "
            "give the account's own findings.json from that run"
        )
    failing = frozenset((f["rule_id"], f["resource"]) for f in data["findings"] if f["outcome"] in ("fail", "waived"))
    run = data.get("run", {})
    return Baseline(
        path=path,
        failing=failing,
        account_id=run.get("account_id"),
        ruleset_sha256=run.get("ruleset_sha256"),
        rules={str(r["id"]): r for r in data.get("rules", [])},
    )


def ruleset_digest(rules: Iterable[Mapping[str, Any]]) -> str:
    """Digest of the rules' metadata: two runs with the same digest judged by the same rules."""
    body = json.dumps(sorted(rules, key=lambda r: str(r["id"])), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()
