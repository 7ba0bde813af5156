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
from markupsafe import Markup, escape

from ..jsonio import CONTROL_CHARACTERS as _CONTROL
from .view import EMPTY_FACTS, EVIDENCE_LIMIT, OUTCOMES, SEVERITIES, FindingView, build_view

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
            finding_row=FindingRows(),
        )
    )


def render_markdown(document: Mapping[str, Any]) -> str:
    return (
        _environment(False)
        .get_template("summary.md.j2")
        .render(view=build_view(document, with_evidence=False), outcomes=OUTCOMES, limit=MARKDOWN_LIMIT)
    )


#: A finding's field the findings file did not hold: Jinja's ``Undefined`` (written as nothing,
#: false, unequal to everything), as the template read such a field.
_MISSING: Any = jinja2.Undefined()


class FindingRows:
    """Each finding's row of the report's findings tables, made as one string in Python: the markup
    ``reports/compliance.html.j2`` had inside its ``{% for f in rule.findings %}`` loop, byte for
    byte, every value escaped as autoescape escapes it (``markupsafe.escape``). Rendering the 25,000
    failing findings of the maximum quotas through Jinja's expressions took 1.8 s, a third of the
    report phase (bench/README.md, round 4); ``tests/test_report_html.py`` renders findings of every
    kind through the loop's original template text and through this, and compares them.

    Called by the template, one instance per report: the evidence facts (the same few thousand
    (name, value) pairs across tens of thousands of findings) are escaped once each."""

    __slots__ = ("_environment", "_facts")

    def __init__(self) -> None:
        self._facts: dict[tuple[str, str, str], str] = {}
        self._environment = _environment(True)

    def __call__(self, rule_id: str, f: FindingView) -> Markup:
        data = f.data
        get = data.get
        severity, outcome = get("severity", _MISSING), get("outcome", _MISSING)
        resource, message, baseline = get("resource", _MISSING), get("message", _MISSING), get("baseline", _MISSING)
        rule = _escaped(rule_id)
        sev, out = _escaped(severity), _escaped(outcome)
        text = f"{_soft(resource)} {_soft(message)} {_soft(rule_id)}".lower()
        parts = [
            f'<tr class="finding" data-rule="{rule}" data-severity="{sev}" data-outcome="{out}" data-text="'
            f'{_escaped(text)}">\n<td><code>{_escaped(resource)}</code></td>\n<td data-sort="'
            f'{OUTCOMES.index(outcome)}"><span class="out out-{out}">{out}</span>'
        ]
        if baseline:
            parts.append(f' <span class="muted">({_escaped(baseline)})</span>')
        parts.append(
            f'</td>\n<td data-sort="{SEVERITIES.index(severity)}"><span class="sev sev-{sev}">{sev}</span></td>\n'
            f"<td>{_escaped(message)}"
        )
        waiver = get("waiver", _MISSING)
        if waiver:
            at = self._environment.getattr
            parts.append(
                f"<p><strong>Waiver ({_escaped(at(waiver, 'status'))}):</strong> "
                f"{_escaped(at(waiver, 'justification'))}, owner {_escaped(at(waiver, 'owner'))}, "
                f"expires {_escaped(at(waiver, 'expires'))}</p>"
            )
        ev = f.evidence
        if ev:
            if ev.fix:
                parts.append(self._fix(ev.fix, ev.fix_kind))
            if ev.statements or ev.facts or ev.diff or ev.actions:
                parts.append(self._evidence(f, resource))
        parts.append("</td>\n</tr>")
        return Markup("".join(parts))

    def _fix(self, fix: Any, kind: str | None) -> str:
        at = self._environment.getattr
        parts = ["<details><summary>", "what --fix did" if kind == "done" else "what --fix would do", "</summary>"]
        if at(fix, "reason"):
            parts.append(f"<p>{_escaped(at(fix, 'reason'))}</p>")
        if at(fix, "not_fixable"):
            parts.append(f"<p>Not fixable automatically: {_escaped(at(fix, 'not_fixable'))}</p>")
        calls = at(fix, "changes") or at(fix, "calls") or []
        if calls:
            parts.append("<ol>" + "".join(f"<li><code>{_escaped(c)}</code></li>" for c in calls) + "</ol>")
        parts.append("\n</details>")
        return "".join(parts)

    def _evidence(self, f: FindingView, resource: Any) -> str:
        ev = f.evidence
        assert ev is not None
        parts = ['<details class="evidence"><summary>evidence</summary>']
        same = f.same_evidence_as
        if same:
            parts.append(
                '<p class="muted repeat-note">The offending statements'
                + (" and the suggested replacement" if ev.diff else "")
                + f" are the same as for <code>{_escaped(same)}</code>.</p>"
            )
        parts.append('\n<div class="repeat">' if same else '\n<div class="">')
        if ev.statements:
            parts.append('<p class="muted">offending statements, offending parts marked</p>')
        for heading, body in ev.statements:
            parts.append(
                f'<pre class="statement"><span class="muted">{_escaped(heading)}:</span> {_escaped(body)}</pre>'
            )
        if ev.diff:
            parts.append(
                f'<p class="muted">{_escaped(ev.diff_title)} (unified diff: <del>- removed</del>, <ins>+ added</ins>)'
                f'</p><pre class="diff">{_escaped(ev.diff)}</pre>'
            )
        parts.append("\n</div>")
        if ev.facts:
            parts.append('<dl class="facts">')
            repeated = f.repeated_facts
            memo = self._facts
            for name, value in ev.facts:
                if value != resource:
                    hide = "empty" if value in EMPTY_FACTS else "repeat" if name in repeated else ""
                    html = memo.get((name, value, hide))
                    if html is None:
                        attribute = f' class="{hide}"' if hide else ""
                        html = memo[(name, value, hide)] = (
                            f"<dt{attribute}>{_escaped(name)}</dt><dd{attribute}>{_escaped(value)}</dd>"
                        )
                    parts.append(html)
            parts.append("</dl>")
            if repeated:
                names = ", ".join(sorted(repeated, key=_lower))
                parts.append(
                    f'<p class="muted printonly">{len(repeated)} more evidence item(s) as for <code>'
                    f"{_escaped(f.facts_as)}</code>: {_escaped(names)}</p>"
                )
        for listed in ev.actions:
            parts.append(
                f'<details class="full actions"><summary>{_escaped(listed.where)}: {_escaped(listed.summary)} (all '
                f'{len(listed.actions)} listed)</summary><p class="action-list">{_escaped(", ".join(listed.actions))}'
                "</p></details>"
            )
        parts.append("\n</details>")
        return "".join(parts)


def _escaped(value: Any) -> str:
    """What ``{{ value }}`` writes under autoescape."""
    return str(escape(value))


def _soft(value: Any) -> str:
    """What ``~`` makes of ``value`` (Jinja's ``soft_str``)."""
    return value if isinstance(value, str) else str(value)


def _lower(name: str) -> str:
    """The ``sort`` filter's key: case left out."""
    return name.lower() if isinstance(name, str) else name
