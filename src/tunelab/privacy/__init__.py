"""Personal data (PII) detection and redaction: typed findings from pattern, checksum and NER detectors, and a
Redactor that masks, hashes or drops them according to a policy."""

from tunelab.privacy.findings import NER_TYPES, PATTERN_TYPES, PII_TYPES, Finding
from tunelab.privacy.redactor import (
    Detector,
    PatternDetector,
    Redacted,
    RedactionPolicy,
    Redactor,
    build_redactor,
    load_salt,
    parse_types,
)

__all__ = ["NER_TYPES", "PATTERN_TYPES", "PII_TYPES", "Detector", "Finding", "PatternDetector", "Redacted",
           "RedactionPolicy", "Redactor", "build_redactor", "load_salt", "parse_types"]
