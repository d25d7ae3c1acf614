"""Read NER data: CoNLL column files and JSONL with character spans, into IOB2 TokenExamples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunelab.data.jsonlines import describe_type, iter_json_records
from tunelab.data.tags import (
    SCHEMES,
    check_tags,
    detect_scheme,
    is_char_level,
    normalise_tags,
    resolve_scheme,
    tokenize_words,
)
from tunelab.errors import DataProblem
from tunelab.types import Source, TokenExample

SPAN_KEYS = ("spans", "entities")


@dataclass
class RawSentence:
    """Words and tags of one CoNLL sentence as written, and the line of its first word."""

    line: int
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def join_words(tokens: tuple[str, ...], separator: str = " ") -> tuple[str, tuple[tuple[int, int], ...]]:
    """The words joined by `separator` (characters of a character-level file: by nothing), with each word's
    [start, end) in that text."""
    offsets, position = [], 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + len(separator)
    return separator.join(tokens), tuple(offsets)


def parse_conll_line(line: str, labeled: bool, path: str, number: int) -> tuple[tuple[str, str] | None,
                                                                               DataProblem | None]:
    """(token, tag) of one non-blank line, or a problem when a labelled line has no tag column."""
    columns = line.split()
    if len(columns) >= 2:
        return (columns[0], columns[-1]), None
    if labeled:
        message = "a line needs at least two columns: the word first and its NER tag last"
        return None, DataProblem(path, message, line=number)
    return (columns[0], "O"), None


def split_sentences(text: str, path: str, labeled: bool,
                    problems: list[DataProblem]) -> list[RawSentence]:
    """Sentences of a CoNLL text (blank lines separate them; -DOCSTART- lines skipped)."""
    sentences: list[RawSentence] = []
    current: RawSentence | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or line.split()[0] == "-DOCSTART-":
            if current is not None:
                sentences.append(current)
            current = None
            continue
        pair, problem = parse_conll_line(line, labeled, path, number)
        if problem is not None:
            problems.append(problem)
            continue
        current = current or RawSentence(number)
        current.tokens.append(pair[0])  # type: ignore[index]
        current.tags.append(pair[1])  # type: ignore[index]
    if current is not None:
        sentences.append(current)
    return sentences


def choose_scheme(sentences: list[RawSentence], scheme: str, path: str) -> tuple[str, DataProblem | None]:
    """The configured scheme, or the one detected over the whole file for 'auto' (or a bad name)."""
    resolved = resolve_scheme(scheme)
    if resolved in SCHEMES:
        return str(resolved), None
    detected = detect_scheme(s.tags for s in sentences)
    if resolved is None:
        message = f"unknown tag scheme {scheme!r}; use auto, iob1, iob2, bioes or bmes"
        return detected, DataProblem(path, message)
    return detected, None


def check_sentence(sentence: RawSentence, scheme: str, path: str) -> DataProblem | None:
    """A problem naming the sentence's first line when its tags are impossible under `scheme`."""
    messages = check_tags(sentence.tags, scheme)
    if not messages:
        return None
    shown = "; ".join(messages[:3]) + (f"; and {len(messages) - 3} more" if len(messages) > 3 else "")
    return DataProblem(path, f"impossible {scheme.upper()} tag sequence: {shown}", line=sentence.line)


def read_conll(text: str, path: str, scheme: str = "auto",
               labeled: bool = True) -> tuple[list[TokenExample], list[DataProblem]]:
    """TokenExamples (tags normalised to IOB2) and problems of a CoNLL text.

    A character-level file (one character per line, as Chinese NER data is written) gives texts without
    spaces between the characters and examples split "chars". Unlabelled reading (prediction) keeps the
    words only: tags are all O and never checked."""
    problems: list[DataProblem] = []
    sentences = split_sentences(text, path, labeled, problems)
    chosen, problem = choose_scheme(sentences, scheme, path) if labeled else ("iob2", None)
    if problem is not None:
        return [], problems + [problem]
    split = "chars" if is_char_level(s.tokens for s in sentences) else "words"
    examples: list[TokenExample] = []
    for sentence in sentences:
        problem = check_sentence(sentence, chosen, path) if labeled else None
        if problem is not None:
            problems.append(problem)
            continue
        tokens = tuple(sentence.tokens)
        joined, offsets = join_words(tokens, "" if split == "chars" else " ")
        tags = normalise_tags(sentence.tags, chosen) if labeled else ("O",) * len(tokens)
        examples.append(TokenExample(tokens, tags, joined, offsets, Source(path, sentence.line), split))
    return examples, problems


def find_spans(record: dict[str, Any], label_column: str) -> tuple[Any, str | None]:
    """The record's span list and the key it was under (label_column, 'spans' or 'entities')."""
    for key in (label_column, *SPAN_KEYS):
        if key in record:
            return record[key], key
    return None, None


def parse_span(raw: Any, length: int) -> tuple[tuple[int, int, str] | None, str | None]:
    """(start, end, label) of one span object (or [start, end, label] list), or why it is invalid."""
    if isinstance(raw, dict):
        start, end, label = raw.get("start"), raw.get("end"), raw.get("label")
    elif isinstance(raw, list) and len(raw) == 3:
        start, end, label = raw
    else:
        return None, f"must be an object with start, end and label, got {describe_type(raw)}"
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool) or isinstance(end, bool):
        return None, "start and end must be whole numbers"
    if not isinstance(label, str) or not label.strip():
        return None, "has no label"
    if not 0 <= start < end <= length:
        return None, f"[{start}, {end}) is out of range for a text of {length} characters"
    return (start, end, label.strip()), None


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def collect_spans(raw_spans: list[Any], text: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    """Valid trimmed spans sorted by start, and messages for invalid or overlapping ones."""
    spans: list[tuple[int, int, str, int]] = []
    messages: list[str] = []
    for number, raw in enumerate(raw_spans, start=1):
        span, reason = parse_span(raw, len(text))
        if reason is not None or span is None:
            messages.append(f"span {number} {reason}")
            continue
        start, end = trim_span(text, span[0], span[1])
        spans.append((start, end, span[2], number) if start < end else (span[0], span[1], span[2], number))
    spans.sort()
    for i, after in enumerate(spans[1:], start=1):
        before = max(spans[:i], key=lambda s: s[1])
        if after[0] < before[1]:
            messages.append(f"span {before[3]} [{before[0]}, {before[1]}) {before[2]} and span {after[3]} "
                            f"[{after[0]}, {after[1]}) {after[2]} overlap")
    return [(s, e, label) for s, e, label, _ in spans], messages


def tag_words(words: list[tuple[str, int, int]], spans: list[tuple[int, int, str]],
              text: str) -> tuple[list[str], list[str]]:
    """IOB2 tags for the words, and messages for spans not on word boundaries."""
    tags = ["O"] * len(words)
    starts = {s: i for i, (_, s, _) in enumerate(words)}
    ends = {e: i for i, (_, _, e) in enumerate(words)}
    messages = []
    for start, end, label in spans:
        if start not in starts or end not in ends:
            messages.append(f"span [{start}, {end}) {label} {text[start:end]!r} does not start and end "
                            "on word boundaries")
            continue
        first, last = starts[start], ends[end]
        tags[first] = f"B-{label}"
        for i in range(first + 1, last + 1):
            tags[i] = f"I-{label}"
    return tags, messages


def build_ner_example(record: dict[str, Any], text_key: str, label_key: str, labeled: bool,
                      source: Source) -> tuple[TokenExample | None, list[str]]:
    """One NER JSONL record as a TokenExample, or messages saying why it is not one."""
    text = record.get(text_key)
    if not isinstance(text, str):
        found = "missing" if text_key not in record else describe_type(text)
        return None, [f"text {text_key!r} must be a string, got {found}; pass --text-column NAME to pick one"]
    if not text.strip():
        return None, ["empty text"]
    raw_spans, key = find_spans(record, label_key)
    if raw_spans is None and labeled:
        return None, [f"no entity spans (expected a list under {label_key!r}, 'spans' or 'entities')"]
    if raw_spans is not None and not isinstance(raw_spans, list):
        return None, [f"{key!r} must be a list of spans, got {describe_type(raw_spans)}"]
    spans, messages = collect_spans(raw_spans or [], text)
    words = tokenize_words(text)
    tags, misaligned = tag_words(words, spans, text)
    if messages or misaligned:
        return None, messages + misaligned
    return TokenExample(tuple(w for w, _, _ in words), tuple(tags), text,
                        tuple((s, e) for _, s, e in words), source), []


def read_ner_jsonl(text: str, path: str, text_key: str = "text", label_key: str = "spans",
                   labeled: bool = True) -> tuple[list[TokenExample], list[DataProblem]]:
    """TokenExamples and problems of a JSONL file with character spans per text."""
    problems: list[DataProblem] = []
    examples: list[TokenExample] = []
    for line, record in iter_json_records(text, path, problems):
        example, messages = build_ner_example(record, text_key, label_key, labeled, Source(path, line))
        problems.extend(DataProblem(path, m, line=line) for m in messages)
        if example is not None:
            examples.append(example)
    return examples, problems
