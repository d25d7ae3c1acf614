"""Run Microsoft Presidio's predefined pattern recognizers (no spaCy model, no AnalyzerEngine: both need a
download) on texts read as JSON from stdin; print the findings as JSON. Runs under Presidio's own interpreter
(`bench_privacy.py --presidio-python PATH`): presidio-analyzer is not a TuneLab dependency."""

from __future__ import annotations

import json
import logging
import sys

TYPES = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card", "IBAN_CODE": "iban",
         "IP_ADDRESS": "ip", "US_SSN": "national_id"}


def main() -> int:
    logging.disable(logging.CRITICAL)  # tldextract logs its failed download of the public suffix list
    from importlib.metadata import version

    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    recognizers = [r() for r in (CreditCardRecognizer, EmailRecognizer, IbanRecognizer, IpRecognizer,
                                 PhoneRecognizer, UsSsnRecognizer)]
    texts = json.load(sys.stdin)
    out = []
    for text in texts:
        found = []
        for recognizer in recognizers:
            for r in recognizer.analyze(text, recognizer.supported_entities, None):
                if r.entity_type in TYPES:
                    found.append([TYPES[r.entity_type], r.start, r.end, float(r.score)])
        out.append(found)
    json.dump({"version": version("presidio-analyzer"), "findings": out}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
