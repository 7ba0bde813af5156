"""The report phase's fast paths (issue 12) say exactly what the slow ones said: masking by runs and
memo against the one masking expression, findings.json through orjson and back, bytes written a
mebibyte at a time, and ``jsonable``'s exact-type shortcuts against its general path; and (round 3)
every output written as a stream has the bytes the whole-document encoders and renderers make."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from ams_iam_audit import jsonio
from ams_iam_audit.findings import Finding, Outcome, findings_document
from ams_iam_audit.jsonio import (
    FINDINGS_MAX_DEPTH,
    InputError,
    encode_json,
    encode_json_stream,
    jsonable,
    loads_written,
    scrub,
    scrub_stream,
    write_text_atomic,
)
from ams_iam_audit.report import render_outputs, view, write_findings
from ams_iam_audit.report.render import render_html, render_markdown
from ams_iam_audit.report.sarif import sarif_document

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # 40 characters of base64, mixed case and digits


def _reference(text: str) -> str:
    """What scrub masked before the run scan and the memo: the one expression over the whole text."""
    return text if len(text) < 20 else jsonio._SENSITIVE.sub(jsonio._mask, text)


@pytest.mark.parametrize(
    "text",
    [
        f"key {KEY} in a sentence",
        f"{KEY}",
        f"x{KEY}",  # a lowercase letter before: still a key id (the look-behind is [A-Z0-9])
        f"X{KEY}",  # an upper-case letter before: not a key id
        f"{KEY}A",  # one more character after: not a key id
        f"secret={SECRET}",
        f"{SECRET}=",  # padding after 40 characters: not a secret access key
        f"{SECRET}x",  # 41 characters: neither
        f"/{SECRET}/",
        "A" * 40,  # 40 characters, but not random: kept
        "a1B2" * 30,  # a long base64 run: a session token
        "a1B2" * 30 + "==",
        f"{KEY}{SECRET}",
        f"arn:aws:iam::123456789012:user/{KEY}",
        "temporaryaccessAImodelsharePolicy00000000000000000000000000000000",
        "é" * 30 + KEY + "ü",
        "short",
    ],
)
def test_scrub_masks_exactly_what_the_one_expression_masks(text: str) -> None:
    assert scrub(text) == _reference(text)
    assert scrub(text) == _reference(text)  # the second time from the memo


def test_scrub_of_a_whole_report_is_not_remembered_and_masks_the_same() -> None:
    text = ("<td>" + KEY + "</td><td>" + SECRET + "</td>\n") * 200
    assert len(text) > jsonio._SCRUB_MEMO_LENGTH
    assert scrub(text) == _reference(text)
    assert KEY not in scrub(text)
    assert text not in jsonio._scrubbed


def test_the_scrub_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "_SCRUB_MEMO_SIZE", 3)
    monkeypatch.setattr(jsonio, "_scrubbed", {})
    for i in range(10):
        assert scrub(f"policy/application-policy-{i:04d}") == f"policy/application-policy-{i:04d}"
    assert len(jsonio._scrubbed) <= 3


def test_findings_json_is_indented_sorted_utf8_and_parses_back() -> None:
    body = {"b": [1, {"z": None, "a": "é"}], "a": True}
    encoded = encode_json(body)
    lines = ["{", '  "a": true,', '  "b": [', "    1,", "    {", '      "a": "é",', '      "z": null']
    lines += ["    }", "  ]", "}"]
    assert encoded == ("\n".join(lines) + "\n").encode("utf-8")
    assert loads_written(encoded, "findings.json") == json.loads(encoded) == body
    assert encode_json({"b": 1, "a": 2}, sort_keys=False).startswith(b'{\n  "b"')


def test_what_cannot_be_encoded_or_read_back_is_named() -> None:
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        encode_json({"when": object()})
    deep: object = "x"
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InputError, match=r"findings\.json: nested more than 30 levels"):
        loads_written(encode_json(deep), "findings.json", max_depth=30)
    with pytest.raises(InputError, match=r"findings\.json: not JSON"):
        loads_written(b'{"a": ', "findings.json")


def test_bytes_are_written_whole_even_where_a_character_spans_two_pieces(tmp_path: Path) -> None:
    text = "a" * ((1 << 20) - 1) + "é" + "ü" * 10 + "\n"  # "é" starts on the last byte of the first mebibyte
    write_text_atomic(tmp_path / "f.json", text.encode("utf-8"))
    assert (tmp_path / "f.json").read_text(encoding="utf-8") == text


class _Colour(StrEnum):
    RED = "red"


def test_jsonable_shortcuts_say_what_the_general_path_says() -> None:
    value = {
        "s": f"key {KEY}",
        "n": None,
        "i": 3,
        "f": 1.5,
        "b": False,
        "l": [KEY, {"k": (1, 2)}],
        7: "a non-string key",
        "ordered": OrderedDict([("b", 1), ("a", KEY)]),
        "enum": _Colour.RED,
        "set": {"b", "a"},
    }
    assert jsonable(value) == {
        "s": f"key {jsonio.mask_key_id(KEY)}",
        "n": None,
        "i": 3,
        "f": 1.5,
        "b": False,
        "l": [jsonio.mask_key_id(KEY), {"k": [1, 2]}],
        "7": "a non-string key",
        "ordered": {"b": 1, "a": jsonio.mask_key_id(KEY)},
        "enum": "red",
        "set": ["a", "b"],
    }


# --- the report phase as a stream (issue 12, round 3) ---------------------------------------------


def _generated_findings(count: int, seed: int = 12) -> list[Finding]:
    """Findings of every outcome with what the encoder must keep: non-ASCII text, key ids and
    secrets to mask (in resources, messages, evidence keys and values), unsorted and empty
    containers, tuples, nesting, waivers and baseline states."""
    rng = random.Random(seed)
    outcomes = list(Outcome)
    out = []
    for i in range(count):
        rule = f"AMS-GEN-{rng.randrange(12):03d}"
        evidence: dict[str, Any] = {
            "zeta": [rng.randrange(100), {"b": "é" * rng.randrange(3), "a": []}],
            "alpha": {} if i % 3 else {"nested": {"deeper": [KEY, (1, "ü")]}},
            f"policy {KEY}" if i % 7 == 0 else "policy": {"Statement": [{"Action": "s3:*", "Resource": "*"}]},
            "secret": SECRET if i % 5 == 0 else "none",
            "unicode": '\u2028 Zürich \U0001f600 "quoted" \\ back',
        }
        out.append(
            Finding(
                rule_id=rule,
                title=f"title of {rule} — ✓",
                severity=rng.choice(["critical", "high", "medium", "low", "info"]),
                area="iam",
                outcome=rng.choice(outcomes),
                resource=f"role/r-{i:05d}" + (f"-{KEY}" if i % 11 == 0 else ""),
                resource_arn=None if i % 4 == 0 else f"arn:aws:iam::123456789012:role/r-{i:05d}",
                message=f"message {i} naïve" + (f" {SECRET}" if i % 13 == 0 else ""),
                remediation="do the thing",
                evidence=evidence,
                nodeid=f"rules/test_gen.py::test_gen[role/r-{i:05d}]",
                waiver={"status": "active", "justification": "ok", "owner": "me", "expires": "2027-01-01"}
                if i % 17 == 0
                else None,
                baseline=rng.choice([None, "new", "unchanged"]),
            )
        )
    return out


_RULES = [
    {"id": f"AMS-GEN-{n:03d}", "title": f"rule {n}", "severity": "high", "area": "iam", "controls": {}}
    for n in range(12)
]
_META = {"account_id": "123456789012", "command_line": f"pytest --note {KEY}", "complete": True, "ü": "é"}
_COVERAGE = [{"section": "iam", "readable": True, "source": "GAAD", "error": None, "missing_permission": None}]


@pytest.mark.parametrize("count", [0, 1, 400])
def test_findings_json_written_as_a_stream_has_the_bytes_of_the_whole_document(count: int, tmp_path: Path) -> None:
    findings = _generated_findings(count)
    extra = {"baseline": {"new": 1, "findings": [KEY]}, "waivers": []}
    expected = encode_json(findings_document(findings, _RULES, _META, _COVERAGE, extra))
    document = write_findings(tmp_path / "findings.json", reversed(findings), _RULES, _META, _COVERAGE, extra)
    written = (tmp_path / "findings.json").read_bytes()
    assert written == expected
    assert KEY not in written.decode("utf-8")
    assert SECRET not in written.decode("utf-8")
    # what the reports are rendered from is what the file holds, keys in its order
    assert document == json.loads(written)
    assert [list(f) for f in document["findings"]] == [list(f) for f in json.loads(written)["findings"]]
    # each repeated value held once (a rule's title, an evidence string), not once per finding
    for values in (
        [f["title"] for f in document["findings"]],
        [f["evidence"]["unicode"] for f in document["findings"]],
    ):
        assert len({id(v) for v in values}) == len(set(values))


def test_a_finding_that_cannot_be_read_back_leaves_the_old_file(tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(FINDINGS_MAX_DEPTH):
        deep = [deep]
    (finding,) = _generated_findings(1)
    path = tmp_path / "findings.json"
    path.write_text("the previous run's findings")
    with pytest.raises(InputError, match=r"findings\.json: nested more than"):
        write_findings(path, [dataclasses.replace(finding, evidence={"deep": deep})], _RULES, _META, _COVERAGE)
    assert path.read_text() == "the previous run's findings"
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]  # no temporary file left


def test_the_stream_encoder_matches_the_whole_encoder_at_any_depth() -> None:
    items = [{"b": [], "a": {"x": [1, {}]}}, "é", [], {}]
    for body, path, sort_keys in (
        ({"z": 1, "list": [], "a": [{"list": []}]}, ("list",), True),
        (
            {"runs": [{"tool": {"rules": [1]}, "results": [], "after": "x"}], "$schema": "s"},
            ("runs", "", "results"),
            False,
        ),
    ):
        for n in range(len(items) + 1):
            whole = json.loads(json.dumps(body))
            target = whole
            for key in path[:-1]:
                target = target[0] if key == "" else target[key]
            target[path[-1]] = items[:n]
            chunks = [encode_json(i, sort_keys=sort_keys, newline=False) for i in items[:n]]
            streamed = b"".join(encode_json_stream(body, path, chunks, sort_keys=sort_keys))
            assert streamed == encode_json(whole, sort_keys=sort_keys)
    with pytest.raises(ValueError, match="no single empty list at missing"):
        list(encode_json_stream({"a": []}, ("missing",), []))


_STREAM_TEXT = (
    f"<td>{KEY}</td> secret={SECRET} token {'a1B2' * 30}== name {'A' * 40} é ü "
    f"arn:aws:iam::123456789012:user/{KEY}/x {KEY}{SECRET} end\n"
)


def test_scrub_over_a_stream_masks_a_key_split_across_two_pieces() -> None:
    expected = _reference(_STREAM_TEXT)
    assert jsonio.mask_key_id(KEY) in expected
    assert expected.count(jsonio.SECRET_MASK) == 2  # the free-standing secret and the token
    for cut in range(len(_STREAM_TEXT) + 1):  # every split, keys and secrets cut in two included
        pieces = [_STREAM_TEXT[:cut], _STREAM_TEXT[cut:]]
        assert "".join(scrub_stream(pieces, size=1)) == expected, cut


def test_scrub_over_a_stream_masks_what_scrub_of_the_whole_masks() -> None:
    rng = random.Random(3)
    text = _STREAM_TEXT * 50 + "b64" * 5000 + "\n" + _STREAM_TEXT  # a 15,000-character run held back whole
    for size in (1, 7, 64, 1 << 16):
        pieces, at = [], 0
        while at < len(text):
            step = rng.randrange(1, 40)
            pieces.append(text[at : at + step])
            at += step
        out = list(scrub_stream(pieces, size=size))
        assert "".join(out) == _reference(text)
        if size == 64:
            assert len(out) > 10  # yielded as it goes, not held to the end


def test_scrub_of_utf8_pieces_masks_what_the_one_expression_masks_in_random_text() -> None:
    """The stream's masking finds its runs in the UTF-8 bytes (``jsonio._scrub_utf8``): on text of
    run characters, key ids, secrets, non-ASCII characters and separators mixed at random, it masks
    what the one expression masks over the whole text, remembered runs included (a second pass)."""
    rng = random.Random(5)
    words = [KEY, SECRET, "a1B2" * 30, "A" * 40, "é", "ü€", "\U0001f600", " ", "\n", "<", "=", "/", "+", "x",
             "Zz9", "ASIA", "0123456789" * 3, "\u2028", "&quot;"]  # fmt: skip
    for _ in range(300):
        text = "".join(rng.choice(words) for _ in range(rng.randrange(1, 60)))
        expected = _reference(text)
        for _ in range(2):
            assert jsonio._scrub_utf8(text) == expected.encode("utf-8"), text
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        assert b"".join(jsonio.scrub_stream_utf8(pieces, size=16)) == expected.encode("utf-8"), text


def test_reports_rendered_as_streams_are_what_the_whole_renderers_make(tmp_path: Path) -> None:
    document = write_findings(tmp_path / "findings.json", _generated_findings(150), _RULES, _META, _COVERAGE)
    document["findings"][0]["message"] = f"raw {KEY} from a findings file made elsewhere"  # `report` command
    render_outputs(document, tmp_path, step_summary=False)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html == scrub(render_html(document))
    assert KEY not in html
    assert jsonio.mask_key_id(KEY) in html
    sarif = (tmp_path / "results.sarif").read_text(encoding="utf-8")
    assert sarif == scrub(encode_json(sarif_document(document), sort_keys=False).decode("utf-8"))
    assert KEY not in sarif
    assert (tmp_path / "summary.md").read_text(encoding="utf-8") == scrub(render_markdown(document))


def test_a_failing_stream_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text("old")

    def pieces() -> Iterator[str]:
        yield "new, half"
        raise RuntimeError("the template failed")

    with pytest.raises(RuntimeError, match="the template failed"):
        write_text_atomic(path, pieces())
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    mixed: list[str | bytes] = ["é", "ü".encode(), "\n"]
    write_text_atomic(path, iter(mixed))  # text and bytes pieces mixed
    assert path.read_text(encoding="utf-8") == "éü\n"


def _statement_evidence(i: int) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": ["s3:*", "s3:GetObject"], "Resource": f"arn:aws:s3:::b{i % 3}/*"}
    evidence: dict[str, Any] = {
        "statements": [{"statement_index": 0, "statement": statement, "actions": ["s3:GetObject"] if i % 2 else []}],
        "policy": f"policy/p-{i}",
    }
    if i % 4 == 0:
        evidence["suggested_document"] = {"Statement": [{**statement, "Action": ["s3:GetObject"]}]}
    if i % 5 == 0:
        evidence["before"], evidence["after"] = {"Statement": [statement]}, {"Statement": []}
    return evidence


def test_evidence_rendered_once_per_distinct_document_shows_what_each_finding_shows() -> None:
    audited = None
    shared = view._Rendered()
    evidences = [_statement_evidence(i) for i in range(60)]
    once = [view._evidence(e, audited, shared) for e in evidences]
    each = [view._evidence(e, audited) for e in evidences]  # a fresh rendering for every finding
    assert once == each
    assert len({v.statements for v in once}) == 6  # three buckets, marked two ways
    assert len({id(v.statements[0][1]) for v in once}) == 6  # one string per distinct statement
    assert sum(1 for v in once if v.diff_title == "what the fix changed") == 12
    assert sum(1 for v in once if v.diff_title == "the suggested replacement") == 12


_S3_ACTIONS = [f"s3:{a}" for a in ("GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketAcl",
                                   "PutBucketAcl", "GetBucketPolicy", "PutBucketPolicy", "CreateBucket")]  # fmt: skip


def _fact_evidence(i: int) -> dict[str, Any]:
    """Evidence items of every kind the facts make readable, repeating across findings by ``i``."""
    evidence: dict[str, Any] = {
        "actions": _S3_ACTIONS[: 9 - i % 2],  # a list summarised, or (8) listed
        "action_count": [9, 120, None][i % 3],  # the same list, said to be whole or the first of 120
        "granted": {"to": {"actions": _S3_ACTIONS, "since": "2026-01-02T03:04:05+00:00"}},
        "consumers": [{"kind": "lambda", "name": f"f{i % 2}", "arn": "arn:aws:lambda:::f", "region": None}],
        "keys": [{"id": "AKIA****", "status": "Active", "age_days": i % 3, "last_used": None}],
        "created": ["2026-01-02T03:04:05Z", "2025-12-30T00:00:00.5+00:00", "not a date"][i % 3],
        "odd": [float("nan"), None, float("inf"), 1, 1.0, True][i % 6],  # NaN is encoded as null
        "empty": [[], {}, "", None][i % 4],
        f"name {i % 4}": {"nested": [i % 2, {"deeper": "value"}]},
    }
    if i % 5 == 0:
        return {"kind": "role", "name": "r", "arn": "arn:aws:iam::1:role/r"}  # a consumer, in words
    if i % 7 == 0:
        return {"id": "AKIA****", "status": "Inactive", "age_days": 3}  # an access key, in words
    return evidence


def test_facts_made_once_per_distinct_item_are_what_each_finding_makes() -> None:
    shared = view._Rendered()
    evidences = [_fact_evidence(i) for i in range(90)]
    for audited in (None, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)):
        once = [view._evidence(e, audited, shared) for e in evidences]
        each = [view._evidence(e, audited) for e in evidences]
        assert once == each
        assert any(v.actions for v in once)
        assert any(v.facts == () for v in once)
    facts = {value for v in once for _, value in v.facts}
    assert {"NaN", "Infinity", "null", "1", "1.0", "true"} <= {f for f in facts if len(f) < 9}
    assert "2025-12-30 (60 days before the audit)" in facts  # against the last day given


def test_reports_written_with_the_collector_paused_and_restored() -> None:
    """``write_results`` pauses the cyclic collector while it writes (the outputs cannot differ:
    collection frees only unreachable objects) and leaves it as it found it, on error too."""
    import gc

    from ams_iam_audit.report import _collector_paused

    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collector_paused():
        raise RuntimeError("a writer failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the caller's choice kept
    finally:
        gc.enable()
