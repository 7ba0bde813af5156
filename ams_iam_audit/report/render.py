"""Rendering a findings document into the auditor's HTML report and the CI Markdown summary, with
Jinja2 templates from ``reports/`` (shipped as ``ams_iam_audit.reports``).

The HTML report is one file with no network request of any kind: its Content-Security-Policy allows
only the inline stylesheet and script, by their sha256, and nothing else (no fetch, image, font or
frame). Every value from the findings is escaped by autoescape; the Markdown summary escapes HTML and
table syntax itself (GitHub renders HTML inside Markdown).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup

from ..jsonio import CONTROL_CHARACTERS as _CONTROL
from .view import EMPTY_FACTS, EVIDENCE_LIMIT, OUTCOMES, SEVERITIES, build_view

__all__ = ["MARKDOWN_LIMIT", "html_chunks", "page_css", "render_html", "render_markdown"]

#: Failing findings listed in the Markdown summary (GitHub caps a step summary at 1 MiB).
MARKDOWN_LIMIT = 200
_COLOURS = {"critical": "#7a0019", "high": "#c0392b", "medium": "#d35400", "low": "#8a6d00", "info": "#2f6690"}


def _asset(name: str) -> str:
    return files("ams_iam_audit.reports").joinpath(name).read_text(encoding="utf-8")


@cache
def _environment(autoescape: bool) -> jinja2.Environment:
    loader = jinja2.FunctionLoader(lambda name: _asset(name))
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _markdown_cell
    env.filters["md_code"] = _markdown_code
    return env


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


#: Markdown that could be live in a value: emphasis, links and images (``[``, ``]``, ``!``), headings,
#: strikethrough, and GitHub's autolinks and mentions (``www.``, ``http:``, ``a@b``); each is
#: backslash-escaped, which renders as the character itself.
_MARKDOWN_ACTIVE = re.compile(r"([\\*_\[\]!~#:@.{}])")


def _markdown_cell(value: Any) -> str:
    """A value as inert Markdown text: HTML escaped, Markdown syntax escaped, on one line."""
    text = _MARKDOWN_ACTIVE.sub(r"\\\1", _plain(value))
    for raw, safe in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|")):
        text = text.replace(raw, safe)
    return " ".join(text.split())


def _markdown_code(value: Any) -> str:
    """A value inside a code span (where nothing is live and no escape works but ``\\|`` in a table):
    no backtick can close the span, on one line."""
    return " ".join(_plain(value).replace("|", "\\|").split())


def _plain(value: Any) -> str:
    """Control characters (terminal escapes, bidirectional overrides) never reach a viewer."""
    return _CONTROL.sub("\ufffd", "" if value is None else str(value)).replace("`", "'")


#: What may appear inside a CSS string of the print header: anything else becomes "?", so a value
#: from the findings can neither end the string nor the stylesheet.
_CSS_SAFE = re.compile(r"[^A-Za-z0-9 ,.:_/@+-]")


def _css_string(value: Any) -> str:
    return '"' + _CSS_SAFE.sub("?", _plain(value))[:80] + '"'


def page_css(document: Mapping[str, Any]) -> str:
    """The printed page's running header and footer (CSS page-margin boxes, which Chromium prints):
    the account and the audit's date on every page, and "page x of y"."""
    run = document.get("run") or {}
    accounts = len(run.get("accounts") or ())  # an organization's merged report
    subject = f"{accounts} accounts" if accounts else f"account {run.get('account_id', 'unknown')}"
    account = _css_string(f"IAM compliance report, {subject}")
    date = _css_string(f"audited {str(run.get('collected_at') or run.get('started_at') or '')[:10]}")
    tool = _css_string(f"ams-iam-audit {run.get('tool_version', '')}")
    box = "font: 9px system-ui, sans-serif; color: #5b6670;"
    return (
        "@page { size: auto; margin: 12mm 9mm 11mm 9mm; "
        f"@top-left {{ content: {account}; {box} }} "
        f"@top-right {{ content: {date}; {box} }} "
        f"@bottom-left {{ content: {tool}; {box} }} "
        f'@bottom-right {{ content: "page " counter(page) " of " counter(pages); {box} }} }}'
    )


def render_html(document: Mapping[str, Any]) -> str:
    """The auditor's HTML report, whole (the report writes it as a stream: :func:`html_chunks`)."""
    return "".join(html_chunks(document))


def html_chunks(document: Mapping[str, Any]) -> Iterator[str]:
    """The auditor's HTML report in the pieces Jinja renders, in order: the whole page never exists
    as one string (30 MB at the maximum quotas)."""
    css, js, page = _asset("report.css"), _asset("report.js"), page_css(document)
    for name, body, closing in (("report.css", css, "</style"), ("report.js", js, "</script")):
        if closing in body.lower():
            raise ValueError(f"{name} must not contain {closing}>")
    csp = (
        f"default-src 'none'; style-src {_sha256(css)} {_sha256(page)}; script-src {_sha256(js)}; "
        "base-uri 'none'; form-action 'none'"
    )
    return (
        _environment(True)
        .get_template("compliance.html.j2")
        .generate(
            view=build_view(document),
            css=Markup(css),
            page_css=Markup(page),
            js=Markup(js),
            csp=csp,
            outcomes=OUTCOMES,
            severities=SEVERITIES,
            colours=_COLOURS,
            limit=EVIDENCE_LIMIT,
            empty_values=EMPTY_FACTS,
        )
    )


def render_markdown(document: Mapping[str, Any]) -> str:
    return (
        _environment(False)
        .get_template("summary.md.j2")
        .render(view=build_view(document, with_evidence=False), outcomes=OUTCOMES, limit=MARKDOWN_LIMIT)
    )
