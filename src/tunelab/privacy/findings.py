"""What a detector reports: one typed finding per piece of personal data, with its character span."""

from __future__ import annotations

from dataclasses import dataclass

# Every type a detector can report. Pattern and checksum types first, then the NER ones.
PATTERN_TYPES = ("email", "phone", "card", "iban", "ip", "national_id", "date_of_birth", "address")
NER_TYPES = ("person", "organisation", "location")
PII_TYPES = PATTERN_TYPES + NER_TYPES


@dataclass(frozen=True)
class Finding:
    """Personal data of `type` at `text[start:end]` (character offsets into the original text)."""

    type: str
    start: int
    end: int
    score: float  # 0-1: a passed checksum scores higher than a bare pattern
    detector: str  # which detector found it ("luhn_card", "cn_resident_id", "ner", ...)

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Keep a set of non-overlapping findings: the longest first, then the highest score, then the earliest."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (-f.length, -f.score, f.start, f.type)):
        if not any(finding.overlaps(other) for other in kept):
            kept.append(finding)
    return sorted(kept, key=lambda f: f.start)
