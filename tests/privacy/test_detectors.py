"""Pattern and checksum detectors: valid identifiers are found with exact spans, look-alikes that fail their
checksum or date are not."""

from __future__ import annotations

import pytest

from tunelab.privacy import PATTERN_TYPES, RedactionPolicy, Redactor
from tunelab.privacy.checksums import cn_resident_id_valid, iban_valid, luhn_valid

REDACTOR = Redactor(RedactionPolicy(types=PATTERN_TYPES))


def found(text: str, kind: str | None = None) -> list[tuple[str, str]]:
    return [(f.type, text[f.start:f.end]) for f in REDACTOR.find_many([text])[0] if kind is None or f.type == kind]


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")
    assert cn_resident_id_valid("11010519491231002X") and not cn_resident_id_valid("110105194912310021")
    assert not cn_resident_id_valid("110105194902300021")  # 30 February


@pytest.mark.parametrize(("text", "value"), [
    ("card 4111 1111 1111 1111 please", "4111 1111 1111 1111"),
    ("card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
    ("卡号5500000000000004已扣款", "5500000000000004"),
    ("amex 3782 822463 10005 ok", "3782 822463 10005"),
])
def test_luhn_valid_cards_are_found_with_exact_spans(text: str, value: str) -> None:
    assert found(text, "card") == [("card", value)]


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112",  # Luhn fails
    "order 4111111111111112 shipped",
    "ref 41 1111 1111 1111 11",  # not grouped as cards are printed
])
def test_luhn_invalid_numbers_are_not_cards(text: str) -> None:
    assert found(text, "card") == []


def test_chinese_resident_id_needs_its_check_digit_and_a_real_birth_date() -> None:
    assert found("身份证号11010519491231002X，请核实", "national_id") == [("national_id", "11010519491231002X")]
    assert found("身份证号110105194912310021，请核实", "national_id") == []  # wrong check digit
    assert found("id 110105194902300021", "national_id") == []  # 1949-02-30 is no date


def test_iban_mod97_and_trailing_words() -> None:
    text = "IBAN GB82 WEST 1234 5698 7654 32 ABCD please"
    assert found(text, "iban") == [("iban", "GB82 WEST 1234 5698 7654 32")]
    assert found("IBAN GB83WEST12345698765432", "iban") == []


@pytest.mark.parametrize(("text", "value"), [
    ("mail john.doe+x@mail.example.co.uk now", "john.doe+x@mail.example.co.uk"),
    ("邮箱wei39@example.com有问题", "wei39@example.com"),
])
def test_email(text: str, value: str) -> None:
    assert found(text, "email") == [("email", value)]


@pytest.mark.parametrize(("text", "value"), [
    ("call (591)341-7776 today", "(591)341-7776"),
    ("call +1-787-683-1012x22834.", "+1-787-683-1012x22834"),
    ("我的手机是13812345678，谢谢", "13812345678"),
    ("电话+86 138 1234 5678。", "+86 138 1234 5678"),
    ("ring +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("座机010-12345678", "010-12345678"),
])
def test_phone_formats(text: str, value: str) -> None:
    assert found(text, "phone") == [("phone", value)]


def test_ip_addresses_are_validated() -> None:
    assert found("from 192.168.1.10 and fe80::1ff:fe23:4567:890a.", "ip") == [
        ("ip", "192.168.1.10"), ("ip", "fe80::1ff:fe23:4567:890a")]
    assert found("version 1.2.300.4 and 999.1.1.1 at 10:30:00", "ip") == []


def test_ssn() -> None:
    assert found("SSN 541-29-7175.", "national_id") == [("national_id", "541-29-7175")]
    assert found("SSN 000-29-7175 or 666-12-3456", "national_id") == []


def test_date_of_birth_needs_a_birth_word() -> None:
    text = "Ordered on 2024-03-01. Born on March 3, 1985; DOB 17/05/1990 and 出生日期1971年1月26日"
    assert found(text, "date_of_birth") == [("date_of_birth", "March 3, 1985"), ("date_of_birth", "17/05/1990"),
                                            ("date_of_birth", "1971年1月26日")]
    assert found("my birthday is 1990-02-30", "date_of_birth") == []


@pytest.mark.parametrize(("text", "value"), [
    ("ship to 9074 Brittany Cove Suite 000, South Glendachester, VA 04307. Thanks",
     "9074 Brittany Cove Suite 000, South Glendachester, VA 04307"),
    ("I live at 12 Main St. in town", "12 Main St."),
    ("地址：河北省涛县门头沟刘街u座 400806，谢谢", "河北省涛县门头沟刘街u座 400806"),
    ("寄到中山路123号", "中山路123号"),
])
def test_addresses(text: str, value: str) -> None:
    assert found(text, "address") == [("address", value)]


def test_plain_text_has_no_findings() -> None:
    assert REDACTOR.find_many(["My parcel has not arrived, order placed 3 days ago. 我的包裹还没到。"]) == [[]]


@pytest.mark.parametrize("text", [
    "Central Bank Cuts Lending Rates By 5 Basis Points Across Tenors",  # a rare suffix needs a unit or a city
    "Market Update: S&P 500 Playing For Second Place On Monday",
    "NIO's $100 Million Fundraise Falls Short",
    "订单号： 1450990450能帮我查查吗",  # area codes start with 2-9: not a North American phone
    "这次去香港想着换一个地区酒店住住",  # a province name and 区 alone are no address
    "ISIN NO0010861081 fixed 2019-11-25",
])
def test_headlines_and_references_are_not_personal_data(text: str) -> None:
    assert found(text) == []
