"""The report phase's fast paths (issue 12) say exactly what the slow ones said: masking by runs and
memo against the one masking expression, findings.json through orjson and back, bytes written a
mebibyte at a time, and ``jsonable``'s exact-type shortcuts against its general path."""

from __future__ import annotations

import json
from collections import OrderedDict
from enum import StrEnum
from pathlib import Path

import pytest

from ams_iam_audit import jsonio
from ams_iam_audit.jsonio import InputError, encode_json, jsonable, loads_written, scrub, write_text_atomic

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
