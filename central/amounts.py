"""Money is integer fen (分) everywhere; this is how an amount is shown, in yuan, without
ever passing through a float."""

from __future__ import annotations


def yuan(fen: int) -> str:
    """``1250`` → ``"12.50"``; ``-5`` → ``"-0.05"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿", "万亿")


def _four(value: int) -> str:
    """0 < value < 10000 in capitals, without leading zero."""
    out, zero = "", False
    for place in range(3, -1, -1):
        digit = value // 10 ** place % 10
        if digit == 0:
            zero = bool(out)
        else:
            out += ("零" if zero else "") + _DIGITS[digit] + _PLACES[place]
            zero = False
    return out


def capital_yuan(fen: int) -> str:
    """An amount as a receipt writes it out in full (人民币大写), so it cannot be altered by
    adding a digit: ``123450`` → ``壹仟贰佰叁拾肆元伍角``, ``2000`` → ``贰拾元整``."""
    if fen < 0:
        return "负" + capital_yuan(-fen)
    whole, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    groups = []
    while whole:
        whole, group = divmod(whole, 10000)
        groups.append(group)
    text, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _four(group) + _GROUPS[index]
        gap = False
    if not text and not cents:
        return "零元整"
    out = text + "元" if text else ""
    if not cents:
        return out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif text:
        out += "零"
    return out + (_DIGITS[fen_digit] + "分" if fen_digit else "整")
