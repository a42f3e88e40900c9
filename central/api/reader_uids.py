"""The desk reader's decimal UIDs, turned into hex wherever the API takes a card UID: in a
body (fields declared ``Uid``), in the path (``UidPath``) and in a query (``CARD_QUERY``,
``UID_QUERY``).

A USB keyboard-wedge reader at the desk types a 4-byte UID as ten decimal digits; the byte
order is the site's ``desk_reader_uid_order`` (central/uids.py). Here, at the boundary, that
number becomes the hex UID the gates read, before the form is validated like any other;
hex is passed on untouched. The order is looked up, only when a decimal is met, from the
caller's session and site; without either (a call about to be refused 401, or a company
account naming no site) the documented default applies.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy import select

from central.api.body import body_of, json_body, reader_uids_to_hex
from central.api.errors import NotAuthenticatedError
from central.api.security import SITE_HEADER
from central.api.sessions import resolve_session
from central.api.state import api_state
from central.form_fields import UID_DOC
from central.models import ReaderUidOrder, Site, SiteSettings
from central.uids import DEFAULT_READER_UID_ORDER, from_reader, is_reader_decimal


def reader_uid_order(request: Request) -> ReaderUidOrder:
    """The byte order of the desk reader at the caller's site."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return DEFAULT_READER_UID_ORDER
    desk = api_state(request).desk
    try:
        who = resolve_session(desk, token.strip())
    except NotAuthenticatedError:
        return DEFAULT_READER_UID_ORDER
    site = (request.headers.get(SITE_HEADER) or "").strip() or who.site
    if not site:
        return DEFAULT_READER_UID_ORDER
    with desk.sessions() as session:
        order = session.scalar(select(SiteSettings.desk_reader_uid_order)
                               .join(Site, Site.id == SiteSettings.site_id)
                               .where(Site.code == site))
    return order or DEFAULT_READER_UID_ORDER


def _hex(request: Request, text: str | None) -> str | None:
    if text is None or not is_reader_decimal(text):
        return text
    return from_reader(text, reader_uid_order(request))


def desk_body(request: Request, value: Annotated[Any, Depends(json_body)]) -> Any:
    """The JSON body with the desk reader's decimal UIDs as hex."""
    body = body_of(request)
    if body is None:
        return value
    return reader_uids_to_hex(value, body.cls, lambda: reader_uid_order(request))


def uid_in_path(request: Request, uid: Annotated[str, Path(description=UID_DOC)]) -> str:
    """The ``{uid}`` of the path, a desk reader's decimal as hex."""
    return _hex(request, uid) or ""


def card_in_query(request: Request, card: Annotated[
        str | None, Query(description=UID_DOC)] = None) -> str | None:
    """The ``card`` query parameter, a desk reader's decimal as hex."""
    return _hex(request, card)


def uid_in_query(request: Request, uid: Annotated[
        str | None, Query(description="the reported card: " + UID_DOC)] = None) -> str | None:
    """The ``uid`` query parameter, a desk reader's decimal as hex."""
    return _hex(request, uid)


# Card UIDs in queries: ``card: Annotated[str | None, CARD_QUERY]``.
CARD_QUERY = Depends(card_in_query)
UID_QUERY = Depends(uid_in_query)
