"""A labelled PII test set generated with Faker (seeded): support tickets in English (en_US) and Chinese (zh_CN),
each with several pieces of personal data at known character spans, plus decoys that are not personal data
(order numbers that fail the Luhn check, order dates, version numbers)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{(\w+)\}")

EN_TEMPLATES = [
    "Hi, this is {person}. My card {card} was charged twice for order {order}. Please reply to {email}.",
    "Refund request: please send the money to IBAN {iban}, account holder {person}, phone {phone}.",
    "I can't log in since {order_date}. My username is my e-mail {email} and I last logged in from {ip}.",
    "Please update my address to {address}. My date of birth is {dob} in case you need to verify.",
    "Hello, I work for {organisation} in {location}. Call me on {phone} or write to {email}.",
    "For the credit check: SSN {ssn}, born {dob}, current address {address}.",
    "Your app crashed (version {version}) when I typed my card number {card}. Contact: {phone}.",
    "Suspicious login from {ip} on my account {email}! I am {person} and live in {location}.",
    "Ticket #{ticket}: customer {person} (DOB: {dob}) disputes a payment from card {card}.",
    "Please ship order {order} to {person}, {address}. Phone: {phone}",
    "The wire transfer to {iban} failed on {order_date}; my contact number is {phone}.",
    "Our office at {organisation} uses the server {ip}. Questions to {email} please.",
    "My SSN is {ssn} and my phone is {phone}. I was born on {dob}.",
    "Change the billing e-mail from {email} to {email}. Card on file ends in {card}.",
]
ZH_TEMPLATES = [
    "您好，我是{person}，我的手机号是{phone}，订单{order}还没有发货。",
    "请把退款打到这个账户：{iban}，户名{person}，联系电话{phone}。",
    "我的身份证号是{cn_id}，出生日期{dob_zh}，请帮我核实一下身份。",
    "收货地址请改为{address_zh}，联系人{person}，电话{phone}。",
    "我在{organisation}工作，邮箱是{email}，有问题请联系我。",
    "银行卡{card}被重复扣款两次，订单日期{order_date_zh}，请尽快处理。",
    "登录异常：IP地址{ip}，账号邮箱{email}，我人在{location}。",
    "客户{person}（身份证{cn_id}）投诉银行卡{card}的扣款。",
    "工单{ticket}：用户手机{phone}，地址{address_zh}，生日：{dob_zh}。",
    "App版本{version}闪退，我刚输入了卡号{card}，我的邮箱是{email}。",
    "请联系我的同事{person}，电话{phone}，他住在{address_zh}。",
]


@dataclass(frozen=True)
class Entity:
    type: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Sample:
    text: str
    lang: str
    entities: tuple[Entity, ...]


def _luhn_invalid_number(rng: random.Random, length: int = 16) -> str:
    from tunelab.privacy.checksums import luhn_valid

    while True:
        digits = str(rng.randint(1, 6)) + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))
        if not luhn_valid(digits):
            return digits


def _card(fake: Any, rng: random.Random) -> str:
    number = fake.credit_card_number()
    style = rng.random()
    if style < 0.4 or len(number) != 16:
        return number
    sep = " " if style < 0.8 else "-"
    return sep.join(number[i:i + 4] for i in range(0, 16, 4))


def _iban(fake: Any, rng: random.Random) -> str:
    iban = fake.iban()
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.4 else iban


def _phone_en(fake: Any, rng: random.Random) -> str:
    if rng.random() < 0.15:  # international callers
        return rng.choice(["+44 20 7946 0{:03d}", "+49 30 1234{:04d}", "+33 1 42 68 {:02d} 10", "+86 138 0013 {:04d}"]
                          ).format(rng.randint(0, 99))
    return fake.phone_number()


def _phone_zh(fake: Any, rng: random.Random) -> str:
    number = fake.phone_number()
    style = rng.random()
    if style < 0.2:
        return "+86 " + number
    if style < 0.35:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if style < 0.45:
        return f"0{rng.choice(['10', '21', '755', '571'])}-{rng.randint(10_000_000, 99_999_999)}"
    return number


def _dob_en(fake: Any, rng: random.Random) -> str:
    born = fake.date_of_birth(minimum_age=18, maximum_age=90)
    return born.strftime(rng.choice(["%Y-%m-%d", "%m/%d/%Y", "%B %d, %Y", "%d %B %Y", "%d.%m.%Y"]))


def _dob_zh(fake: Any, rng: random.Random) -> str:
    born = fake.date_of_birth(minimum_age=18, maximum_age=90)
    return f"{born.year}年{born.month}月{born.day}日" if rng.random() < 0.7 else born.isoformat()


def generators(fake: Any, rng: random.Random) -> dict[str, tuple[str | None, Any]]:
    """Placeholder -> (entity type or None for a decoy, a function that makes the value)."""
    zh = fake.locales[0] == "zh_CN"
    return {
        "person": ("person", fake.name), "organisation": ("organisation", fake.company),
        "location": ("location", fake.city), "email": ("email", fake.email),
        "phone": ("phone", lambda: _phone_zh(fake, rng) if zh else _phone_en(fake, rng)),
        "card": ("card", lambda: _card(fake, rng)), "iban": ("iban", lambda: _iban(fake, rng)),
        "ip": ("ip", lambda: fake.ipv4() if rng.random() < 0.7 else fake.ipv6()),
        "ssn": ("national_id", fake.ssn), "cn_id": ("national_id", fake.ssn),
        "dob": ("date_of_birth", lambda: _dob_en(fake, rng)), "dob_zh": ("date_of_birth", lambda: _dob_zh(fake, rng)),
        "address": ("address", lambda: fake.address().replace("\n", ", ")),
        "address_zh": ("address", fake.address),
        "order": (None, lambda: _luhn_invalid_number(rng)),
        "ticket": (None, lambda: str(rng.randint(100_000, 999_999))),
        "order_date": (None, lambda: fake.date_between("-2y").isoformat()),
        "order_date_zh": (None, lambda: fake.date_between("-2y").strftime("%Y年%m月%d日")),
        "version": (None, lambda: f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}"),
    }


def fill(template: str, lang: str, makers: dict[str, tuple[str | None, Any]]) -> Sample:
    text, entities, last = "", [], 0
    for match in PLACEHOLDER.finditer(template):
        text += template[last:match.start()]
        kind, make = makers[match.group(1)]
        value = str(make())
        if kind is not None:
            entities.append(Entity(kind, len(text), len(text) + len(value), value))
        text += value
        last = match.end()
    return Sample(text + template[last:], lang, tuple(entities))


def build_set(n: int = 2000, seed: int = 13) -> list[Sample]:
    """`n` tickets, half English and half Chinese, the same every time for the same seed."""
    from faker import Faker

    rng = random.Random(seed)
    samples = []
    for lang, templates in (("en_US", EN_TEMPLATES), ("zh_CN", ZH_TEMPLATES)):
        fake = Faker(lang)
        fake.seed_instance(seed)
        makers = generators(fake, rng)
        samples += [fill(rng.choice(templates), lang, makers) for _ in range(n // 2)]
    return samples
