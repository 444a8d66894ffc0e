"""The SQLite schema, as numbered migrations applied in order.

`PRAGMA user_version` records how many migrations a database has had; a
database newer than this code is refused rather than guessed at. Add a
migration by appending SQL to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: items, how they are found again, their sources and tags; source state.
    """
    CREATE TABLE items (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        link TEXT,
        summary TEXT NOT NULL,
        content TEXT NOT NULL,
        published TEXT NOT NULL,          -- UTC, ISO 8601 with "Z"
        updated TEXT NOT NULL,
        language TEXT,
        authors TEXT NOT NULL,            -- JSON list
        parties TEXT NOT NULL,            -- JSON list, sorted
        topics TEXT NOT NULL,             -- JSON list, sorted
        categories TEXT NOT NULL,         -- JSON list, as the source gave them
        revision TEXT NOT NULL DEFAULT '',
        first_seen TEXT NOT NULL
    );
    CREATE INDEX items_by_updated ON items (updated DESC, id DESC);
    CREATE TABLE item_sources (
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        source_id TEXT NOT NULL,
        title TEXT NOT NULL,
        link TEXT,
        party TEXT,
        kind TEXT NOT NULL,
        PRIMARY KEY (item_id, source_id)
    );
    CREATE INDEX item_sources_by_source ON item_sources (source_id);
    CREATE TABLE item_keys (
        key TEXT PRIMARY KEY,
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    CREATE INDEX item_keys_by_item ON item_keys (item_id);
    CREATE TABLE item_bands (
        band INTEGER NOT NULL,
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (band, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX item_bands_by_item ON item_bands (item_id);
    -- One row per (party or topic, item); `updated` is repeated so a feed's
    -- newest entries come straight off the primary key, without a sort.
    CREATE TABLE item_tags (
        facet TEXT NOT NULL,              -- 'party' or 'topic'
        tag TEXT NOT NULL,
        updated TEXT NOT NULL,
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (facet, tag, updated, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX item_tags_by_item ON item_tags (item_id);
    CREATE TABLE sources (
        source_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,
        last_attempt TEXT,
        last_success TEXT,
        last_error TEXT,
        error_count INTEGER NOT NULL DEFAULT 0,
        next_fetch TEXT,
        retired INTEGER NOT NULL DEFAULT 0,
        moved_to TEXT,
        moved_count INTEGER NOT NULL DEFAULT 0,
        item_count INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: what each source's guids pointed at last time (to spot churning guids),
    # and the URL the configuration gave, so an edited config URL is noticed.
    """
    CREATE TABLE source_guids (
        source_id TEXT NOT NULL,
        guid TEXT NOT NULL,
        link TEXT NOT NULL,
        PRIMARY KEY (source_id, guid)
    ) WITHOUT ROWID;
    ALTER TABLE sources ADD COLUMN configured_url TEXT;
    """,
    # 3: a source's failures and recoveries, for the operator's health feed.
    """
    CREATE TABLE source_events (
        source_id TEXT NOT NULL,
        at TEXT NOT NULL,                 -- UTC, ISO 8601 with "Z"
        kind TEXT NOT NULL,               -- 'failure' | 'recovery' | 'retired'
        message TEXT NOT NULL,
        PRIMARY KEY (at, source_id, kind)
    ) WITHOUT ROWID;
    """,
    # 4: every feed's history (RFC 5005 archives): the order items joined each feed, fixed.
    """
    CREATE TABLE feed_logs (
        feed TEXT PRIMARY KEY,            -- e.g. 'all', 'party/kke', 'composed/<id>'
        definition TEXT NOT NULL          -- what the feed selects; a change restarts its history
    ) WITHOUT ROWID;
    CREATE TABLE feed_entries (
        feed TEXT NOT NULL REFERENCES feed_logs (feed) ON DELETE CASCADE,
        seq INTEGER NOT NULL,             -- 1, 2, ... in the order items joined the feed
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (feed, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX feed_entries_by_feed_item ON feed_entries (feed, item_id);
    CREATE INDEX feed_entries_by_item ON feed_entries (item_id);
    """,
    # 5: what changed since the last publish, so a publish only renders feeds whose inputs moved.
    # Every insert or update of an item (every Store.save) stamps it with the next number of one
    # store-wide counter; triggers do it, so no writer can forget. Existing items get their rowid.
    """
    CREATE TABLE item_changes (
        item_id TEXT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL              -- bigger is later; the newest save of the item
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX item_changes_by_seq ON item_changes (seq);
    INSERT INTO item_changes SELECT id, rowid FROM items;
    CREATE TRIGGER items_inserted AFTER INSERT ON items BEGIN
        INSERT INTO item_changes VALUES (NEW.id, (SELECT coalesce(max(seq), 0) + 1 FROM item_changes));
    END;
    -- Not INSERT OR REPLACE: the OR clause of Store.save's upsert would override it.
    CREATE TRIGGER items_updated AFTER UPDATE ON items BEGIN
        UPDATE item_changes SET seq = (SELECT max(seq) + 1 FROM item_changes) WHERE item_id = NEW.id;
    END;
    -- Per feed: how far its history has looked at item_changes, and what its head was rendered
    -- from (a fingerprint, the head files' size and mtime, the index page's summary).
    CREATE TABLE feed_marks (
        feed TEXT PRIMARY KEY,
        seen INTEGER NOT NULL DEFAULT 0,  -- item_changes.seq up to which the history is extended
        fingerprint TEXT NOT NULL DEFAULT '',
        files TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT ''  -- JSON: item count, updated, latest headlines
    ) WITHOUT ROWID;
    """,
    # Feed histories lose their by-item index: only the cascade of an item's deletion used it, and
    # nothing deletes items (a deletion still cascades, by a scan). A first publish writes ~300,000
    # history rows, each into every index: this one was a third of that time.
    """
    DROP INDEX IF EXISTS feed_entries_by_item;
    """,
    # An item's band rows carry its `updated`, so a band's newest members (what ingest compares
    # an incoming title with) come straight off the primary key: before, every member of a band
    # was joined with `items` and sorted. A trigger keeps the copy equal to the item's date.
    # Each item's bands are also listed in one row (what the trigger and a merge read), instead
    # of a by-item index over 16 band rows per item: a third fewer B-tree insertions per save.
    """
    CREATE TABLE item_bands_dated (
        band INTEGER NOT NULL,
        updated TEXT NOT NULL,            -- the item's `updated`, as in items
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        PRIMARY KEY (band, updated DESC, item_id)
    ) WITHOUT ROWID;
    INSERT INTO item_bands_dated
        SELECT b.band, i.updated, b.item_id FROM item_bands AS b JOIN items AS i ON i.id = b.item_id;
    CREATE TABLE item_band_lists (
        item_id TEXT PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        bands TEXT NOT NULL               -- JSON list of the item's band keys, sorted
    ) WITHOUT ROWID;
    INSERT INTO item_band_lists SELECT item_id, json_group_array(band)
        FROM (SELECT item_id, band FROM item_bands ORDER BY item_id, band) GROUP BY item_id;
    DROP TABLE item_bands;
    ALTER TABLE item_bands_dated RENAME TO item_bands;
    CREATE TRIGGER items_redated AFTER UPDATE OF updated ON items WHEN NEW.updated IS NOT OLD.updated BEGIN
        UPDATE item_bands SET updated = NEW.updated
        WHERE band IN (SELECT value FROM item_band_lists AS l, json_each(l.bands) WHERE l.item_id = NEW.id)
            AND updated = OLD.updated AND item_id = NEW.id;
    END;
    """,
    # Identity keys lose their by-item index: nothing reads keys by item, and only the cascade of
    # an item's deletion used it (nothing deletes items; a deletion still cascades, by a scan).
    # Every key a save writes went into both B-trees.
    """
    DROP INDEX IF EXISTS item_keys_by_item;
    """,
    # Archive pages name their own URL, the head's and their neighbours', so a changed
    # site.base_url has to rewrite them: each feed records the base its pages in place were
    # rendered for. '' (every feed before this migration): not known, taken as the current one.
    """
    ALTER TABLE feed_marks ADD COLUMN pages_base TEXT NOT NULL DEFAULT '';
    """,
    # Deduplication that never loses an entry: an untitled entry's title is marked as derived (it
    # is never compared), attached files are kept, each source's own entry of a story several
    # sources carried is kept (so an operator can split it off again), and the operator's splits
    # are remembered. `store_meta.dedupe_rules` names the rules a store's merges and bands were
    # made under: '1' for every store with items from before this migration (feeds.dedupe.upgrade).
    """
    ALTER TABLE items ADD COLUMN title_derived INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE items ADD COLUMN enclosures TEXT NOT NULL DEFAULT '[]';   -- JSON list of URLs
    -- The item's source ids joined by char(31), as item_sources lists them: what the
    -- near-duplicate rules read of every band neighbour, without a lookup per neighbour.
    -- Filled without the change trigger: no reader sees a change, so nothing is published again.
    ALTER TABLE items ADD COLUMN source_ids TEXT NOT NULL DEFAULT '';
    DROP TRIGGER items_updated;
    UPDATE items SET source_ids = coalesce(
        (SELECT group_concat(source_id, char(31)) FROM (SELECT source_id FROM item_sources
         WHERE item_id = items.id ORDER BY position)), '');
    CREATE TRIGGER items_updated AFTER UPDATE ON items BEGIN
        UPDATE item_changes SET seq = (SELECT max(seq) + 1 FROM item_changes) WHERE item_id = NEW.id;
    END;
    CREATE TABLE item_entries (
        item_id TEXT NOT NULL REFERENCES items (id) ON DELETE CASCADE,
        source_id TEXT NOT NULL,
        entry TEXT NOT NULL,              -- JSON: the source's own entry, as tagged (feeds.store.rows)
        PRIMARY KEY (item_id, source_id)
    ) WITHOUT ROWID;
    CREATE TABLE dedupe_splits (
        first_id TEXT NOT NULL,           -- the smaller of the two item ids
        second_id TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (first_id, second_id)
    ) WITHOUT ROWID;
    CREATE TABLE store_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO store_meta SELECT 'dedupe_rules', '1' WHERE EXISTS (SELECT 1 FROM items);
    """,
    # Each source of an item names its web site, the entry's via link for a source whose own link
    # is the entry's. NULL (every source row before this migration): not known; the next fetch
    # of the source fills it in.
    """
    ALTER TABLE item_sources ADD COLUMN site TEXT;
    """,
    # 12: true reports. A source remembers why its last new body was not well-formed (its entries
    # were recovered), so the health feed says so once, not on every poll. A feed remembers when it
    # was first published: an empty feed's `updated`, the same on every publish. '' for the feeds
    # published before this migration: stamped by their next publish.
    """
    ALTER TABLE sources ADD COLUMN malformed TEXT;
    ALTER TABLE feed_marks ADD COLUMN first_published TEXT NOT NULL DEFAULT '';
    """,
    # 13: what each seed document held when it was last ingested, so an unchanged one is not read
    # again and a changed one costs only its changed items (feeds/ingest.py, read_seeds).
    """
    CREATE TABLE seed_documents (
        path TEXT PRIMARY KEY,            -- as configured, resolved
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT NOT NULL,             -- of the file's bytes
        context TEXT NOT NULL,            -- what reading depends on besides the file (registry, settings)
        items TEXT NOT NULL               -- JSON list of the digests of its items
    ) WITHOUT ROWID;
    """,
    # 14: a feed remembers how many archive pages its folder held after its last publish and the
    # folder's stamp then (feeds/publish/freshness.py), so a publish does not list a folder of
    # thousands of pages that nothing has touched since. 0 and '': not known (listed).
    """
    ALTER TABLE feed_marks ADD COLUMN pages INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE feed_marks ADD COLUMN pages_stamp TEXT NOT NULL DEFAULT '';
    """,
)
