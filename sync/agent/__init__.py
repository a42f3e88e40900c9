"""The sync agent that runs on the Pi beside its gate (``menwei-sync run``): keeps ``auth.db``
in step with central, ships the gate's journal, relays commands. Imports ``edge``,
``sync.wire`` and ``sync.mqtt``; never ``sync.hub``."""
