"""How the API's routers are made: under ``/api/v1``, named by operation (the route's
function name is its OpenAPI operationId and its key in the permission matrix), and —
for every router but the login — behind the session and permission check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute

from central.api.body import check_query
from central.api.errors import PREFIX, error_responses
from central.api.reader_uids import desk_body
from central.api.security import authorised

# The parsed JSON body of an operation that takes one (validated by the operation's
# ``Body``, central/api/body_schema.py), a desk reader's decimal UIDs already hex.
BodyDep = Annotated[Any, Depends(desk_body)]


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name, e.g. ``issue_staff_card``."""
    return route.name


def protected_router(tag: str) -> APIRouter:
    """A router whose every route needs a session whose role the matrix allows; unknown
    query parameters are refused. Every route may answer 404: the site named in
    X-Menwei-Site may not exist."""
    return APIRouter(prefix=PREFIX, tags=[tag], generate_unique_id_function=operation_id,
                     dependencies=[Depends(authorised), Depends(check_query)],
                     responses=error_responses(401, 403, 404, 422))


def public_router(tag: str) -> APIRouter:
    """A router for what needs no session (logging in)."""
    return APIRouter(prefix=PREFIX, tags=[tag], generate_unique_id_function=operation_id,
                     dependencies=[Depends(check_query)], responses=error_responses(422))
