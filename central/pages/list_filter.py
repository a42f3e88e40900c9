"""A list page's filters (dates, a unit, a kind …) taken from its query string through the
filter's one declaration (a FormInput of the service that reads the list): drawn with
form_view, read with the same reader as any form, a bad value shown beside its field. The
same query string serves the page, its next page and its XLSX export."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from fastapi import Request

from central.form_input import FormInput, read_input
from central.pages.form_view import (
    FieldView,
    GroupView,
    form_view,
    posted_values,
    unplaced_errors,
)
from central.refusals import FieldError, InvalidInputError

F = TypeVar("F", bound=FormInput)
T = TypeVar("T")
PAGE_FIELD = "before"
# How many lines a list page shows at a time.
PAGE_SIZE = 50


@dataclass(frozen=True)
class ListPage(Generic[T]):
    """One page of a filtered list, newest first, and the links the page offers: the next
    (older) page, back to the newest, and the same filters' XLSX export."""

    items: Sequence[T]
    next_url: str | None
    first_url: str | None
    export_url: str


@dataclass(frozen=True)
class ListFilter(Generic[F]):
    """The filter read from a list page's query: ``chosen`` (None when a value was
    refused, ``errors`` then say why), the form to draw, and the query to carry on."""

    chosen: F | None
    fields: tuple[FieldView | GroupView, ...]
    errors: tuple[FieldError, ...]
    query: dict[str, str]  # the filter's non-empty values, without the page
    hidden: tuple[str, ...]
    paged: bool  # a page after the newest was asked

    @property
    def kept(self) -> dict[str, str]:
        """The hidden fields' values (an id a link carried), for the form to send again."""
        return {k: v for k, v in self.query.items() if k in self.hidden}

    @property
    def unplaced(self) -> list[FieldError]:
        """The problems no drawn field shows (a hidden field's)."""
        return unplaced_errors(self.fields, self.errors)

    def url(self, path: str, **more: Any) -> str:
        """``path`` with the same filters (and ``more``, e.g. the next page)."""
        params = {**self.query, **{k: str(v) for k, v in more.items() if v is not None}}
        return f"{path}?{urlencode(params)}" if params else path

    @property
    def status_code(self) -> int:
        """The page's status: 422 while a filter's value is refused."""
        return 422 if self.errors else 200

    def page(self, path: str, find: Callable[[F, int], Sequence[T]],
             position: Callable[[T], object]) -> ListPage[T]:
        """The page of the list at ``path`` the filter picks: ``find(filter, limit)`` reads
        the lines (none while a filter is refused), ``position`` is where a line stands,
        for the next page to start before it."""
        found = find(self.chosen, PAGE_SIZE + 1) if self.chosen is not None else []
        more = len(found) > PAGE_SIZE
        shown = found[:PAGE_SIZE]
        return ListPage(shown,
                        self.url(path, **{PAGE_FIELD: position(shown[-1])}) if more else None,
                        self.url(path) if self.paged else None,
                        self.url(f"{path}.xlsx"))


def list_filter(cls: type[F], request: Request, tz: str, *,
                hidden: Collection[str] = (PAGE_FIELD,)) -> ListFilter[F]:
    """The filter ``cls`` read from ``request``'s query string; ``hidden`` fields (the
    page, an id a link carries) are read but not drawn."""
    params = request.query_params
    values = posted_values(cls, params, tz)
    query = {k: str(v) for k, v in params.items() if k in values and k != PAGE_FIELD and v}
    try:
        chosen: F | None = read_input(cls, values)
        errors: tuple[FieldError, ...] = ()
    except InvalidInputError as exc:
        chosen, errors = None, tuple(exc.errors)
    return ListFilter(chosen, form_view(cls, values, errors, leave_out=hidden), errors, query,
                      tuple(hidden), bool(params.get(PAGE_FIELD)))
