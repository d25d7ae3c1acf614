"""The Redactor: mask, hash and drop modes, overlap resolution, policy errors, the salt file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tunelab.errors import UsageError
from tunelab.privacy import Finding, RedactionPolicy, Redactor, load_salt, parse_types
from tunelab.privacy.findings import resolve_overlaps

TEXT = "Mail a.b@example.com, card 4111 1111 1111 1111, again a.b@example.com."


def test_mask_replaces_only_the_chosen_types_and_reports_original_offsets() -> None:
    redacted = Redactor(RedactionPolicy(types=("email",))).redact(TEXT)
    assert redacted.text == "Mail [EMAIL], card 4111 1111 1111 1111, again [EMAIL]."
    assert [(f.type, TEXT[f.start:f.end], f.detector) for f in redacted.findings] == [
        ("email", "a.b@example.com", "email_pattern"), ("email", "a.b@example.com", "email_pattern")]


def test_hash_is_stable_per_value_and_salt() -> None:
    one = Redactor(RedactionPolicy(types=("email", "card"), mode="hash"), salt=b"s" * 32).scrub(TEXT)
    again = Redactor(RedactionPolicy(types=("email", "card"), mode="hash"), salt=b"s" * 32).scrub(TEXT)
    other = Redactor(RedactionPolicy(types=("email", "card"), mode="hash"), salt=b"t" * 32).scrub(TEXT)
    tags = one.replace(",", " ").replace(".", " ").split()
    emails = [t for t in tags if t.startswith("[EMAIL:")]
    assert one == again and one != other
    assert len(emails) == 2 and emails[0] == emails[1] and len(emails[0]) == len("[EMAIL:12345678]")
    assert "4111" not in one and "example.com" not in one


def test_hash_mode_refuses_to_run_without_a_salt() -> None:
    with pytest.raises(UsageError, match="salt"):
        Redactor(RedactionPolicy(types=("email",), mode="hash"))


def test_drop_removes_values_without_double_spaces() -> None:
    text = "write to a.b@example.com now"
    assert Redactor(RedactionPolicy(types=("email",), mode="drop")).scrub(text) == "write to now"


def test_overlaps_keep_the_longest_then_the_surest() -> None:
    short, long_ = Finding("phone", 5, 15, 0.7, "a"), Finding("card", 3, 22, 0.95, "b")
    tie_low, tie_high = Finding("card", 30, 48, 0.95, "c"), Finding("national_id", 30, 48, 0.99, "d")
    assert resolve_overlaps([short, long_, tie_low, tie_high]) == [long_, tie_high]


def test_chinese_id_that_is_also_luhn_valid_is_an_id() -> None:
    text = "身份证11010519491231002X"
    redacted = Redactor(RedactionPolicy(types=("card", "national_id"))).redact(text)
    assert redacted.text == "身份证[NATIONAL_ID]"


def test_policy_errors_name_the_problem() -> None:
    with pytest.raises(UsageError, match="'emali'"):
        parse_types("email,emali")
    with pytest.raises(UsageError, match="mode"):
        RedactionPolicy(types=("email",), mode="blur")
    with pytest.raises(UsageError, match="NER model"):
        Redactor(RedactionPolicy(types=("email", "person")))
    assert parse_types("all")[-1] == "location"


def test_no_types_is_off() -> None:
    redactor = Redactor(RedactionPolicy())
    assert not redactor.active and redactor.scrub(TEXT) == TEXT


def test_salt_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "home" / "privacy-salt"
    first = load_salt(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) == 64
    assert load_salt(path) == first


def test_spans_move_onto_the_redacted_text() -> None:
    from tunelab.privacy.redactor import redact_output

    text = "mail a.b@example.com to Alice in Paris"
    redacted = Redactor(RedactionPolicy(types=("email",))).redact(text)
    assert redacted.text == "mail [EMAIL] to Alice in Paris"
    output = {"spans": [{"start": 24, "end": 29, "label": "PER", "text": "Alice", "score": 0.9},
                        {"start": 5, "end": 8, "label": "ORG", "text": "a.b", "score": 0.5}]}
    stored = redact_output(output, redacted)
    assert stored["spans"] == [{"start": 16, "end": 21, "label": "PER", "text": "Alice", "score": 0.9},
                               {"start": 5, "end": 12, "label": "ORG", "text": "[EMAIL]", "score": 0.5}]
    assert output["spans"][0]["start"] == 24  # the answer itself is not changed
    dropped = Redactor(RedactionPolicy(types=("email",), mode="drop")).redact(text)
    assert dropped.text == "mail to Alice in Paris" and dropped.move_span(24, 29) == (8, 13)
    assert redact_output({"label": "x"}, redacted) == {"label": "x"}


def test_hash_tags_one_value_written_two_ways_alike() -> None:
    redactor = Redactor(RedactionPolicy(types=("email", "card"), mode="hash"), salt=b"s" * 32)
    one = redactor.scrub("A.B@Example.com 4111 1111 1111 1111")
    two = redactor.scrub("a.b@example.com 4111-1111-1111-1111")
    assert one == two and one.count("[") == 2
