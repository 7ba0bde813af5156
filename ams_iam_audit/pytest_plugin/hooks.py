"""The plugin's own hooks: what a team's plugin or ``conftest.py`` can implement to act on an audit.

They are added to pytest's hook registry through ``pytest_addhooks`` (as pytest-xdist adds its
``newhooks``), so a team implements them like any pytest hook, in a ``conftest.py`` or in a plugin
installed with a ``pytest11`` entry point::

    # conftest.py
    def pytest_ams_iam_audit_finding(finding, config):
        if finding.outcome == "fail" and finding.area == "s3":
            return {"ticket_queue": "storage-security"}  # joins the finding's evidence

    def pytest_ams_iam_audit_write_reports(document, out_dir, config):
        path = out_dir / "failures.csv"
        path.write_text("".join(f"{f['rule_id']},{f['resource']}\\n" for f in document["findings"]
                                if f["outcome"] == "fail"))
        return [path]

``pytest_ams_iam_audit_register(config)`` adds rule areas and scopes (see its spec below).

The finding and writer hooks run in the process that writes the results (the xdist controller, never a worker), so each
finding is seen exactly once. Neither can change a verdict: a finding's rule, resource, outcome,
severity and message are the rule's alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..findings import Finding

__all__ = ["pytest_ams_iam_audit_finding", "pytest_ams_iam_audit_register", "pytest_ams_iam_audit_write_reports"]


@pytest.hookspec
def pytest_ams_iam_audit_register(config: pytest.Config) -> None:
    """Register rule areas and scopes, before any rule is collected: call
    ``ams_iam_audit.register_area(name, description)`` and
    ``ams_iam_audit.register_scope(name, description, provide)`` (see ``rule.register_area`` and
    ``scopes.register_scope``). Implement it in a ``conftest.py`` beside the rule files (pytest loads
    the conftest of a directory given on the command line before configuring) or in a plugin. What
    a run registers is forgotten when it ends.
    """


@pytest.hookspec
def pytest_ams_iam_audit_finding(finding: Finding, config: pytest.Config) -> Mapping[str, Any] | None:
    """Observe or enrich ``finding`` before it is filed (after waivers and the baseline have
    classified it, before ``--fix`` and the reports see it).

    Return ``None`` to leave it as it is, or a mapping of evidence items to add to it (each value
    JSON-able; they are masked like all evidence). A key the finding's evidence already holds is an
    error: an implementation adds to the rule's evidence, it never rewrites it. Every
    implementation is called; their additions are merged in the order pluggy calls them.
    """


@pytest.hookspec
def pytest_ams_iam_audit_write_reports(
    document: Mapping[str, Any], out_dir: Path, config: pytest.Config
) -> list[Path] | None:
    """Write outputs rendered from ``document``, the findings document just written to
    ``out_dir / "findings.json"`` (read back from that file, so it is exactly what the file holds:
    see ``data/findings.schema.json``). Return the paths written, shown in the run's summary.

    The built-in HTML report, Markdown summary and SARIF file are themselves an implementation of
    this hook (``ams_iam_audit.report.BuiltinReports``). Raise
    :class:`ams_iam_audit.jsonio.OutputError` with the path to report an output that could not be
    written: the run then ends as a usage error naming it, and ``findings.json`` stays written.
    """
