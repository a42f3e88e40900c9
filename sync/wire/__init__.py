"""The sync protocol both ends share: topics, message schemas, the signing envelope.

Pure: no MQTT client, no database. The agent (``sync.agent``), the hub (``sync.hub``) and
the broker's tools (``sync.broker``) import it; it imports only ``edge`` (the card record)."""
