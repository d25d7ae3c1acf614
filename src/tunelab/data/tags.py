"""NER tag schemes (IOB1, IOB2, BIOES, BMES): detection, checks, normalisation to IOB2, and word splitting."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

SCHEMES = ("iob1", "iob2", "bioes", "bmes")
SCHEME_ALIASES = {"bio": "iob2", "iob": "iob2", "iobes": "bioes", "bilou": "bioes", "bmeso": "bmes", "bmoes": "bmes"}
TAG_PATTERN = re.compile(r"^([BIEMS])-(\S+)$")
INSIDE = {"bioes": "I", "bmes": "M"}  # the inside prefix of the schemes with an end tag
ALLOWED = {"bioes": "BIES", "bmes": "BMES"}  # prefixes per scheme; IOB1 and IOB2 allow B and I
WORD_SPLITS = ("words", "chars")  # how a text is cut into words: tokenize_words, or every character alone
CJK_RANGES = (
    (0x1100, 0x11FF), (0x2E80, 0x2FDF), (0x3040, 0x30FF), (0x3130, 0x318F), (0x31F0, 0x31FF),
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F), (0x1B000, 0x1B16F), (0x20000, 0x2FA1F), (0x30000, 0x323AF),
)


def resolve_scheme(name: str) -> str | None:
    """'auto', 'iob1', 'iob2', 'bioes' or 'bmes' for a configured scheme name (aliases such as 'bio' accepted)."""
    key = name.strip().lower()
    key = SCHEME_ALIASES.get(key, key)
    return key if key in SCHEMES or key == "auto" else None


def parse_tag(tag: str) -> tuple[str, str] | None:
    """(prefix, type) of a tag; ("O", "") for O; None when malformed."""
    if tag == "O":
        return "O", ""
    match = TAG_PATTERN.match(tag)
    return (match.group(1), match.group(2)) if match else None


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """'bmes' if any M- tag, else 'bioes' if any E-/S- tag, 'iob1' if any entity starts with I-, else 'iob2'."""
    scheme = "iob2"
    for tags in sequences:
        previous = ("O", "")
        for tag in tags:
            parsed = parse_tag(tag) or ("O", "")
            if parsed[0] == "M":
                return "bmes"
            if parsed[0] in ("E", "S"):
                scheme = "bioes"
            elif parsed[0] == "I" and scheme != "bioes" and (previous[0] == "O" or previous[1] != parsed[1]):
                scheme = "iob1"
            previous = parsed
    return scheme


def normalise_tags(tags: Sequence[str], scheme: str) -> tuple[str, ...]:
    """The tags in IOB2: IOB1 entity-initial I-X becomes B-X; BIOES and BMES S-X -> B-X, E-X and M-X -> I-X."""
    out: list[str] = []
    previous = ("O", "")
    for tag in tags:
        parsed = parse_tag(tag)
        if parsed is None:
            out.append(tag)
            previous = ("O", "")
            continue
        prefix, kind = parsed
        if scheme in INSIDE and prefix in ("S", "E", "M"):
            prefix = "B" if prefix == "S" else "I"
        elif scheme == "iob1" and prefix == "I" and (previous[0] == "O" or previous[1] != kind):
            prefix = "B"
        out.append("O" if prefix == "O" else f"{prefix}-{kind}")
        previous = (prefix, kind)
    return tuple(out)


def describe_previous(tags: Sequence[str], index: int) -> str:
    """'O', 'B-LOC' or 'the sentence start' for the tag before position `index`."""
    return "the sentence start" if index == 0 else tags[index - 1]


def check_malformed(tags: Sequence[str], scheme: str) -> list[str]:
    """Tags that are not O or PREFIX-TYPE, or use a prefix the scheme does not have."""
    allowed = ALLOWED.get(scheme, "BI")
    messages = []
    for i, tag in enumerate(tags, start=1):
        parsed = parse_tag(tag)
        if parsed is None:
            messages.append(f"{tag!r} at token {i} is not a tag (expected O or B-/I-/M-/E-/S- followed by a type)")
        elif parsed[0] != "O" and parsed[0] not in allowed:
            fits = "bmes" if parsed[0] == "M" else "bioes"
            messages.append(f"{tag} at token {i} is not allowed in {scheme.upper()} (use --tag-scheme {fits})")
    return messages


def check_iob2(tags: Sequence[str]) -> list[str]:
    """I-X tags that do not continue a B-X or I-X."""
    messages = []
    for i, tag in enumerate(tags):
        parsed = parse_tag(tag)
        if parsed is None or parsed[0] != "I":
            continue
        before = parse_tag(tags[i - 1]) if i else None
        if before is None or before[0] not in ("B", "I") or before[1] != parsed[1]:
            messages.append(f"{tag} at token {i + 1} follows {describe_previous(tags, i)}; "
                            "in IOB2 an entity starts with B-")
    return messages


def bioes_message(tags: Sequence[str], i: int, scheme: str = "bioes") -> str | None:
    """What is wrong at position i of a BIOES (or BMES: M in place of I) sequence, if anything."""
    parsed = parse_tag(tags[i])
    if parsed is None or parsed[0] in ("O", "S"):
        return None
    prefix, kind = parsed
    inside, name = INSIDE[scheme], scheme.upper()
    before = parse_tag(tags[i - 1]) if i else None
    after = parse_tag(tags[i + 1]) if i + 1 < len(tags) else None
    if prefix in (inside, "E") and (before is None or before[0] not in ("B", inside) or before[1] != kind):
        return (f"{tags[i]} at token {i + 1} follows {describe_previous(tags, i)}; "
                f"in {name} {prefix}-{kind} continues a B-{kind} or {inside}-{kind}")
    if prefix in ("B", inside) and (after is None or after[0] not in (inside, "E") or after[1] != kind):
        following = "the sentence end" if after is None else tags[i + 1]
        return (f"{tags[i]} at token {i + 1} is followed by {following}; in {name} it must be followed by "
                f"{inside}-{kind} or E-{kind} (a one-word entity is S-{kind})")
    return None


def check_tags(tags: Sequence[str], scheme: str) -> list[str]:
    """Messages describing malformed tags and impossible sequences under `scheme`."""
    messages = check_malformed(tags, scheme)
    if messages:
        return messages
    if scheme == "iob2":
        return check_iob2(tags)
    if scheme in INSIDE:
        return [m for i in range(len(tags)) if (m := bioes_message(tags, i, scheme)) is not None]
    return []


def spans_from_tags(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of IOB2 tags as (type, first word, end word exclusive), strict like seqeval's IOB2 mode.

    An entity is B-X followed by I-X*; a stray I-X (after O or another type) starts nothing."""
    spans: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None
    for i, tag in enumerate(tags):
        parsed = parse_tag(tag) or ("O", "")
        if current is not None and (parsed[0] != "I" or parsed[1] != current[0]):
            spans.append((current[0], current[1], i))
            current = None
        if parsed[0] == "B":
            current = (parsed[1], i)
    if current is not None:
        spans.append((current[0], current[1], len(tags)))
    return spans


def is_cjk(char: str) -> bool:
    """True for CJK ideographs, kana and hangul (each one is a word of its own)."""
    code = ord(char)
    return any(low <= code <= high for low, high in CJK_RANGES)


def is_word_char(char: str) -> bool:
    """Letters, digits, combining marks and underscore continue a word."""
    return char == "_" or unicodedata.category(char)[0] in "LNM"


def is_separator(char: str) -> bool:
    """Whitespace and invisible format characters (zero-width space, BOM) separate words."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def tokenize_words(text: str) -> list[tuple[str, int, int]]:
    """Words with [start, end) offsets: letter/digit runs, each punctuation and each CJK character alone."""
    words: list[tuple[str, int, int]] = []
    start: int | None = None
    for i, char in enumerate(text):
        joins = is_word_char(char) and not is_cjk(char)
        if start is not None and not joins:
            words.append((text[start:i], start, i))
            start = None
        if joins:
            start = i if start is None else start
        elif not is_separator(char):
            words.append((char, i, i + 1))
    if start is not None:
        words.append((text[start:], start, len(text)))
    return words


def tokenize_chars(text: str) -> list[tuple[str, int, int]]:
    """Every character but whitespace and invisible format characters alone, with its [start, end) offsets."""
    return [(char, i, i + 1) for i, char in enumerate(text) if not is_separator(char)]


def split_words(text: str, mode: str) -> list[tuple[str, int, int]]:
    """The words of `text` cut the way training data was: 'chars' (one character each) or 'words'."""
    return tokenize_chars(text) if mode == "chars" else tokenize_words(text)


def is_char_level(sentences: Iterable[Sequence[str]]) -> bool:
    """True when every word of every sentence is one character and some are CJK (a character-level file)."""
    seen_cjk = False
    for tokens in sentences:
        for token in tokens:
            if len(token) != 1:
                return False
            seen_cjk = seen_cjk or is_cjk(token)
    return seen_cjk
