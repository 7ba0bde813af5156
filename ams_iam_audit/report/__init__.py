"""Writing results: findings plus run metadata, and every output rendered from them (never from AWS).

``write_results`` writes the versioned ``findings.json`` (schema: ``data/findings.schema.json``), then
:func:`render_outputs` renders from that document alone: ``report.html`` (the auditor's report),
``summary.md`` (CI; appended to ``$GITHUB_STEP_SUMMARY`` when that is set) and ``results.sarif``
(code scanning). ``ams-iam-audit report findings.json`` re-renders them later, offline. pytest's
own ``--junitxml`` carries each rule's id, severity and resource as properties.

The three built-in outputs are one implementation (:class:`BuiltinReports`) of the
``pytest_ams_iam_audit_write_reports`` hook (``ams_iam_audit.pytest_plugin.hooks``): a team's plugin adds a format
by implementing the same hook, with no file of this package edited.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import pytest

from ..findings import Finding, findings_document
from ..findings.baseline import ruleset_digest
from ..inventory.model import Inventory
from ..jsonio import (
    FINDINGS_MAX_DEPTH,
    InputError,
    OutputError,
    encode_json,
    loads_written,
    read_json,
    scrub,
    write_json_atomic,
    write_text_atomic,
)
from ..policy.actions import catalogue_version
from ..policy.lint import linter_version
from .render import render_html, render_markdown
from .sarif import sarif_document

__all__ = [
    "FINDINGS_FILE",
    "HTML_FILE",
    "MARKDOWN_FILE",
    "SARIF_FILE",
    "BuiltinReports",
    "render_outputs",
    "ruleset_digest",
    "write_organization_results",
    "write_results",
]

FINDINGS_FILE = "findings.json"
HTML_FILE = "report.html"
MARKDOWN_FILE = "summary.md"
SARIF_FILE = "results.sarif"
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


class AuditedRun(Protocol):
    """What the results need to know of the run (``run.AuditRun`` is one): handed in by the plugin,
    so this room renders and never reaches back into the run or the remediation."""

    @property
    def inventory(self) -> Inventory: ...
    @property
    def demo(self) -> object | None: ...
    @property
    def snapshot_sha256(self) -> str: ...
    @property
    def execution_role_arns(self) -> tuple[str, ...]: ...
    @property
    def timings(self) -> Mapping[str, float]: ...


def _command_line(config: pytest.Config) -> str:
    args = [str(a) for a in config.invocation_params.args]
    return scrub(shlex.join([Path(sys.argv[0]).name, *args]))


def write_results(
    report_dir: Path,
    findings: list[Finding],
    rules: Iterable[Mapping[str, Any]],
    run: AuditedRun,
    config: pytest.Config,
    started: float,
    exit_status: int,
    extra: Mapping[str, Any] | None = None,
    incomplete: str | None = None,
    render: bool = True,
) -> list[Path]:
    """Write ``findings.json`` and (``render``) render every output from it. ``rules``: each rule's metadata as
    the findings document holds it (with ``fixable``, which the plugin knows). ``extra``: the optional sections
    (waivers, baseline, fix) of the findings document; ``incomplete``: why the run did not judge
    every case it collected (``-x``, ``--maxfail``), when it did not. Raises :class:`OutputError`
    naming the path that could not be written."""
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
        # the phases done before this file is written (report itself: see the terminal summary)
        "timings_seconds": {k: round(v, 3) for k, v in run.timings.items()},
        # 0 or 1 is a finished audit; anything else (interrupted, collection or internal error), or a
        # run stopped early (-x, --maxfail), means rules may be missing from this file: read it as
        # incomplete, never as "the rest passed".
        "pytest_exit_status": exit_status,
        "complete": incomplete is None and exit_status in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED),
    }
    if incomplete is not None:
        meta["incomplete_reason"] = incomplete
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
    # encoded once: the bytes are written, then parsed back, and every report is rendered from what
    # the file holds (keys in its order), so `ams-iam-audit report` renders the same; the document
    # encoded is gone by then: at the maximum quotas the two would hold 93,000 findings each
    encoded = encode_json(findings_document(findings, rules, meta, coverage, extra))
    write_text_atomic(path, encoded)
    try:
        written = loads_written(encoded, str(path), max_depth=FINDINGS_MAX_DEPTH)
        del encoded
    except InputError as exc:
        raise OutputError(f"{path}: written, but cannot be read back: {exc}") from None
    if not render:  # one account's file of a run of several: the organization's report renders them
        return [path]
    return _render_written(written, Path(report_dir), config, path)


def _render_written(written: Mapping[str, Any], report_dir: Path, config: pytest.Config, path: Path) -> list[Path]:
    """Every output of the findings document ``written`` (as read back from ``path``), through the
    ``pytest_ams_iam_audit_write_reports`` hook."""
    try:
        hook = config.hook.pytest_ams_iam_audit_write_reports
        outputs = hook(document=written, out_dir=Path(report_dir), config=config)
    except OutputError:
        raise
    except Exception as exc:  # a team's writer: findings.json is written, say which output failed
        raise OutputError(
            f"a report writer (pytest_ams_iam_audit_write_reports) failed: {type(exc).__name__}: {exc}"
        ) from exc
    return [path, *(p for paths in outputs for p in paths or ())]


def write_organization_results(report_dir: Path, account_files: Sequence[Path], config: pytest.Config) -> list[Path]:
    """A run of several accounts: the organization's ``findings.json`` in ``report_dir``, merged from
    each account's file (``report.merge``, the same document ``ams-iam-audit merge`` makes of them),
    and every output rendered from it, as one account's run renders its own. Raises
    :class:`OutputError` naming the path that could not be written."""
    from .merge import MergeError, merge_documents, read_run  # merge imports this module

    try:
        document = merge_documents([read_run(p) for p in account_files], _command_line(config))
    except MergeError as exc:
        raise OutputError(f"the accounts' findings cannot be merged: {exc}") from None
    path = Path(report_dir) / FINDINGS_FILE
    write_json_atomic(path, document)  # as `ams-iam-audit merge` writes it, and rendered from what the file holds
    try:
        written = read_json(path, max_depth=FINDINGS_MAX_DEPTH)
    except InputError as exc:
        raise OutputError(f"{path}: written, but cannot be read back: {exc}") from None
    return _render_written(written, Path(report_dir), config, path)


class BuiltinReports:
    """The built-in outputs (HTML, Markdown, SARIF and the GitHub step summary) as an implementation
    of ``pytest_ams_iam_audit_write_reports``, registered by the plugin in audit mode."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_ams_iam_audit_write_reports(self, document: Mapping[str, Any], out_dir: Path) -> list[Path]:
        return render_outputs(document, out_dir)


def render_outputs(document: Mapping[str, Any], out_dir: Path, *, step_summary: bool = True) -> list[Path]:
    """Render the HTML report, the Markdown summary and SARIF from a findings document. The Markdown
    is also appended to ``$GITHUB_STEP_SUMMARY`` when that is set (and ``step_summary``)."""
    out_dir = Path(out_dir)
    markdown = render_markdown(document)
    written = []
    renderers: tuple[tuple[str, Callable[[], str]], ...] = (
        (HTML_FILE, lambda: render_html(document)),
        (MARKDOWN_FILE, lambda: markdown),
        (SARIF_FILE, lambda: encode_json(sarif_document(document), sort_keys=False).decode("utf-8")),
    )
    for name, render in renderers:
        # one output at a time (at the maximum quotas the HTML is 30 MB, and twice that with its
        # masked copy); the one masking function over each whole output: a findings file from
        # elsewhere (the ``report`` command) is masked too
        write_text_atomic(out_dir / name, scrub(render()))
        written.append(out_dir / name)
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary and summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(scrub(markdown) + "\n")
        except OSError as exc:
            raise OutputError(f"${STEP_SUMMARY_ENV} {summary}: cannot append: {exc.strerror}") from None
    return written
