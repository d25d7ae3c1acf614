"""The redaction policy and the Redactor: find personal data of the chosen types and mask, hash or drop it.

    redactor = Redactor(RedactionPolicy(types=("email", "card"), mode="mask"))
    redactor.redact("card 4111 1111 1111 1111, mail a@b.io")  # Redacted(text="card [CARD], mail [EMAIL]", ...)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tunelab.errors import UsageError
from tunelab.privacy.contextual import find_address, find_date_of_birth
from tunelab.privacy.findings import NER_TYPES, PATTERN_TYPES, PII_TYPES, Finding, resolve_overlaps
from tunelab.privacy.patterns import find_card, find_email, find_iban, find_ip, find_national_id, find_phone

MODES = ("mask", "hash", "drop")
HASH_CHARS = 8  # hex characters of the salted SHA-256 kept in `[EMAIL:1a2b3c4d]`
FINDERS: dict[str, Callable[[str], list[Finding]]] = {
    "email": find_email, "phone": find_phone, "card": find_card, "iban": find_iban, "ip": find_ip,
    "national_id": find_national_id, "date_of_birth": find_date_of_birth, "address": find_address}


class Detector(Protocol):
    """Finds personal data of its `types` in texts (a batch at once: an NER model runs one forward pass)."""

    @property
    def types(self) -> tuple[str, ...]: ...

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]: ...


@dataclass(frozen=True)
class PatternDetector:
    """The pattern and checksum detectors of `types` (default: all of them)."""

    types: tuple[str, ...] = PATTERN_TYPES

    def find(self, text: str) -> list[Finding]:
        return [finding for name in self.types for finding in FINDERS[name](text)]

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        return [self.find(text) for text in texts]


def parse_types(value: str | Sequence[str]) -> tuple[str, ...]:
    """`"email,phone"` or a list -> known type names in the given order; `all` means every type."""
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value) if n.strip()]
    if "all" in names:
        return PII_TYPES
    unknown = [n for n in names if n not in PII_TYPES]
    if unknown:
        raise UsageError(f"unknown personal data type(s): {', '.join(map(repr, unknown))}",
                         hint=f"use some of: {', '.join(PII_TYPES)} (or all)")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class RedactionPolicy:
    """Which types to redact and how: `mask` ([EMAIL]), `hash` ([EMAIL:1a2b3c4d], the same value gives the same
    tag under the same salt) or `drop` (removed). No types: redaction is off."""

    types: tuple[str, ...] = ()
    mode: str = "mask"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"redaction mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        parse_types(self.types)

    @property
    def needs_ner(self) -> bool:
        return any(name in NER_TYPES for name in self.types)


@dataclass(frozen=True)
class Edit:
    """`original[start:end]` became `replacement` in the redacted text."""

    start: int
    end: int
    replacement: str


@dataclass(frozen=True)
class Redacted:
    """A text with its personal data replaced, and what was found (offsets into the original text)."""

    text: str
    findings: tuple[Finding, ...] = field(default=())
    edits: tuple[Edit, ...] = field(default=())

    def move_span(self, start: int, end: int) -> tuple[int, int]:
        """Where the original `[start, end)` lies in the redacted text; a span that begins or ends inside a
        replaced value grows to cover the whole replacement."""
        return self._position(start, inside_to_end=False), self._position(end, inside_to_end=True)

    def _position(self, offset: int, *, inside_to_end: bool) -> int:
        shift = 0
        for edit in self.edits:
            if offset <= edit.start:
                break
            if offset < edit.end:  # inside a replaced value
                return edit.start + shift + (len(edit.replacement) if inside_to_end else 0)
            shift += len(edit.replacement) - (edit.end - edit.start)
        return offset + shift


class Redactor:
    """Applies a policy with the pattern detectors and, for person/organisation/location, an NER detector."""

    def __init__(self, policy: RedactionPolicy, *, ner: Detector | None = None, salt: bytes = b"") -> None:
        if ner is None:
            _require_no_ner(policy)
        if policy.mode == "hash" and policy.types and not salt:  # no types: nothing is hashed
            raise UsageError("hash mode needs a salt (an unsalted hash of an e-mail address is easy to reverse)")
        self.policy = policy
        self.salt = salt
        patterns = tuple(n for n in policy.types if n in PATTERN_TYPES)
        self.detectors: list[Detector] = [PatternDetector(patterns)] if patterns else []
        if policy.needs_ner and ner is not None:
            self.detectors.append(ner)

    @property
    def active(self) -> bool:
        return bool(self.policy.types)

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Per text, the non-overlapping findings of the policy's types (the longest, then the surest, wins)."""
        per_text: list[list[Finding]] = [[] for _ in texts]
        for detector in self.detectors:
            for found, more in zip(per_text, detector.find_many(texts)):
                found.extend(f for f in more if f.type in self.policy.types)
        return [resolve_overlaps(found) for found in per_text]

    def redact_many(self, texts: Sequence[str]) -> list[Redacted]:
        if not self.active:
            return [Redacted(text) for text in texts]
        return [self._apply(text, found) for text, found in zip(texts, self.find_many(texts))]

    def redact(self, text: str) -> Redacted:
        return self.redact_many([text])[0]

    def scrub(self, text: str) -> str:
        """Only the redacted text (what a store writes)."""
        return self.redact(text).text if self.active else text

    def _apply(self, text: str, findings: Sequence[Finding]) -> Redacted:
        edits = [self._edit(text, f) for f in findings]
        parts, last = [], 0
        for edit in edits:
            parts += [text[last:edit.start], edit.replacement]
            last = edit.end
        parts.append(text[last:])
        return Redacted("".join(parts), tuple(findings), tuple(edits))

    def _edit(self, text: str, finding: Finding) -> Edit:
        value = text[finding.start:finding.end]
        end = finding.end
        if self.policy.mode == "drop" and text[finding.start - 1:finding.start] == " " and text[end:end + 1] == " ":
            end += 1  # "write to a@b.io now" -> "write to now", not two spaces
        return Edit(finding.start, end, self.replacement(finding.type, value))

    def replacement(self, type_: str, value: str) -> str:
        tag = type_.upper()
        if self.policy.mode == "drop":
            return ""
        if self.policy.mode == "hash":
            digest = hmac.new(self.salt, f"{type_}\x00{canonical(type_, value)}".encode(), hashlib.sha256).hexdigest()
            return f"[{tag}:{digest[:HASH_CHARS]}]"
        return f"[{tag}]"


def canonical(type_: str, value: str) -> str:
    """The value as hash mode keys it, so one customer gets one tag: `A.B@Example.com` = `a.b@example.com`,
    `4111 1111 1111 1111` = `4111-1111-1111-1111`; a phone keeps its digits (and the + of a country code)."""
    if type_ == "email":
        return value.lower()
    if type_ in ("card", "iban", "national_id"):
        return "".join(ch for ch in value if ch.isalnum()).upper()
    if type_ == "phone":
        return ("+" if value.startswith("+") else "") + "".join(ch for ch in value if ch.isdigit())
    return " ".join(value.split())


def redact_output(output: dict[str, Any], redacted: Redacted) -> dict[str, Any]:
    """A serialised prediction as it is stored next to its redacted text: entity spans (`{"start", "end",
    "text", ...}`) moved onto the redacted text, their words taken from it; other outputs as they are."""
    spans = output.get("spans")
    if not redacted.edits or not isinstance(spans, list):
        return output
    moved = []
    for span in spans:
        start, end = redacted.move_span(int(span["start"]), int(span["end"]))
        moved.append({**span, "start": start, "end": end, "text": redacted.text[start:end]})
    return {**output, "spans": moved}


def load_salt(path: str | Path) -> bytes:
    """The hash mode's secret salt from `path`, created (32 random bytes, hex, mode 0600) when absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    salt = path.read_text(encoding="ascii").strip()
    if len(salt) < 16:
        raise UsageError(f"the salt in {path} is shorter than 16 characters")
    return salt.encode("ascii")


def policy_for(types: str | Sequence[str], mode: str, *, has_ner: bool) -> RedactionPolicy:
    """The policy that type names (`all`: every type) and a mode give where an NER model is (`has_ner`) or not:
    without one, `all` means what the patterns find and a name type (person, ...) is refused."""
    policy = RedactionPolicy(parse_types(types), mode)
    if has_ner:
        return policy
    if "all" in (types.split(",") if isinstance(types, str) else types):
        return RedactionPolicy(tuple(n for n in policy.types if n not in NER_TYPES), mode)
    return _require_no_ner(policy)


def _require_no_ner(policy: RedactionPolicy) -> RedactionPolicy:
    """`policy` when it names no name type (person, ...); else the error saying an NER model is needed."""
    if policy.needs_ner:
        missing = [n for n in policy.types if n in NER_TYPES]
        raise UsageError(f"redacting {', '.join(missing)} needs an NER model",
                         hint="pass a TuneLab NER run folder (--ner-model RUN), or leave those types out")
    return policy


def build_redactor(types: str | Sequence[str], mode: str = "mask", *, ner_model: str | Path | None = None,
                   salt_file: str | Path | None = None,
                   ner_model_multilingual: str | Path | None = None,
                   ner_loader: Callable[[], Detector] | None = None) -> Redactor:
    """A Redactor from plain settings: type names (`all` for every one the detectors can find), the mode, NER
    run folders for names (an English one, a multilingual one for texts in other scripts, or both), and the
    hash salt file (default: `privacy-salt` in TuneLab's home, made once). `ner_loader`: where the NER detector
    of those folders comes from when the policy needs one (a server shares one among its redactors); default:
    loaded here."""
    from tunelab.home import home

    has_model = ner_model is not None or ner_model_multilingual is not None
    policy = policy_for(types, mode, has_ner=has_model)
    names = policy.types
    ner = None
    if policy.needs_ner and has_model:
        from tunelab.privacy.ner import load_ner

        ner = ner_loader() if ner_loader is not None else load_ner(ner_model, ner_model_multilingual)
    salt = load_salt(salt_file or home() / "privacy-salt") if mode == "hash" and names else b""
    return Redactor(policy, ner=ner, salt=salt)
