"""How the desk says no: every refusal names why, in Chinese and English.

- RuleRefused: a business rule of domain-rules.md refused the action (its id: "H4", "I4").
- InvalidInputError: the form itself is malformed or incomplete; one FieldError per field.
- NotFoundError, ConflictError, PermissionDeniedError: the thing is missing, its state
  forbids the action, or the acting staff member's role does not allow it (outside any
  numbered rule).
- LoginFailedError, LoginThrottledError: authentication.

Each carries what the API needs to answer 4xx: ``as_dict()`` and ``http_status``. A refusal
is raised before anything is committed: one transaction per action, so nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class DeskError(Exception):
    """Base of every refusal. ``field`` names the input field at fault, if one is."""

    http_status = 400
    kind = "error"

    def __init__(self, message_zh: str, message_en: str, field: str | None = None) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the API's answer."""
        return {"error": self.kind, "field": self.field,
                "message_zh": self.message_zh, "message_en": self.message_en}

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.message_en}{where} / {self.message_zh}"


class RuleRefused(DeskError):  # noqa: N818 - the name the API and the issue use
    """A numbered business rule refused the action."""

    http_status = 422
    kind = "rule"

    def __init__(self, rule_id: str, message_zh: str, message_en: str,
                 field: str | None = None) -> None:
        super().__init__(message_zh, message_en, field)
        self.rule_id = rule_id

    def as_dict(self) -> dict[str, Any]:
        """The JSON body, with the rule's id."""
        return {**super().as_dict(), "rule": self.rule_id}

    def __str__(self) -> str:
        return f"rule {self.rule_id}: {super().__str__()}"


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field (``lines[1].uid``)."""

    field: str
    message_zh: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"field": self.field, "message_zh": self.message_zh,
                "message_en": self.message_en}


class InvalidInputError(DeskError):
    """The form is malformed or incomplete; ``errors`` lists every field at once."""

    http_status = 422
    kind = "input"

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0] if errors else FieldError("", "输入有误", "invalid input")
        super().__init__(
            "；".join(f"{e.field}：{e.message_zh}" for e in errors) or first.message_zh,
            "; ".join(f"{e.field}: {e.message_en}" for e in errors) or first.message_en,
            first.field or None,
        )
        self.errors = tuple(errors)

    def as_dict(self) -> dict[str, Any]:
        """The JSON body, with every field error."""
        return {**super().as_dict(), "errors": [e.as_dict() for e in self.errors]}


class UnavailableError(DeskError):
    """A part of the system this answer needs is not connected (the gates' event store,
    the desk's link to the site's broker)."""

    http_status = 503
    kind = "unavailable"


class NotFoundError(DeskError):
    """No such card, household, person, receipt... in the actor's site."""

    http_status = 404
    kind = "not_found"


class ConflictError(DeskError):
    """The thing's present state forbids the action (a card already lost, say)."""

    http_status = 409
    kind = "conflict"


class PermissionDeniedError(DeskError):
    """The acting staff member may not do this (role or site), outside any numbered rule."""

    http_status = 403
    kind = "permission"


class LoginFailedError(DeskError):
    """Unknown user, wrong password or disabled account (deliberately not told apart)."""

    http_status = 401
    kind = "login"


class LoginThrottledError(DeskError):
    """Too many failed logins; ``retry_after_s`` until the next attempt is heard."""

    http_status = 429
    kind = "throttled"

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, -(-retry_after_s // 60))
        super().__init__(
            f"登录失败次数过多，账户暂时锁定，请 {minutes} 分钟后再试",
            f"Too many failed logins; the account is locked, try again in {minutes} minute(s)",
        )
        self.retry_after_s = retry_after_s
