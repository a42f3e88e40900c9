"""The API's documentation page, ``/api/v1/docs``: Swagger UI from the package's own copy
(static/vendor/swagger-ui), started by a script file rather than an inline one, so it
works on a site LAN with no internet and under the desk's Content-Security-Policy."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Menwei desk API</title>
<link rel="icon" href="/static/vendor/swagger-ui/favicon-32x32.png">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head><body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body></html>
"""


@router.get("/api/v1/docs", response_class=HTMLResponse, include_in_schema=False)
def api_docs() -> HTMLResponse:
    """The interactive API documentation."""
    return HTMLResponse(DOCS_PAGE)
