"""Detectors that need context or vocabulary: dates of birth (a date near "born", "DOB", "出生") and postal
addresses (number + street suffix, US city lines, military addresses; Chinese 省/市/区/路/号 patterns)."""

from __future__ import annotations

import datetime as dt
import re

from tunelab.privacy.checksums import valid_date
from tunelab.privacy.findings import Finding

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
DATES = [  # each with named groups y, m, d (m may be a month name); a/b: day and month in either order
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?!\d)"),
    re.compile(r"(?<!\d)(?P<a>\d{1,2})[-/.](?P<b>\d{1,2})[-/.](?P<y>(?:19|20)\d{2})(?!\d)"),
    re.compile(rf"(?<![A-Za-z])(?P<m>{MONTH}) (?P<d>\d{{1,2}})(?:st|nd|rd|th)?,? (?P<y>(?:19|20)\d{{2}})(?!\d)"),
    re.compile(rf"(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)? (?:of )?(?P<m>{MONTH}),? (?P<y>(?:19|20)\d{{2}})(?!\d)"),
    re.compile(r"(?<!\d)(?P<y>(?:19|20)\d{2}) ?年 ?(?P<m>\d{1,2}) ?月 ?(?P<d>\d{1,2}) ?[日号]"),
]
BIRTH = re.compile(r"(?i)(?<![a-z])(?:born|birth(?:day|date)?|d\.?o\.?b\.?|date of birth)(?![a-z])|出生|生日")
AFTER_KEYWORD = 40  # characters from the end of a birth keyword to the start of its date
BEFORE_KEYWORD = 20  # "1990-05-17 (date of birth)": from the end of the date to the keyword

# USPS Publication 28 street suffixes (common names and abbreviations).
SUFFIXES = (
    "Alley Aly Avenue Ave Av Bend Boulevard Blvd Branch Bridge Brook Brooks Burg Burgs Bypass Camp Canyon Cape "
    "Causeway Center Centers Circle Cir Circles Cliff Cliffs Club Common Corner Corners Course Court Ct Courts Cove "
    "Coves Creek Crescent Crest Crossing Crossroad Curve Dale Dam Divide Drive Dr Drives Estate Estates Expressway "
    "Extension Extensions Fall Falls Ferry Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort "
    "Freeway Garden Gardens Gateway Glen Glens Green Greens Grove Groves Harbor Harbors Haven Heights Highway Hwy "
    "Hill Hills Hollow Inlet Island Islands Isle Junction Junctions Key Keys Knoll Knolls Lake Lakes Land Landing "
    "Lane Ln Light Lights Loaf Lock Locks Lodge Loop Mall Manor Manors Meadow Meadows Mews Mill Mills Mission "
    "Motorway Mount Mountain Mountains Neck Orchard Oval Overpass Park Parks Parkway Pkwy Parkways Pass Passage "
    "Path Pike Pine Pines Place Pl Plain Plains Plaza Point Points Port Ports Prairie Radial Ramp Ranch Rapid "
    "Rapids Rest Ridge Ridges River Road Rd Roads Route Row Rue Run Shoal Shoals Shore Shores Skyway Spring Springs "
    "Spur Spurs Square Sq Squares Station Stravenue Stream Street St Streets Summit Terrace Ter Throughway Trace "
    "Track Trafficway Trail Trl Tunnel Turnpike Underpass Union Unions Valley Valleys Via Viaduct View Views "
    "Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells").split()
WORD = r"(?!(?:For|By|On|In|At|To|Of|And|Or|Across|From|With|Million|Billion)\b)[A-Z][A-Za-z'-]+"
CITY_LINE = rf",? {WORD}(?: {WORD}){{0,3}},? [A-Z]{{2}} \d{{5}}(?:-\d{{4}})?"
# The usual suffixes make an address alone ("12 Main St."); the rest ("5 Basis Points", "2020 Yield Curve") only
# with a unit or a city line after them.
COMMON = ("Street St Avenue Ave Road Rd Boulevard Blvd Drive Dr Lane Ln Court Ct Way Place Pl Terrace Ter Circle "
          "Cir Parkway Pkwy Highway Hwy Square Sq Trail Trl Alley Plaza Loop").split()
UNIT = r",? (?:Apt\.?|Suite|Ste\.?|Unit|#) ?[\dA-Z]{1,6}"


def _street(suffixes: list[str], tail: str) -> re.Pattern[str]:
    names = "|".join(sorted(suffixes, key=len, reverse=True))
    return re.compile(rf"(?<![\w$.,-])\d{{1,6}}(?: [NSEW]\.?)? (?:{WORD} ){{1,4}}(?:{names})\.?(?![A-Za-z]){tail}")


STREETS = (_street(COMMON, rf"(?:{UNIT})?(?:{CITY_LINE})?"),
           _street(SUFFIXES, rf"(?:{UNIT}(?:{CITY_LINE})?|{CITY_LINE})"))
MILITARY = re.compile(r"(?:PSC \d{4}, Box \d{4}|Unit \d{4} Box \d{4}|US[A-Z]{1,3} [A-Z][a-z]+)"
                      r",? (?:APO|FPO|DPO) A[AEP] \d{5}")
PROVINCES = (
    "(?:北京|上海|天津|重庆)市?|(?:河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川"
    "|贵州|云南|陕西|甘肃|青海|台湾)省|内蒙古(?:自治区)?|广西(?:壮族自治区)?|西藏(?:自治区)?|宁夏(?:回族自治区)?"
    "|新疆(?:维吾尔自治区)?|(?:香港|澳门)(?:特别行政区)?")
HAN = r"[\u4e00-\u9fff]"
CN_ROAD = rf"{HAN}{{1,12}}(?:路|街|大道|道|巷|弄|胡同)(?:[0-9A-Za-z]{{1,5}}(?:号|座|栋|幢|单元|室|楼)){{1,3}}"
CN_DISTRICT = rf"{HAN}{{1,6}}?(?:市|州|盟){HAN}{{1,6}}?(?:区|县|镇|旗)"  # no road: a city and a district at least
CN_ADDRESS = re.compile(rf"(?:{PROVINCES}){HAN}{{0,14}}?(?:{CN_ROAD}|{CN_DISTRICT})(?: ?\d{{6}}(?!\d))?")
CN_LEAD = re.compile(r"^(?:寄到|送到|发到|住在|位于|地址(?:是|为)?|在|到|是|为|往)")  # words before a bare road name
CN_STREET = re.compile(rf"{HAN}{{2,6}}?(?:路|街|大道|巷|弄)\d{{1,5}}号(?:(?:\d{{1,4}}(?:栋|幢|单元|室|楼))+)?")


def _month(value: str) -> int | None:
    if value.isdigit():
        return int(value)
    key = value[:3].lower()
    return MONTHS.index(key) + 1 if key in MONTHS else None


def _is_birth_date(match: re.Match[str]) -> bool:
    parts = match.groupdict()
    year = int(parts["y"])
    if parts.get("a") is not None:  # 05/17/1990 or 17/05/1990: either reading may hold
        a, b = int(parts["a"]), int(parts["b"])
        candidates = [valid_date(year, a, b), valid_date(year, b, a)]
    else:
        month = _month(parts["m"])
        candidates = [valid_date(year, month, int(parts["d"])) if month else None]
    return any(born is not None and born <= dt.date.today() for born in candidates)


def find_dates(text: str) -> list[tuple[int, int]]:
    spans = {(m.start(), m.end()) for pattern in DATES for m in pattern.finditer(text) if _is_birth_date(m)}
    return sorted(spans)


def find_date_of_birth(text: str) -> list[Finding]:
    """Each birth keyword claims the first date that starts within 40 characters after it, else the nearest one
    that ends within 20 characters before it. Other dates (an order date) are not personal data."""
    dates = find_dates(text)
    claimed: set[tuple[int, int]] = set()
    for keyword in BIRTH.finditer(text):
        after = [d for d in dates if 0 <= d[0] - keyword.end() <= AFTER_KEYWORD]
        before = [d for d in dates if 0 <= keyword.start() - d[1] <= BEFORE_KEYWORD]
        if after:
            claimed.add(after[0])
        elif before:
            claimed.add(before[-1])
    return [Finding("date_of_birth", start, end, 0.85, "birth_date") for start, end in sorted(claimed)]


def find_address(text: str) -> list[Finding]:
    """Street addresses (`123 Main Street, Apt. 4, Springfield, IL 62704`), military addresses, Chinese
    addresses from a province down to a road/number, and `中山路123号`."""
    found = [Finding("address", m.start(), m.end(), 0.75, "street_address") for p in STREETS for m in p.finditer(text)]
    found += [Finding("address", m.start(), m.end(), 0.75, "military_address") for m in MILITARY.finditer(text)]
    found += [Finding("address", m.start(), m.end(), 0.8, "cn_address") for m in CN_ADDRESS.finditer(text)]
    for m in CN_STREET.finditer(text):
        lead = CN_LEAD.match(m.group())
        start = m.start() + (lead.end() if lead else 0)
        found.append(Finding("address", start, m.end(), 0.7, "cn_street"))
    return found
