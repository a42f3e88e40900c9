"""The central end of sync, run inside the desk service: the authorisation log and outbox,
the gates' events, catch-ups and snapshots. Imports ``sync.wire`` and ``sync.mqtt``; never
``sync.agent``."""
