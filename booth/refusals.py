"""What the booth says when it refuses something: the reason in Chinese for the guard and in
English for the log and the English page, and the form field it is about."""

from __future__ import annotations


class BoothRefusal(Exception):  # noqa: N818 - a refusal, not an error
    """A guard's action refused, with the reason in both languages."""

    http_status = 409

    def __init__(self, message_zh: str, message_en: str, field: str | None = None) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field


class NotSignedIn(BoothRefusal):
    """No guard is signed in at this screen (or the sign-in has ended)."""

    http_status = 401

    def __init__(self, reason: str = "") -> None:
        super().__init__("请先登录", "sign in first")
        self.reason = reason


class GateUnreachable(BoothRefusal):
    """A gate of the post did not answer on its control socket."""

    http_status = 503
