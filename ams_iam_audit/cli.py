"""``ams-iam-audit``: what is not an audit (the audit itself is ``pytest --aws-account …``).

* ``ams-iam-audit undo JOURNAL --aws-account ID [--aws-profile …]`` replays a ``--fix`` journal
  backwards against the account it was written for, and journals the undo itself;
* ``ams-iam-audit fix-policy`` prints the least-privilege IAM policy for running ``--fix``;
* ``ams-iam-audit read-policy`` prints the read-only policy the audit itself needs, and
  ``ams-iam-audit audit-role --github-repo OWNER/REPO`` a CloudFormation template of a role with it
  that a GitHub Actions workflow assumes through OIDC (see ``audit_role``);
* ``ams-iam-audit report findings.json [--out DIR]`` renders the HTML report, the Markdown summary
  and SARIF again from a findings file, offline (no AWS call);
* ``ams-iam-audit merge A.json B.json … --out DIR`` merges the findings files of separate runs (a CI
  matrix, one job per account) into one organization's findings.json, HTML, Markdown and SARIF.

Exit status: 0 done, 1 some undo calls failed (``merge``: the merged accounts have failing findings,
or a run did not complete), 2 bad input (the message names it), 4 wrong account.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .audit_role import audit_role_template, member_role_template, read_policy
from .aws import AccountMismatchError, AwsAccessError, AwsTarget, is_account_id, open_session
from .findings.schema import SchemaError, validate_findings
from .jsonio import FINDINGS_MAX_DEPTH, InputError, OutputError, read_json, terminal_safe
from .remediate.journal import JournalError, read_journal, undo
from .remediate.permissions import fix_policy
from .report import render_outputs
from .report.merge import MergeError, merge_files
from .report.organization import organization_view

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ams-iam-audit", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    back = commands.add_parser("undo", help="undo the changes a --fix journal records, newest first")
    back.add_argument("journal", type=Path)
    back.add_argument("--aws-account", required=True, help="the account the journal was written for (12 digits)")
    back.add_argument("--aws-profile")
    back.add_argument("--aws-role-arn", help="assume this role first")
    back.add_argument("--aws-endpoint-url")
    back.add_argument("--aws-region", default=None)
    back.add_argument("--undo-journal", type=Path, help="where to journal the undo (default: beside the journal)")
    commands.add_parser("fix-policy", help="print the least-privilege IAM policy for running --fix")
    commands.add_parser("read-policy", help="print the read-only IAM policy the audit needs")
    role = commands.add_parser(
        "audit-role",
        help="print a CloudFormation template: a read-only audit role for GitHub Actions (OIDC), or for "
        "each account a run of several audits (--trusted-account)",
    )
    whom = role.add_mutually_exclusive_group(required=True)
    whom.add_argument("--github-repo", metavar="OWNER/REPO", help="the repository whose workflows may assume it")
    whom.add_argument(
        "--trusted-account",
        metavar="ID",
        help="the role for every audited account, assumed only by the audit role of account ID "
        "(the account the audit runs from; pass --aws-org-role ams-iam-audit-readonly)",
    )
    role.add_argument(
        "--reach-accounts",
        action="store_true",
        help="with --github-repo: the role may also list the organization's accounts and assume the audit role "
        "in each (--aws-org, --aws-accounts)",
    )
    trusted = role.add_mutually_exclusive_group()
    trusted.add_argument("--branch", metavar="NAME", help="trust workflows on this branch (default: main)")
    trusted.add_argument("--environment", metavar="NAME", help="trust jobs of this deployment environment instead")
    render = commands.add_parser("report", help="render HTML, Markdown and SARIF from a findings.json, offline")
    render.add_argument("findings", type=Path)
    render.add_argument("--out", type=Path, help="where to write them (default: beside the findings file)")
    merge = commands.add_parser(
        "merge", help="merge the findings.json files of separate runs (one per account) into one report"
    )
    merge.add_argument("findings", type=Path, nargs="+", metavar="FINDINGS.json", help="one run's findings per account")
    merge.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where to write findings.json, HTML, Markdown, SARIF"
    )
    return parser


def _merge(args: argparse.Namespace) -> int:
    command = shlex.join(["ams-iam-audit", "merge", *map(str, args.findings), "--out", str(args.out)])
    try:
        result = merge_files(args.findings, args.out, command)
    except (MergeError, OutputError) as exc:
        _error(str(exc))
        return 2
    for path in result.written:
        print(terminal_safe(f"written: {path}"))
    organization = organization_view(result.document)
    for row in organization.rows if organization else ():  # worst first, as in the reports
        counts = ", ".join(f"{n} {s}" for s, n in row.by_severity.items() if n) or "none"
        print(terminal_safe(f"  {row.account_id}: failing {counts}; {row.verdict}"))
    accounts = len(result.document["accounts"])
    incomplete = f"; incomplete runs: {', '.join(result.incomplete)}" if result.incomplete else ""
    print(
        terminal_safe(
            f"ams-iam-audit merge: {accounts} accounts, {result.failing} failing finding(s){incomplete}: "
            f"{args.out / 'report.html'}"
        )
    )
    return 1 if result.failing or result.incomplete else 0


def _report(args: argparse.Namespace) -> int:
    try:
        document = read_json(args.findings, max_depth=FINDINGS_MAX_DEPTH)
    except InputError as exc:
        _error(str(exc))
        return 2
    try:
        validate_findings(document)
    except SchemaError as exc:
        _error(f"{args.findings}: {exc}")
        return 2
    try:
        written = render_outputs(document, args.out or args.findings.parent, step_summary=False)
    except OutputError as exc:
        _error(str(exc))
        return 2
    for path in written:
        print(terminal_safe(f"written: {path}"))
    return 0


def _error(message: str) -> None:
    print(terminal_safe(message), file=sys.stderr)


def _undo(args: argparse.Namespace) -> int:
    if args.aws_account == "demo":
        _error(
            "--aws-account demo: the demo account is created afresh on every run: a demo --fix leaves nothing to undo"
        )
        return 2
    if not is_account_id(args.aws_account):
        print(f"--aws-account: {args.aws_account!r} is not a 12-digit account id", file=sys.stderr)
        return 2
    try:
        read_journal(args.journal)  # a bad journal is reported before any AWS call
        target = AwsTarget(
            account_id=args.aws_account,
            regions=(args.aws_region,) if args.aws_region else (),
            profile=args.aws_profile,
            role_arn=args.aws_role_arn,
            endpoint_url=args.aws_endpoint_url,
        )
        clients, _ = open_session(target)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        log = args.undo_journal or args.journal.with_name(f"{args.journal.stem}.undo-{stamp}.jsonl")
        report = undo(args.journal, clients, args.aws_account, log)
    except JournalError as exc:
        _error(f"journal: {exc}")
        return 2
    except AccountMismatchError as exc:
        _error(str(exc).replace("nothing was audited", "nothing was undone"))
        return 4
    except AwsAccessError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        _error(f"{exc.filename or args.undo_journal or args.journal}: cannot write the undo journal: {exc.strerror}")
        return 2
    for title, lines in (
        ("undone", report.undone),
        ("already as before", report.already),
        ("cannot be undone", report.irreversible),
        ("FAILED", report.failed),
    ):
        if lines:
            print(f"{title} ({len(lines)}):")
            for line in lines:
                print(terminal_safe(f"  {line}"))
    print(f"undo journaled in {log}")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fix-policy":
        print(json.dumps(fix_policy(), indent=2))
        return 0
    if args.command == "read-policy":
        print(json.dumps(read_policy(), indent=2))
        return 0
    if args.command == "audit-role":
        branch = None if args.environment else (args.branch or "main")
        try:
            if args.trusted_account is not None:
                if args.branch or args.environment or args.reach_accounts:
                    raise ValueError("--branch, --environment and --reach-accounts apply to --github-repo only")
                template = member_role_template(args.trusted_account)
            else:
                template = audit_role_template(
                    args.github_repo, branch=branch, environment=args.environment, reach_accounts=args.reach_accounts
                )
        except ValueError as exc:
            _error(str(exc))
            return 2
        print(json.dumps(template, indent=2))
        return 0
    if args.command == "report":
        return _report(args)
    if args.command == "merge":
        return _merge(args)
    return _undo(args)


if __name__ == "__main__":
    raise SystemExit(main())
