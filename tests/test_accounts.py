"""The accounts a run audits: accounts files (text and YAML) and an organization's accounts.

Organizations is read from a real moto server; what moto cannot answer (a caller refused
``ListAccounts``) is answered by botocore's own short-circuit of a call (a ``before-call`` handler, as
its ``Stubber`` does), on the session the function is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import Account

from ams_iam_audit.accounts import (
    DEFAULT_ORG_ROLE,
    AccountTarget,
    OrganizationError,
    organization_accounts,
    read_accounts_file,
)
from ams_iam_audit.jsonio import InputError

A, B, C = "111111111111", "222222222222", "012345678901"


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_text_file_one_id_a_line_with_comments(tmp_path: Path) -> None:
    path = _file(tmp_path, "accounts.txt", f"# production\n{A}\n\n  {B}   # acquired\n{C}\n")
    targets = read_accounts_file(path, role_name="AuditRole")
    assert targets == (
        AccountTarget(A, "AuditRole", (), f"{path}:2"),
        AccountTarget(B, "AuditRole", (), f"{path}:4"),
        AccountTarget(C, "AuditRole", (), f"{path}:5"),
    )


def test_yaml_file_with_defaults_and_per_account_role_and_regions(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "accounts.yml",
        f"role: ams-iam-audit-readonly\nregions: [us-east-1]\naccounts:\n  - {A}\n"
        f"  - id: '{B}'\n    role: Other\n    regions: [eu-west-1, eu-central-1, eu-west-1]\n"
        f"  - id: {C}\n    name: leading zero kept\n",
    )
    assert read_accounts_file(path) == (
        AccountTarget(A, "ams-iam-audit-readonly", ("us-east-1",), f"{path}:4"),
        AccountTarget(B, "Other", ("eu-west-1", "eu-central-1"), f"{path}:5"),
        AccountTarget(C, "ams-iam-audit-readonly", ("us-east-1",), f"{path}:8"),
    )


def test_yaml_without_defaults_uses_the_role_given(tmp_path: Path) -> None:
    path = _file(tmp_path, "a.yaml", f"accounts: ['{A}']\n")
    assert read_accounts_file(path) == (AccountTarget(A, DEFAULT_ORG_ROLE, (), f"{path}:1"),)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.txt", f"{A}\n12345\n", r"a.txt:2: '12345' is not an account id"),
        ("a.txt", f"{A} {B}\n", r"a.txt:1: .* is not an account id \(12 digits, one a line\)"),
        ("a.txt", f"{A}\n# {B}\n{A}\n", rf"a.txt:3: account {A} is already named at .*a.txt:1"),
        ("a.txt", "# nothing\n\n", r"a.txt: names no account"),
        ("a.yml", "", r"a.yml: names no account"),
        ("a.yml", f"- {A}\n", r"a.yml:1: expected a mapping with a list named 'accounts'"),
        ("a.yml", f"acounts: [{A}]\n", r"a.yml:1: unknown key 'acounts'"),
        ("a.yml", "role: x\n", r"a.yml:1: no list named 'accounts'"),
        ("a.yml", f"accounts: {A}\n", r"a.yml:1: 'accounts' must be a list"),
        ("a.yml", "accounts:\n  - id: '1234'\n", r"a.yml:2: '1234' is not an account id"),
        ("a.yml", "accounts:\n  - role: x\n", r"a.yml:2: the account has no 'id'"),
        ("a.yml", f"accounts:\n  - id: '{A}'\n    role: 'no spaces allowed'\n", r"a.yml:3: .* is not a role name"),
        ("a.yml", f"accounts:\n  - id: '{A}'\n    regions: [us-east-1, mars-1]\n", r"a.yml:3: 'mars-1' is not"),
        ("a.yml", f"accounts:\n  - id: '{A}'\n    regions: []\n", r"a.yml:3: 'regions' must be a region or a list"),
        ("a.yml", f"accounts:\n  - id: '{A}'\n    id: '{B}'\n", r"a.yml:3: 'id' given twice"),
        ("a.yml", f"accounts:\n  - [{A}]\n", r"a.yml:2: an account is an id or a mapping"),
        ("a.yml", "accounts: [\n", r"a.yml(:\d+)?: not valid YAML"),
        ("a.yml", f"x: &a '{A}'\naccounts: [*a]\n", r"a.yml:1: not valid YAML: anchors and aliases"),
    ],
)
def test_bad_accounts_files_name_the_line_and_the_problem(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = _file(tmp_path, name, text)
    with pytest.raises(InputError, match=r"^--aws-accounts .*" + message):
        read_accounts_file(path)


def test_unreadable_and_utf16_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--aws-accounts .*missing.txt: cannot read"):
        read_accounts_file(tmp_path / "missing.txt")
    path = tmp_path / "ps.txt"
    path.write_bytes(f"{A}\n".encode("utf-16"))
    with pytest.raises(InputError, match=r"ps.txt: the file is UTF-16"):
        read_accounts_file(path)


def _organization(aws: Account) -> tuple[str, str, str]:
    org = aws.client("organizations")
    organization_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    member = org.create_account(Email="ml@example.com", AccountName="ml")["CreateAccountStatus"]["AccountId"]
    closed = org.create_account(Email="old@example.com", AccountName="old")["CreateAccountStatus"]["AccountId"]
    org.close_account(AccountId=closed)
    return organization_id, member, closed


def test_organization_lists_active_accounts_and_says_what_it_left_out(aws: Account) -> None:
    organization_id, member, closed = _organization(aws)
    listed = organization_accounts(boto3.Session(region_name="eu-west-1"), role_name="Audit", endpoint_url=aws.url)
    caller = boto3.client("sts", endpoint_url=aws.url).get_caller_identity()["Account"]
    assert listed.organization_id == organization_id
    origin = f"organization {organization_id}"
    assert set(listed.targets) == {AccountTarget(caller, None, (), origin), AccountTarget(member, "Audit", (), origin)}
    assert listed.left_out == ((closed, "old", "SUSPENDED"),)
    assert listed.summary == f"{origin}: 2 active accounts to audit; 1 left out (1 suspended: {closed})"


def test_a_caller_in_no_organization_is_told_so(aws: Account) -> None:
    with pytest.raises(OrganizationError, match=r"--aws-org: account \d{12} is not in an AWS Organization"):
        organization_accounts(boto3.Session(region_name="us-east-1"), endpoint_url=aws.url)


def test_a_caller_refused_listing_is_told_where_to_run_from(aws: Account) -> None:
    _organization(aws)
    session = boto3.Session(region_name="us-east-1")

    def refuse(**_: Any) -> tuple[Any, dict[str, Any]]:
        error = {"Code": "AccessDeniedException", "Message": "You don't have permissions to access this resource."}
        return _Response(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    # a before-call handler may answer in the call's place; the stubs type handlers as returning None
    session.events.register("before-call.organizations.ListAccounts", refuse)  # type: ignore[arg-type]
    with pytest.raises(OrganizationError, match=r"ListAccounts was refused .*management account or a delegated"):
        organization_accounts(session, endpoint_url=aws.url)


class _Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}
        self.content = b""


def test_the_example_accounts_file_reads() -> None:
    path = Path(__file__).parent.parent / "examples" / "accounts.yml"
    targets = read_accounts_file(path)
    assert [(t.account_id, t.role_name, t.regions) for t in targets] == [
        ("111111111111", "ams-iam-audit-readonly", ("us-east-1",)),
        ("222222222222", "ams-iam-audit-readonly", ("us-east-1",)),
        ("333333333333", "SecurityAudit", ("eu-west-1", "eu-central-1")),
    ]


def test_only_known_inactive_states_are_left_out(aws: Account) -> None:
    """Suspended, closing and closed accounts are left out and named; an account in a state this
    tool does not know is audited (failing closed), not dropped."""
    _organization(aws)
    session = boto3.Session(region_name="us-east-1")
    accounts = [
        {"Id": A, "Name": "a", "State": "ACTIVE"},
        {"Id": B, "Name": "b", "State": "PENDING_CLOSURE"},
        {"Id": C, "Name": "c", "State": "SOME_FUTURE_STATE"},
        {"Id": "333333333333", "Name": "d", "Status": "SUSPENDED"},
    ]

    def answer(**_: Any) -> tuple[Any, dict[str, Any]]:
        return _Response(200), {"Accounts": accounts, "ResponseMetadata": {"HTTPStatusCode": 200}}

    session.events.register("before-call.organizations.ListAccounts", answer)  # type: ignore[arg-type]
    listed = organization_accounts(session, endpoint_url=aws.url)
    assert [t.account_id for t in listed.targets] == [C, A]
    assert listed.left_out == ((B, "b", "PENDING_CLOSURE"), ("333333333333", "d", "SUSPENDED"))


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.txt", "\u0661" * 12 + "\n", r"is not an account id"),  # Arabic-Indic digits: \d would take them
        ("a.yml", f"accounts:\n  - id: '{A}'\n    role: rôle\n", r"is not a role name"),
    ],
)
def test_only_ascii_ids_and_role_names(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_accounts_file(_file(tmp_path, name, text))
