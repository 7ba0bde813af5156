"""Hostile inputs and unlucky operators: nothing we are given crashes us, nothing we write leaks a
credential or injects into a terminal or a Markdown viewer, and the verdict says when it is incomplete.

Most cases audit a small GetAccountAuthorizationDetails file offline (fast, no AWS); what needs a
live endpoint uses the moto server, behind the loopback proxy where AWS must say something moto
does not."""

from __future__ import annotations

import errno
import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aws_proxy import Emulate, Request, proxy_to
from conftest import ACCOUNT, OTHER_ACCOUNT, Account, AuditResult, audit_at, run_audit

from ams_iam_audit import jsonio
from ams_iam_audit.cli import main as cli
from ams_iam_audit.findings.baseline import BaselineError, load_baseline
from ams_iam_audit.findings.waivers import WaiverError, load_waivers
from ams_iam_audit.inventory.snapshot import SnapshotError, load_snapshot
from ams_iam_audit.jsonio import InputError, read_json, scrub, terminal_safe
from ams_iam_audit.policy.document import PolicyParseError, decode_policy
from ams_iam_audit.remediate.journal import Journal, JournalError, read_journal
from ams_iam_audit.report.render import render_markdown

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
TEMP_KEY_ID = "ASIAJEXAMPLEXEG2JICEA"[:20]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6ESzqfRIOs6Ou0t9A4DpBVj5UbZ/u28kB1Sxh6wzq" * 2
TEMPORARY_POLICY = "temporaryaccessAImodelsharePolicy1"
OUTPUTS = ("findings.json", "report.html", "summary.md", "results.sarif")


# --- a small GetAccountAuthorizationDetails file ------------------------------------------------


def _user(name: str, *policy_arns: str) -> dict[str, Any]:
    return {
        "UserName": name,
        "UserId": "AIDA" + "X" * 17,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "Path": "/",
        "CreateDate": "2024-01-01T00:00:00Z",
        "UserPolicyList": [],
        "GroupList": [],
        "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[-1], "PolicyArn": a} for a in policy_arns],
        "Tags": [],
    }


def _policy(name: str, document: Any) -> dict[str, Any]:
    return {
        "PolicyName": name,
        "PolicyId": "ANPA" + "Y" * 17,
        "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "Path": "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "CreateDate": "2024-01-01T00:00:00Z",
        "UpdateDate": "2024-01-01T00:00:00Z",
        "PolicyVersionList": [
            {"Document": document, "VersionId": "v1", "IsDefaultVersion": True, "CreateDate": "2024-01-01T00:00:00Z"}
        ],
    }


def _gaad(users: Iterable[dict[str, Any]] = (), policies: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"UserDetailList": list(users), "GroupDetailList": [], "RoleDetailList": [], "Policies": list(policies)}


def _s3_everything(name: str = "s3-everything") -> dict[str, Any]:
    return _policy(
        name, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )


def _write_gaad(path: Path, **parts: Any) -> Path:
    path.write_text(json.dumps(_gaad(**parts)))
    return path


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"k": value}
    return value


def _outputs(result: AuditResult, *extra: str) -> dict[str, str]:
    texts = {name: (result.report_dir / name).read_text() for name in (*OUTPUTS, *extra)}
    texts["terminal"] = result.stdout + result.stderr
    return texts


# --- 1. files we are given: nesting and encodings -------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000
UTF16 = json.dumps({"UserDetailList": []}).encode("utf-16")
LATIN1 = '{"UserDetailList": [], "x": "caf\xe9"}'.encode("latin-1")
BAD_CONTENT = {"deep": DEEP.encode(), "utf-16": UTF16, "latin-1": LATIN1}
BAD_MESSAGE = {"deep": "nested more than", "utf-16": "UTF-16", "latin-1": "not UTF-8"}


@pytest.mark.parametrize("kind", sorted(BAD_CONTENT))
def test_the_one_reader_names_the_file_and_the_problem(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "in.json"
    path.write_bytes(BAD_CONTENT[kind])
    with pytest.raises(InputError, match=BAD_MESSAGE[kind]) as caught:
        read_json(path)
    assert str(path) in str(caught.value)


def test_nesting_limit_is_above_real_documents_and_below_the_interpreter() -> None:
    assert read_json_text(json.dumps(_nested(90))) == _nested(90)
    with pytest.raises(InputError, match="nested more than 100"):
        read_json_text(json.dumps(_nested(101)))
    # quoted brackets are text, not nesting: they neither add depth nor hide it
    assert read_json_text(json.dumps({"a": "[" * 500})) == {"a": "[" * 500}
    hiding = json.dumps(["]" * 400 + '\\"]', _nested(101), "[" * 400])
    with pytest.raises(InputError, match="nested more than 100"):
        read_json_text(hiding)
    started = time.perf_counter()
    with pytest.raises(InputError):
        read_json_text("[" * 1_000_000)
    assert time.perf_counter() - started < 5


def read_json_text(text: str) -> Any:
    return jsonio.loads_json(text, "text")


LOADERS: dict[str, tuple[str, Callable[[Path], object], type[Exception]]] = {
    "snapshot": ("snap.json", load_snapshot, SnapshotError),
    "baseline": ("findings.json", load_baseline, BaselineError),
    "journal": ("fix.jsonl", read_journal, JournalError),
    "waivers-toml": ("w.toml", load_waivers, WaiverError),
    "waivers-yaml": ("w.yaml", load_waivers, WaiverError),
}


@pytest.mark.parametrize("kind", sorted(BAD_CONTENT))
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_hostile_files_by_name(tmp_path: Path, loader: str, kind: str) -> None:
    name, load, error = LOADERS[loader]
    content = BAD_CONTENT[kind]
    if kind == "deep" and loader.startswith("waivers"):
        content = (b"waiver = " if loader == "waivers-toml" else b"waiver: ") + DEEP.encode()
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error) as caught:
        load(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("kind", sorted(BAD_CONTENT))
def test_the_audit_refuses_a_hostile_snapshot_or_baseline_with_exit_4(pytester: pytest.Pytester, kind: str) -> None:
    bad = pytester.path / "hostile.json"
    bad.write_bytes(BAD_CONTENT[kind])
    result = run_audit(pytester, "--snapshot", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{bad}:" in result.stderr
    assert BAD_MESSAGE[kind] in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    gaad = _write_gaad(pytester.path / "gaad.json", users=[_user("alice")])
    result = run_audit(pytester, "--snapshot", str(gaad), "--baseline", str(bad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--baseline {bad}:" in result.stderr
    assert BAD_MESSAGE[kind] in result.stderr


@pytest.mark.parametrize("kind", sorted(BAD_CONTENT))
def test_the_report_and_undo_commands_refuse_hostile_files(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "hostile.json"
    bad.write_bytes(BAD_CONTENT[kind])
    assert cli(["report", str(bad)]) == 2
    assert cli(["undo", str(bad), "--aws-account", ACCOUNT]) == 2
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 2
    assert BAD_MESSAGE[kind] in err


def test_a_policy_document_from_aws_is_nesting_limited() -> None:
    doc: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    doc["Statement"][0]["Condition"] = {"StringEquals": {"aws:x": _nested(500)}}
    with pytest.raises(PolicyParseError, match="policy x: nested more than 64"):
        decode_policy(json.dumps(doc), "policy x")


# --- 2. YAML alias bomb ---------------------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
        "waiver: *i",
    ]
)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    started = time.perf_counter()
    with pytest.raises(WaiverError, match=r"bomb.yaml:1: .*anchors and aliases"):
        load_waivers(path)
    assert time.perf_counter() - started < 1


# --- 3. what the rules accept, the reports render -------------------------------------------------


def test_a_deeply_nested_condition_is_refused_or_rendered_in_every_report(pytester: pytest.Pytester) -> None:
    """A condition nested 500 deep in a GAAD file is refused by name (exit 4, no traceback); one as
    deep as the policy parser allows (55 levels inside the 64 a document may nest) is judged, every
    output renders it, and ``report`` renders
    it again from findings.json."""
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}

    def document(depth: int) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [{**statement, "Condition": {"Null": _nested(depth)}}]}

    deep = _write_gaad(pytester.path / "deep.json", policies=[_policy("deep-condition", document(500))])
    refused = run_audit(pytester, "--snapshot", str(deep))
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{deep}: nested more than 100 levels deep" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr

    near = _write_gaad(pytester.path / "near.json", policies=[_policy("near-limit", document(55))])
    result = run_audit(pytester, "--snapshot", str(near), "-m", "s3 or privilege")
    assert result.document is not None, result.stdout + result.stderr
    assert result.ret == 1
    assert result.finding("AMS-S3-001", "policy/near-limit")["outcome"] in ("fail", "pass")
    for name in OUTPUTS:
        assert (result.report_dir / name).stat().st_size > 0, name
    assert "near-limit" in (result.report_dir / "report.html").read_text()
    assert cli(["report", str(result.report_dir / "findings.json"), "--out", str(pytester.path / "again")]) == 0


# --- 4. where the results go ----------------------------------------------------------------------


def _no_space(chunks_seen: list[str]) -> Callable[[Any, Iterable[str | bytes]], None]:
    """A disk that fills after the run started: the report-dir probe fits, nothing after it does."""

    def write(fh: Any, chunks: Iterable[str | bytes]) -> None:
        first = next(iter(chunks), b"")
        data = first.encode("utf-8") if isinstance(first, str) else first
        if data.startswith(b"probe"):
            fh.write(data)
            return
        chunks_seen.append(data[:40].decode("utf-8", "replace"))
        raise OSError(errno.ENOSPC, "No space left on device")

    return write


@pytest.mark.parametrize("where", ["file", "under-a-file", "read-only"])
def test_an_unusable_report_dir_is_a_usage_error_before_anything_is_read(
    pytester: pytest.Pytester, aws: Account, where: str
) -> None:
    blocker = pytester.path / "blocker"
    blocker.write_text("a file")
    target = {"file": blocker, "under-a-file": blocker / "reports", "read-only": Path("/proc/ams-iam-audit-report")}
    report_dir = target[where]
    with proxy_to(aws.url) as proxy:
        result = pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", "--aws-account", ACCOUNT, "--aws-endpoint-url", proxy.url,
            "--report-dir", str(report_dir),
        )  # fmt: skip
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--report-dir {report_dir}:" in result.stderr.str()
    assert proxy.requests == []  # nothing was read


def test_a_full_disk_at_the_end_is_an_error_naming_the_path(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    gaad = _write_gaad(pytester.path / "gaad.json", users=[_user("alice")])
    seen: list[str] = []
    monkeypatch.setattr(jsonio, "_write_chunks", _no_space(seen))
    result = run_audit(pytester, "--snapshot", str(gaad))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert seen, "the failing write was not reached"
    assert f"{result.report_dir / 'findings.json'}: cannot write: No space left on device" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not list(result.report_dir.glob(".findings.json.*"))  # no temporary file left behind


@pytest.mark.parametrize("where", ["directory", "read-only", "full"])
def test_an_unusable_save_snapshot_target_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    gaad = _write_gaad(pytester.path / "gaad.json", users=[_user("alice")])
    target = {
        "directory": pytester.path,
        "read-only": Path("/proc/ams-iam-audit/snap.json"),
        "full": pytester.path / "snap.json",
    }[where]
    if where == "full":
        monkeypatch.setattr(jsonio, "_write_chunks", _no_space([]))
    result = run_audit(pytester, "--snapshot", str(gaad), "--save-snapshot", str(target))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--save-snapshot {target}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.document is None


# --- 5. a baseline of another account or rule set -------------------------------------------------


@pytest.fixture
def baseline_run(pytester: pytest.Pytester) -> tuple[Path, AuditResult]:
    gaad = _write_gaad(
        pytester.path / "gaad.json",
        users=[_user("AI_MODELSHARE_2024_01_01_00_00_00")],
        policies=[_s3_everything()],
    )
    first = run_audit(pytester, "--snapshot", str(gaad), "-m", "users or s3")
    assert first.ret == 1
    assert first.document is not None
    return gaad, first


def test_a_baseline_of_another_account_is_refused(
    pytester: pytest.Pytester, baseline_run: tuple[Path, AuditResult]
) -> None:
    gaad, first = baseline_run
    foreign = json.loads((first.report_dir / "findings.json").read_text())
    foreign["run"]["account_id"] = OTHER_ACCOUNT
    path = pytester.path / "foreign.json"
    path.write_text(json.dumps(foreign))
    result = run_audit(pytester, "--snapshot", str(gaad), "-m", "users or s3", "--baseline", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--baseline {path}: the baseline is of account {OTHER_ACCOUNT}" in result.stderr
    assert f"this run audits account {ACCOUNT}" in result.stderr
    assert result.document is None
    # with --aws-account the refusal comes before anything is read
    result = run_audit(
        pytester, "--aws-account", ACCOUNT, "--aws-endpoint-url", "http://127.0.0.1:9", "--baseline", str(path)
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"the baseline is of account {OTHER_ACCOUNT}" in result.stderr


def test_a_baseline_of_another_rule_set_is_refused(
    pytester: pytest.Pytester, baseline_run: tuple[Path, AuditResult]
) -> None:
    gaad, first = baseline_run
    same = run_audit(
        pytester, "--snapshot", str(gaad), "-m", "users or s3", "--baseline", str(first.report_dir / "findings.json")
    )
    assert same.ret == 1  # the unreadable S3 section's error still fails it; no failure does
    assert {f["baseline"] for f in same.findings if f["outcome"] == "fail"} <= {"unchanged"}
    assert "xfailed" in same.counts_line
    older = json.loads((first.report_dir / "findings.json").read_text())
    changed = next(r for r in older["rules"] if r["id"] == "AMS-S3-001")
    changed["title"] = "an older wording of the rule"
    path = pytester.path / "older.json"
    path.write_text(json.dumps(older))
    result = run_audit(pytester, "--snapshot", str(gaad), "-m", "users or s3", "--baseline", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--baseline {path}: made with another rule set" in result.stderr
    assert older["run"]["ruleset_sha256"] in result.stderr
    assert "changed: AMS-S3-001" in result.stderr


# --- 6. an audit cut short is incomplete ----------------------------------------------------------


@pytest.mark.parametrize("stop", [["-x"], ["--maxfail", "1"]])
def test_a_run_stopped_early_is_incomplete_everywhere(pytester: pytest.Pytester, stop: list[str]) -> None:
    gaad = _write_gaad(
        pytester.path / "gaad.json",
        users=[_user(f"AI_MODELSHARE_2024_01_0{i}_00_00_00") for i in range(1, 4)],
        policies=[_s3_everything()],
    )
    result = run_audit(pytester, "--snapshot", str(gaad), *stop)
    run = result.document["run"] if result.document else {}
    assert run["complete"] is False
    assert "stopped early" in run["incomplete_reason"]
    texts = _outputs(result)
    assert "did not complete" in texts["report.html"]
    assert "did not complete" in texts["summary.md"]
    assert '"executionSuccessful": false' in texts["results.sarif"]
    assert "INCOMPLETE: stopped early" in texts["terminal"]
    full = run_audit(pytester, "--snapshot", str(gaad), "--maxfail", "100")
    assert full.document is not None
    assert full.document["run"]["complete"] is True


# --- 7. credentials quoted in error messages never leave the process ------------------------------


def _quoting_denial(message: str) -> Callable[[Request], tuple[int, str, bytes]]:
    body = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>AccessDenied</Code><Message>{message}</Message></Error>"
        "<RequestId>0</RequestId></ErrorResponse>"
    )
    return lambda request: (403, "text/xml", body.encode())


def test_key_ids_and_secrets_in_aws_errors_and_names_are_masked_in_every_output(
    pytester: pytest.Pytester, aws: Account
) -> None:
    # a user whose name is shaped like a key id fails AMS-USER-001: its name is in the failure text
    arn = aws.policy(TEMPORARY_POLICY, {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"})
    aws.iam.create_user(UserName=KEY_ID)
    aws.iam.attach_user_policy(UserName=KEY_ID, PolicyArn=arn)
    quoted = (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/audit/{TEMP_KEY_ID} is not authorized: "
        f"The Access Key with id {KEY_ID} cannot be found (secret {SECRET}, token {TOKEN})"
    )
    deny = Emulate(
        lambda r: any(f"Action={a}&" in r.body + "&" for a in ("GenerateCredentialReport", "ListAccessKeys")),
        _quoting_denial(quoted),
    )
    with proxy_to(aws.url, deny) as proxy:
        junit = pytester.path / "junit.xml"
        snapshot = pytester.path / "snapshot.json"
        result = audit_at(
            pytester, proxy.url, "-m", "users", "--junitxml", str(junit), "-rA", "--save-snapshot", str(snapshot)
        )
    assert result.ret == 1, result.stdout
    texts = _outputs(result)
    texts["junit"] = junit.read_text()
    texts["snapshot"] = snapshot.read_text()
    journal = pytester.path / "journal.jsonl"
    with Journal(journal, ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/audit/{KEY_ID}-{SECRET}"):
        pass
    texts["journal"] = journal.read_text()
    gap = next(c for c in result.written["coverage"] if not c["readable"])
    assert "AKIA************MPLE" in gap["error"]
    assert "AKIA************MPLE" in texts["junit"]  # the failure text names the (masked) user
    for where, text in texts.items():
        for secret in (KEY_ID, TEMP_KEY_ID, SECRET, TOKEN[:60]):
            assert secret not in text, f"{secret[:8]}… leaked into {where}"


def test_scrub_masks_every_credential_shape_and_spares_names_and_digests() -> None:
    text = f"{KEY_ID} {TEMP_KEY_ID} {SECRET} {TOKEN} " + "a" * 40 + " AIModelShareLambdaExecutionRoleForDeploy"
    masked = scrub(text + f" aws_secret_access_key={SECRET}")
    assert "AKIA************MPLE" in masked
    assert TEMP_KEY_ID not in masked
    assert SECRET not in masked
    assert TOKEN[:60] not in masked
    assert "a" * 40 in masked
    assert "AIModelShareLambdaExecutionRoleForDeploy" in masked


# --- 8. terminal escapes and live Markdown in names -----------------------------------------------

EVIL_POLICY = "[click](https://evil.example)"
EVIL_MESSAGE = "\x1b]8;;https://evil.example\x07owned\x1b]8;;\x07\x1b[2J\x9b31m\u202e"


def test_escape_sequences_never_reach_the_terminal_and_markdown_is_inert(pytester: pytest.Pytester) -> None:
    policy = _s3_everything(EVIL_POLICY)
    policy["PolicyVersionList"][0]["Document"]["Statement"][0]["Sid"] = EVIL_MESSAGE
    temporary = _policy(TEMPORARY_POLICY, {"Version": "2012-10-17", "Statement": []})
    user = _user("evil\x1b[31m![img](https://evil.example/x.png)", temporary["Arn"])
    gaad = _write_gaad(pytester.path / "gaad.json", users=[user], policies=[policy, temporary])
    waivers = pytester.path / "w.toml"
    waivers.write_text(
        '[[waiver]]\nrule = "AMS-USER-001"\nresource = "user/evil*"\n'
        'justification = "ok\\u001b]0;owned\\u0007\\u001b[2J"\nexpires = 2999-01-01\n'
    )
    result = run_audit(pytester, "--snapshot", str(gaad), "-m", "users or s3", "-rA", "--waivers", str(waivers))
    assert result.document is not None
    assert result.document["waivers"][0]["applied_to"] == 1
    terminal = result.stdout + result.stderr
    for control in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert control not in terminal, repr(control)
    summary = (result.report_dir / "summary.md").read_text()
    prose = re.sub(r"`[^`]*`", "", summary)  # nothing is live in a code span
    assert "](https" not in prose.replace("\\](https", "")
    assert "![" not in summary
    assert "\x1b" not in summary
    assert "\u202e" not in summary
    html = (result.report_dir / "report.html").read_text()
    assert "\x1b" not in html or "&#" in html  # autoescaped text; never live markup
    assert '<a href="https://evil' not in html


def test_terminal_safe_makes_every_control_character_visible() -> None:
    assert terminal_safe("a\x1b[31mb\x07c\rd\x9be\u202ef\tg\nh") == "a\\x1b[31mb\\x07c\\rd\\x9be\\u202ef\tg\nh"


def test_markdown_cells_escape_links_images_and_autolinks() -> None:
    document = {
        "run": {"account_id": ACCOUNT, "complete": True},
        "rules": [],
        "coverage": [],
        "findings": [
            {
                "rule_id": "AMS-S3-001",
                "title": "t",
                "severity": "high",
                "area": "s3",
                "outcome": "fail",
                "resource": "policy/`x`|y",
                "message": "see [here](https://evil.example) ![i](http://e/i.png) www.evil.example @team",
                "evidence": {},
            }
        ],
    }
    text = render_markdown(document)
    assert "\\[here\\](https\\://evil\\.example)" in text
    assert "\\!\\[i\\]" in text
    assert "www\\.evil\\.example" in text
    assert "\\@team" in text
    assert "`policy/'x'\\|y`" in text


# --- 9. waivers that do not fit the rules ---------------------------------------------------------


def _waiver_file(path: Path, *entries: tuple[str, str]) -> Path:
    path.write_text(
        "".join(
            f'[[waiver]]\nrule = "{rule}"\nresource = "{resource}"\njustification = "j"\nexpires = 2999-01-01\n\n'
            for rule, resource in entries
        )
    )
    return path


def test_a_waiver_for_an_unknown_rule_is_a_usage_error(pytester: pytest.Pytester) -> None:
    gaad = _write_gaad(pytester.path / "gaad.json", users=[_user("alice")])
    waivers = _waiver_file(pytester.path / "w.toml", ("AMS-USER-001", "user/x"), ("AMS-NOPE-001", "*"))
    result = run_audit(pytester, "--snapshot", str(gaad), "--waivers", str(waivers))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--waivers: {waivers}:7: rule AMS-NOPE-001 is not a rule of this run" in result.stderr
    assert result.document is None


def test_unused_and_match_everything_waivers_are_flagged(pytester: pytest.Pytester) -> None:
    gaad = _write_gaad(
        pytester.path / "gaad.json",
        users=[_user("AI_MODELSHARE_2024_01_01_00_00_00")],
        policies=[_s3_everything()],
    )
    waivers = _waiver_file(pytester.path / "w.toml", ("AMS-USER-001", "*"), ("AMS-S3-001", "policy/gone-long-ago"))
    result = run_audit(pytester, "--snapshot", str(gaad), "--waivers", str(waivers), "-m", "users or s3")
    assert result.document is not None
    broad, unused = result.document["waivers"]
    assert (broad["applied_to"], broad["matches_everything"], broad["unused"]) == (1, True, False)
    assert (unused["applied_to"], unused["matches_everything"], unused["unused"]) == (0, False, True)
    assert f"unused waiver: AMS-S3-001 policy/gone-long-ago ({waivers}:7) matches no failure" in result.stdout
    assert f"broad waiver: AMS-USER-001 * ({waivers}:1) waives every resource" in result.stdout
    html = (result.report_dir / "report.html").read_text()
    assert "unused: matches no failing finding" in html
    assert "broad: waives every resource of the rule" in html
    summary = (result.report_dir / "summary.md").read_text()
    assert "Waivers to review" in summary
    assert "gone-long-ago" in summary


def test_under_xdist_unfit_waivers_and_baselines_are_usage_errors_not_crashes(
    pytester: pytest.Pytester, baseline_run: tuple[Path, AuditResult]
) -> None:
    """The xdist controller collects nothing: an unknown waiver is found from the rule files' source
    before anything runs, a changed rule as the workers' rules arrive; neither is an INTERNALERROR."""
    gaad, first = baseline_run
    waivers = _waiver_file(pytester.path / "w.toml", ("AMS-NOPE-001", "*"))
    result = run_audit(pytester, "--snapshot", str(gaad), "-n", "2", "--waivers", str(waivers), subprocess=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{waivers}:1: rule AMS-NOPE-001 is not a rule of this run" in result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr
    older = json.loads((first.report_dir / "findings.json").read_text())
    next(r for r in older["rules"] if r["id"] == "AMS-USER-001")["severity"] = "low"
    path = pytester.path / "older.json"
    path.write_text(json.dumps(older))
    result = run_audit(pytester, "--snapshot", str(gaad), "-n", "2", "--baseline", str(path), subprocess=True)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "made with another rule set" in result.stdout + result.stderr
    assert "changed: AMS-USER-001" in result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr
