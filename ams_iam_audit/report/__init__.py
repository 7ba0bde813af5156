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

import gc
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import pytest

from ..findings import Finding, findings_head, report_order
from ..findings.baseline import ruleset_digest
from ..inventory.model import Inventory
from ..jsonio import (
    FINDINGS_MAX_DEPTH,
    InputError,
    OutputError,
    encode_json,
    encode_json_stream,
    loads_written,
    read_json,
    scrub,
    scrub_stream_utf8,
    write_json_atomic,
    write_text_atomic,
)
from ..policy.actions import catalogue_version
from ..policy.lint import linter_version
from .render import html_chunks, render_markdown
from .sarif import sarif_head, sarif_results

__all__ = [
    "FINDINGS_FILE",
    "HTML_FILE",
    "MARKDOWN_FILE",
    "SARIF_FILE",
    "BuiltinReports",
    "render_outputs",
    "ruleset_digest",
    "write_findings",
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
    with _collector_paused():
        try:
            written = write_findings(path, findings, rules, meta, coverage, extra)
        except InputError as exc:
            raise OutputError(f"{path}: not written: it could not be read back: {exc}") from None
        if not render:  # one account's file of a run of several: the organization's report renders them
            return [path]
        return _render_written(written, Path(report_dir), config, path)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while the reports are written, and enabled again after
    (unless the caller had it disabled already). The phase makes millions of containers (each
    finding's JSON parsed back, the views, the rows) and frees them by reference counting, not as
    cycles: each automatic collection meanwhile only walks what is alive, growing as the parsed
    findings do (about 0.5 s of the phase at the maximum quotas, bench/README.md "Round 5")."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


def write_organization_results(
    report_dir: Path,
    account_files: Sequence[Path],
    config: pytest.Config,
    left_out: Sequence[tuple[str, str, str]] = (),
) -> list[Path]:
    """A run of several accounts: the organization's ``findings.json`` in ``report_dir``, merged from
    each account's file (``report.merge``, the same document ``ams-iam-audit merge`` makes of them),
    and every output rendered from it, as one account's run renders its own; ``left_out`` names the
    organization's accounts the run did not audit (suspended, closed). Raises
    :class:`OutputError` naming the path that could not be written."""
    from .merge import MergeError, merge_documents, read_run  # merge imports this module

    try:
        document = merge_documents([read_run(p) for p in account_files], _command_line(config), left_out)
    except MergeError as exc:
        raise OutputError(f"the accounts' findings cannot be merged: {exc}") from None
    path = Path(report_dir) / FINDINGS_FILE
    write_json_atomic(path, document)  # as `ams-iam-audit merge` writes it, and rendered from what the file holds
    try:
        written = read_json(path, max_depth=FINDINGS_MAX_DEPTH)
    except InputError as exc:
        raise OutputError(f"{path}: written, but cannot be read back: {exc}") from None
    return _render_written(written, Path(report_dir), config, path)


def write_findings(
    path: Path,
    findings: Iterable[Finding],
    rules: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any],
    coverage: Iterable[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the findings document to ``path`` as a stream, and return it as the file holds it.

    Each finding's JSON is made, encoded and written one at a time, inside the document around
    them (:func:`~ams_iam_audit.findings.findings_head`): the bytes are those
    ``encode_json(findings_document(...))`` makes, but neither the whole document of dicts nor its
    80 MB of text (at the maximum quotas) ever exists. Each finding's bytes are parsed back as they
    are written, with the nesting limit the whole file gets when it is given back later, and each
    of its strings is the finding's own or an equal one held already (:func:`_shared`): every report is
    rendered from what the file holds (keys in its order), so ``ams-iam-audit report`` renders the
    same. Raises :class:`InputError` when what would be written cannot be read back (the file is
    then left as it was), :class:`OutputError` naming the path when it cannot be written."""
    ordered = report_order(findings)
    head = findings_head(ordered, rules, meta, coverage, extra)
    where = str(path)
    parsed: list[dict[str, Any]] = []
    shared: dict[Any, Any] = {}

    def encoded_findings() -> Iterator[bytes]:
        for finding in ordered:
            record = finding.to_json()
            encoded = encode_json(record, newline=False)
            data = loads_written(encoded, where, max_depth=FINDINGS_MAX_DEPTH - 2)  # inside findings[]
            # the finding's own strings first (its resource, message, evidence: what the run holds
            # anyway), so the parsed copies become references to them, or to an equal earlier one
            _shared(record, shared)
            parsed.append(_shared(data, shared))
            yield encoded

    write_text_atomic(path, encode_json_stream(head, ("findings",), encoded_findings()))
    document: dict[str, Any] = loads_written(encode_json(head), where, max_depth=FINDINGS_MAX_DEPTH)
    document["findings"] = parsed
    return document


def _shared(value: Any, memo: dict[Any, Any]) -> Any:
    """``value`` (parsed JSON) with each string replaced by the equal one ``memo`` already holds
    (and each new one remembered): rules' titles and remediations, and the evidence of thousands of
    findings (the same actions, ARNs and statements), repeat, and the parser makes a new string for
    each occurrence (bench/README.md "Round 3" measures it). Containers are changed in place."""
    kind = type(value)
    if kind is str:
        return memo.setdefault(value, value)
    if kind is dict:
        for key, item in value.items():
            value[key] = _shared(item, memo)
    elif kind is list:
        value[:] = [_shared(item, memo) for item in value]
    return value


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
    renderers: tuple[tuple[str, Callable[[], Iterable[str]]], ...] = (
        (HTML_FILE, lambda: html_chunks(document)),
        (MARKDOWN_FILE, lambda: (markdown,)),
        (SARIF_FILE, lambda: _sarif_chunks(document)),
    )
    for name, render in renderers:
        # one output at a time, each rendered as a stream into its file (at the maximum quotas the
        # HTML is 30 MB): the one masking function over all of it, a piece at a time; a findings
        # file from elsewhere (the ``report`` command) is masked too
        write_text_atomic(out_dir / name, scrub_stream_utf8(render()))
        written.append(out_dir / name)
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if step_summary and summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(scrub(markdown) + "\n")
        except OSError as exc:
            raise OutputError(f"${STEP_SUMMARY_ENV} {summary}: cannot append: {exc.strerror}") from None
    return written


def _sarif_chunks(document: Mapping[str, Any]) -> Iterator[str]:
    """``results.sarif`` as text in pieces: the document around the results, then each result."""
    results = (encode_json(r, sort_keys=False, newline=False) for r in sarif_results(document))
    for chunk in encode_json_stream(sarif_head(document), ("runs", "", "results"), results, sort_keys=False):
        yield chunk.decode("utf-8")
