"""The desk's service layer: one function per action, each one transaction, each taking the
acting staff member and a typed, already-validated input. The API and (later) the pages
call these and nothing below them."""
