"""Checksums that tell real identifiers from look-alike digit runs: Luhn, IBAN mod-97, the Chinese ID check digit."""

from __future__ import annotations

import datetime as dt

CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CN_ID_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: the check character for each remainder


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers; `digits` holds digits only."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: 15-34 letters and digits, the first four moved to the end, letters as 10-35, mod 97 == 1."""
    iban = iban.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34 or not iban.isalnum() or not iban.isascii():
        return False
    if not (iban[:2].isalpha() and iban[2:4].isdigit()):
        return False
    number = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return int(number) % 97 == 1


def valid_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def cn_resident_id_valid(value: str) -> bool:
    """The 18-character resident ID: 6-digit region, a real birth date (not in the future), 3-digit sequence,
    and the ISO 7064 MOD 11-2 check character (0-9 or X)."""
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        return False
    born = valid_date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    if born is None or born.year < 1880 or born > dt.date.today():
        return False
    total = sum(int(char) * weight for char, weight in zip(value[:17], CN_ID_WEIGHTS))
    return CN_ID_CHECK[total % 11] == value[17]
