"""The desk's JSON API under ``/api/v1`` (FastAPI): ``create_app`` builds it; ``menwei-desk
serve`` runs it. See docs/api.md."""

from central.api.app import create_app

__all__ = ["create_app"]
