"""Made-up but plausible Chinese people for a demo or benchmark site: names, resident ID
numbers (GB 11643, with their check digit), mobile numbers, plates and card UIDs.

Every function draws from the ``random.Random`` it is given, so a seed gives the same
people every time."""

from __future__ import annotations

import random
from datetime import date, timedelta

# The commonest surnames, roughly by frequency (weights): 王李张刘陈 are a third of China.
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
             "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
             "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_SURNAME_WEIGHTS = tuple(max(1.0, 12.0 - i * 0.4) for i in range(len(_SURNAMES)))
_GIVEN_MALE = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林欢阳建国志文博睿泽轩晨"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀燕玲桂英红梅琳雪婷慧莹颖倩洁晶欣怡悦涵萱琪佳雨思梦诗瑶月"
# Where ID numbers say their holder was registered: mostly the site's own city (Shenzhen),
# then the provinces people move to Shenzhen from.
_REGIONS = ("440301", "440303", "440304", "440305", "440306", "440307", "440103", "440106",
            "441302", "445102", "430102", "430602", "420106", "421002", "360102", "450103",
            "350102", "510104", "500103", "410105", "110105", "310115", "320102", "610113")
_CHECK_DIGITS = "10X98765432"
_MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157",
                    "158", "159", "182", "183", "187", "188", "130", "131", "132", "155",
                    "156", "185", "186", "133", "153", "180", "189", "199", "177", "166")
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on a plate
_PLATE_PROVINCES = ("粤B",) * 14 + ("粤S", "粤A", "湘A", "赣A", "桂A", "鄂A", "闽D")


def surname(rng: random.Random) -> str:
    """A surname, as often as it is met."""
    return rng.choices(_SURNAMES, _SURNAME_WEIGHTS)[0]


def given_name(rng: random.Random, male: bool) -> str:
    """One or two characters (two three times out of four)."""
    chars = _GIVEN_MALE if male else _GIVEN_FEMALE
    return "".join(rng.choice(chars) for _ in range(1 if rng.random() < 0.25 else 2))


def id_number(rng: random.Random, born: date, male: bool) -> str:
    """An 18-digit resident ID number: region, birth date, a sequence whose last digit is
    odd for a man, and the ISO 7064 MOD 11-2 check character."""
    sequence = rng.randrange(0, 100) * 10 + rng.choice((1, 3, 5, 7, 9) if male
                                                         else (0, 2, 4, 6, 8))
    body = f"{rng.choice(_REGIONS)}{born:%Y%m%d}{sequence:03d}"
    return body + id_check_character(body)


def id_check_character(body17: str) -> str:
    """The check character of the first 17 digits of an ID number (GB 11643)."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    return _CHECK_DIGITS[sum(int(d) * w for d, w in zip(body17, weights, strict=True)) % 11]


def birth_date(rng: random.Random, today: date, age_from: int, age_to: int) -> date:
    """A birthday of someone between ``age_from`` and ``age_to`` years old on ``today``."""
    return today - timedelta(days=rng.randint(age_from * 365, age_to * 365 + 364))


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number."""
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"


def plate(rng: random.Random) -> str:
    """A car plate as written at the desk, ``粤B·3K7Q2`` (a new-energy one, ``粤B·D12345``,
    one time in six)."""
    head = rng.choice(_PLATE_PROVINCES)
    if rng.random() < 1 / 6:
        return f"{head}·{rng.choice('DF')}{rng.randrange(0, 100000):05d}"
    tail = "".join(rng.choice(_PLATE_LETTERS) if rng.random() < 0.3 else str(rng.randrange(10))
                   for _ in range(5))
    return f"{head}·{tail}"


def card_uid(rng: random.Random) -> str:
    """A card UID as the reader gives it: a 4-byte Mifare Classic UID (most resident cards)
    or a 7-byte NXP one (first byte 04)."""
    if rng.random() < 0.7:
        return f"{rng.getrandbits(32):08X}"
    return "04" + f"{rng.getrandbits(48):012X}"
