"""The page servers' shared plumbing: what the desk's pages (``central/pages``, ``central/api``)
and the guard's booth page (``booth/web``) both need and neither owns — loading a locale
folder's gettext catalogs, checking that every marked string has its translation, and the
middleware that keeps every answer private and under one Content-Security-Policy.

It imports neither the desk nor the booth (import contract in pyproject.toml): the booth runs
on a Pi without the desk, and both import this package."""
