"""``central.db``'s tables and their migrations (schema version in ``PRAGMA user_version``).

Plain SQL that would also run on PostgreSQL (``ON CONFLICT``, partial indexes); what a port
changes is in docs/sync-protocol.md, *The central database*."""

MIGRATIONS = [
    """
    CREATE TABLE auth_log (
        seq INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        uid TEXT NOT NULL,
        card TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX auth_log_uid ON auth_log (uid, seq);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('auth', 'command')),
        payload BLOB,
        from_seq INTEGER,
        to_seq INTEGER,
        expires_at REAL,
        created_at REAL NOT NULL,
        published_at REAL,
        outcome TEXT
    );
    CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
    CREATE TABLE events (
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        boot_id TEXT NOT NULL,
        wall REAL NOT NULL,
        mono REAL NOT NULL,
        kind TEXT NOT NULL,
        alarm INTEGER NOT NULL,
        clock_trusted INTEGER NOT NULL,
        uid TEXT,
        granted INTEGER,
        reason TEXT,
        data TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (device, seq)
    );
    CREATE INDEX events_uid ON events (uid, wall);
    CREATE INDEX events_wall ON events (wall);
    CREATE TABLE event_conflicts (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE TABLE event_gaps (
        device TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (device, first_seq)
    );
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,
        status TEXT,
        online INTEGER,
        applied_seq INTEGER,
        backlog INTEGER,
        clock_trusted INTEGER,
        last_seen REAL,
        events_upto INTEGER
    )
    """,
    # 2: what the hub itself notices about a device (a replaced journal, a device over its
    # quota), kept apart from the devices' own journalled events.
    """
    CREATE TABLE alarms (
        id INTEGER PRIMARY KEY,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        raised_at REAL NOT NULL
    );
    CREATE INDEX alarms_device ON alarms (device, id)
    """,
    # 3: events keyed by (device, journal id, seq), so a replaced journal numbering from 1
    # again is stored as itself (sync/hub/journals.py). What was stored before belongs
    # to the legacy journal "", whose progress moves to event_journals. One transaction:
    # an interrupted upgrade leaves version 2 as it was.
    """
    CREATE TABLE events_v3 (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        boot_id TEXT NOT NULL,
        wall REAL NOT NULL,
        mono REAL NOT NULL,
        kind TEXT NOT NULL,
        alarm INTEGER NOT NULL,
        clock_trusted INTEGER NOT NULL,
        uid TEXT,
        granted INTEGER,
        reason TEXT,
        data TEXT NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (device, journal_id, seq)
    );
    INSERT INTO events_v3 (device, journal_id, seq, boot_id, wall, mono, kind, alarm,
        clock_trusted, uid, granted, reason, data, received_at)
        SELECT device, '', seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted,
        reason, data, received_at FROM events;
    DROP TABLE events;
    ALTER TABLE events_v3 RENAME TO events;
    CREATE INDEX events_uid ON events (uid, wall);
    CREATE INDEX events_wall ON events (wall);
    CREATE TABLE event_gaps_v3 (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (device, journal_id, first_seq)
    );
    INSERT INTO event_gaps_v3 (device, journal_id, first_seq, last_seq)
        SELECT device, '', first_seq, last_seq FROM event_gaps;
    DROP TABLE event_gaps;
    ALTER TABLE event_gaps_v3 RENAME TO event_gaps;
    ALTER TABLE event_conflicts ADD COLUMN journal_id TEXT NOT NULL DEFAULT '';
    CREATE TABLE event_journals (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        events_upto INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        PRIMARY KEY (device, journal_id)
    );
    INSERT INTO event_journals (device, journal_id, events_upto, first_seen)
        SELECT device, '', events_upto, coalesce(last_seen, 0) FROM devices
        WHERE events_upto IS NOT NULL;
    ALTER TABLE devices ADD COLUMN journal_id TEXT;
    UPDATE devices SET journal_id = '' WHERE events_upto IS NOT NULL
    """,
    # 4: what the desk's gates view asks of the hub. Which desk entry each log entry relays
    # (a card change "applied by 3 of 4 gates" is asked by the desk's own number); when each
    # device's applied_seq first reached a value (so "applied at" has an answer after the
    # status moved on); and the alarm events of a journal, newest per kind, found without
    # reading the whole journal.
    """
    ALTER TABLE auth_log ADD COLUMN desk_seq INTEGER;
    CREATE INDEX auth_log_desk_seq ON auth_log (desk_seq) WHERE desk_seq IS NOT NULL;
    CREATE TABLE device_progress (
        device TEXT NOT NULL,
        applied_seq INTEGER NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (device, applied_seq)
    );
    INSERT INTO device_progress (device, applied_seq, at)
        SELECT device, applied_seq, coalesce(last_seen, 0) FROM devices
        WHERE applied_seq IS NOT NULL;
    CREATE INDEX events_alarms ON events (device, journal_id, kind, seq) WHERE alarm = 1
    """,
    # 5: each booth's last published list (sync/hub/booth_lists.py): its version, the digest
    # of its content (without version and issued_at) and the signed message, so a restarted
    # desk neither publishes an unchanged list again nor numbers a new one backwards, and can
    # republish the last one to a broker that lost its retained messages.
    """
    CREATE TABLE booth_lists (
        booth TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        payload BLOB NOT NULL,
        published_at REAL NOT NULL
    )
    """,
    # 6: the site's last published rules (sync/hub/site_rules_publisher.py), kept as the
    # booth lists are: a restarted desk neither numbers new rules backwards nor publishes
    # unchanged ones again, and republishes the last ones to a broker that lost them.
    """
    CREATE TABLE site_rules (
        site TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        payload BLOB NOT NULL,
        published_at REAL NOT NULL
    )
    """,
    # 7: a device's events by wall time (CentralStore.granted_card_events, events_for with a
    # device and a time range): the monthly parking report reads a month of each car-park
    # lane with one range look-up, not the lane's whole history sorted again per page.
    """
    CREATE INDEX events_device_wall ON events (device, wall)
    """,
    # 8: how far the desk's log of this site is relayed into this one (the desk's own
    # per-site number, central.models.AuthLogEntry.site_seq), written in the transaction
    # that logs what it relays: whichever desk worker relays next resumes exactly there.
    """
    CREATE TABLE relay (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        desk_site_seq INTEGER NOT NULL
    )
    """,
]

# The same tables at version 7 (POSTGRES_SCHEMA_VERSION), for a site's schema in the
# company's PostgreSQL database (sync/hub/store_database.py): 64-bit sequence numbers and
# ids, DOUBLE PRECISION for SQLite's REAL (PostgreSQL's real has 4 bytes), BYTEA for BLOB;
# events partitioned by month of the device's wall clock, so a month is read, kept or
# dropped as one table. Its primary key must hold the partition column; the store keeps
# (device, journal_id, seq) unique itself. The API's filters each have an index: card
# (events_uid), gate (events_device_wall, also the monthly report's), time (events_wall)
# and the refusals a guard looks for (events_refused_wall; granted ones are most rows, read
# by time). POSTGRES_STEPS holds, by version, what a later migration adds on PostgreSQL.
POSTGRES_SCHEMA_VERSION = 7
POSTGRES_SCHEMA = """
    CREATE TABLE auth_log (
        seq BIGINT PRIMARY KEY,
        site TEXT NOT NULL,
        uid TEXT NOT NULL,
        card TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        desk_seq BIGINT
    );
    CREATE INDEX auth_log_uid ON auth_log (uid, seq);
    CREATE INDEX auth_log_desk_seq ON auth_log (desk_seq) WHERE desk_seq IS NOT NULL;
    CREATE TABLE outbox (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        topic TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('auth', 'command')),
        payload BYTEA,
        from_seq BIGINT,
        to_seq BIGINT,
        expires_at DOUBLE PRECISION,
        created_at DOUBLE PRECISION NOT NULL,
        published_at DOUBLE PRECISION,
        outcome TEXT
    );
    CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
    CREATE TABLE events (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        boot_id TEXT NOT NULL,
        wall DOUBLE PRECISION NOT NULL,
        mono DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        alarm INTEGER NOT NULL,
        clock_trusted INTEGER NOT NULL,
        uid TEXT,
        granted INTEGER,
        reason TEXT,
        data TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device, journal_id, seq, wall)
    ) PARTITION BY RANGE (wall);
    CREATE INDEX events_uid ON events (uid, wall);
    CREATE INDEX events_wall ON events (wall);
    CREATE INDEX events_device_wall ON events (device, wall);
    CREATE INDEX events_alarms ON events (device, journal_id, kind, seq) WHERE alarm = 1;
    CREATE INDEX events_refused_wall ON events (wall) WHERE granted = 0;
    CREATE TABLE event_conflicts (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        device TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        journal_id TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE event_gaps (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        PRIMARY KEY (device, journal_id, first_seq)
    );
    CREATE TABLE event_journals (
        device TEXT NOT NULL,
        journal_id TEXT NOT NULL,
        events_upto BIGINT NOT NULL,
        first_seen DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device, journal_id)
    );
    CREATE TABLE devices (
        device TEXT PRIMARY KEY,
        status TEXT,
        online INTEGER,
        applied_seq BIGINT,
        backlog BIGINT,
        clock_trusted INTEGER,
        last_seen DOUBLE PRECISION,
        events_upto BIGINT,
        journal_id TEXT
    );
    CREATE TABLE alarms (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        device TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        raised_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX alarms_device ON alarms (device, id);
    CREATE TABLE device_progress (
        device TEXT NOT NULL,
        applied_seq BIGINT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (device, applied_seq)
    );
    CREATE TABLE booth_lists (
        booth TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        digest TEXT NOT NULL,
        payload BYTEA NOT NULL,
        published_at DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE site_rules (
        site TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        digest TEXT NOT NULL,
        payload BYTEA NOT NULL,
        published_at DOUBLE PRECISION NOT NULL
    )
"""

POSTGRES_STEPS = {
    8: """
    CREATE TABLE relay (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        desk_site_seq BIGINT NOT NULL
    )
    """,
}
