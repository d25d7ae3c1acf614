"""Pattern and checksum detectors: e-mail, phone, payment card, IBAN, IP address, national IDs.

Each `find_*` takes a text and returns Findings with offsets into it. Boundaries are spelled with ASCII classes,
never `\\b`: in Chinese text a letter or digit sits right next to a CJK character, which `\\b` treats as a word.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator

from tunelab.privacy.checksums import cn_resident_id_valid, iban_valid, luhn_valid
from tunelab.privacy.findings import Finding

Find = Callable[[str], list[Finding]]

EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
                   r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])")

CN_MOBILE = re.compile(r"(?<![A-Za-z0-9+])(?:(?:\+|00)86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# North American numbering: area code and exchange start with 2-9 (an order number 1450990450 is no phone)
NANP = re.compile(r"(?<![A-Za-z0-9+])(?:(?:\+1|001|1)[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-]?)[2-9]\d{2}[ .-]?\d{4}"
                  r"(?: ?(?:x|ext\.? ?)\d{1,6})?(?!\d)")
INTERNATIONAL = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){2,6}(?!\d)")
NATIONAL = re.compile(r"(?<![A-Za-z0-9+])0\d{1,4}[ -]\d{3,4}[ -]?\d{3,4}(?!\d)")  # 020 7946 0958, 010-12345678

CARD = re.compile(r"(?<![\d-])[0-6]\d{3}(?:[ -]?\d){8,15}(?![\d-]?\d)")
MAESTRO_12 = re.compile(r"5[06-9]\d{10}|6\d{11}|0604\d{8}")  # 12 digits: only Maestro ranges
CARD_GROUPS = re.compile(r"\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5}")  # 4-4-4-x, Amex 4-6-5

IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")

IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
IPV6 = re.compile(r"(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
                  r"(?![0-9A-Za-z:])")

CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
                   r"[\dXx](?![0-9A-Za-z])")
SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-]?\d)")


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _matches(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    return pattern.finditer(text)


def find_email(text: str) -> list[Finding]:
    return [Finding("email", m.start(), m.end(), 0.95, "email_pattern") for m in _matches(EMAIL, text)]


def find_phone(text: str) -> list[Finding]:
    """Chinese mobiles (optional +86), North American numbers, +CC international and 0-prefixed national ones."""
    found = [Finding("phone", m.start(), m.end(), 0.85, "cn_mobile") for m in _matches(CN_MOBILE, text)]
    found += [Finding("phone", m.start(), m.end(), 0.7, "nanp_phone") for m in _matches(NANP, text)]
    for pattern, name in ((INTERNATIONAL, "intl_phone"), (NATIONAL, "national_phone")):
        for m in _matches(pattern, text):
            value = m.group().rstrip(") ")
            if 8 <= len(_digits(value)) <= 15:
                found.append(Finding("phone", m.start(), m.start() + len(value), 0.6, name))
    return found


def find_card(text: str) -> list[Finding]:
    """13-19 digits (12 in Maestro ranges), plain or grouped as cards print them (4-4-4-4, Amex 4-6-5), that pass
    the Luhn check."""
    found = []
    for m in _matches(CARD, text):
        value = m.group()
        digits = _digits(value)
        grouped = value.isdigit() or CARD_GROUPS.fullmatch(value) is not None
        length_ok = 13 <= len(digits) <= 19 or MAESTRO_12.fullmatch(digits) is not None
        if grouped and length_ok and luhn_valid(digits):
            found.append(Finding("card", m.start(), m.end(), 0.95, "luhn_card"))
    return found


def find_iban(text: str) -> list[Finding]:
    """IBANs that pass mod-97; a candidate that swallowed a following word or number is shortened until valid."""
    found = []
    for m in _matches(IBAN, text):
        value = m.group()
        while len(value.replace(" ", "")) >= 15:
            if iban_valid(value):
                found.append(Finding("iban", m.start(), m.start() + len(value), 0.98, "iban_mod97"))
                break
            value = value[:-1].rstrip(" ")
    return found


def find_ip(text: str) -> list[Finding]:
    """IPv4 and IPv6 addresses that `ipaddress` accepts (no leading zeros, octets <= 255)."""
    found = []
    for m in _matches(IPV4, text):
        try:
            ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        found.append(Finding("ip", m.start(), m.end(), 0.9, "ipv4"))
    for m in _matches(IPV6, text):
        value = m.group()
        if sum(char.isalnum() for char in value) < 3:  # "a::b" passes, a bare "::" or "1:2:" does not
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        found.append(Finding("ip", m.start(), m.end(), 0.9, "ipv6"))
    return found


def find_national_id(text: str) -> list[Finding]:
    """Chinese resident IDs (date and check digit verified) and US social security numbers (123-45-6789)."""
    found = [Finding("national_id", m.start(), m.end(), 0.99, "cn_resident_id")
             for m in _matches(CN_ID, text) if cn_resident_id_valid(m.group())]
    found += [Finding("national_id", m.start(), m.end(), 0.8, "us_ssn") for m in _matches(SSN, text)]
    return found
