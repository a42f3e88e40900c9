"""The desk in a browser: every front-desk procedure as server-rendered pages (Jinja2,
gettext catalogs: Chinese first, English per account), on the same services and permission
matrix as the JSON API. ``central.pages.app.install_pages`` adds them to the desk's
application; docs/desk-pages.md says how they are built."""
