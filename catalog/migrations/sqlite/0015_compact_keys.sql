-- A compact catalog (issue 24): on short business mail the message tables cost about
-- 350 bytes per message, 0.15 x the mail itself. What goes, measured with dbstat:
-- - the text key "YEAR-SEQ" (stored in the row, in its own B-tree, and again in every
--   link and every secondary index), the `year` and `seq` columns and UNIQUE (year, seq):
--   one integer key instead, `id = year * 10^10 + seq`, which is SQLite's rowid (the row
--   is stored in key order, so a year's messages are one range of the table B-tree);
-- - the full 32-byte SHA-256 and identity in their indexes: the indexes hold their first
--   8 bytes (an expression index), the query checks the full value in the row;
-- - the index of links by mailbox: no query looks links up by mailbox (search scopes by
--   mailbox inside the full-text index);
-- - `message_id`, `sender`, `subject` (a third of each row): only `coffer show` and a
--   fallback of the message view read them, and both have the record's bytes at hand,
--   from which these columns were derived in the first place (the index keeps its own
--   copy for search hits). A disposed message's subject and sender were one more thing
--   the catalog had to erase; now it never holds them;
-- - `via_year`, `via_seq`: one integer `via`, the key of the link record naming the link;
--   NULL when the message record itself names it (most links), as for links applied
--   before 0012, which only the message record can back (`coffer recatalog` fills those).
-- The external id stays "YEAR-SEQ" everywhere outside the catalog (API, CLI, audit).
--
-- Rows are converted in place: messages and links are copied into the new tables; the
-- rows of disposed messages are gone already and stay gone.

ALTER TABLE message_mailboxes RENAME TO message_mailboxes_0014;
ALTER TABLE messages RENAME TO messages_0014;
DROP INDEX IF EXISTS messages_sha256;
DROP INDEX IF EXISTS messages_identity;
DROP INDEX IF EXISTS message_mailboxes_mailbox;

-- One row per archived message (one message record in a volume).
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,          -- year * 10^10 + seq ("YEAR-SEQ" outside)
    sha256      BLOB    NOT NULL,             -- SHA-256 of the original bytes
    identity    BLOB,                         -- SHA-256 without relay header fields (0003)
    date        INTEGER,                      -- message date, Unix seconds (Date header or newest Received)
    received    INTEGER NOT NULL,             -- receive time, Unix seconds
    size        INTEGER NOT NULL,             -- original size in bytes
    attachments INTEGER NOT NULL,             -- attachment count
    flags       INTEGER NOT NULL              -- MessageFlags bits
);

-- Which mailboxes a message belongs to, and which record says so.
CREATE TABLE message_mailboxes (
    message INTEGER NOT NULL REFERENCES messages (id),
    mailbox INTEGER NOT NULL REFERENCES mailboxes (id),
    via     INTEGER,                          -- key of the link record; NULL: the message record
    PRIMARY KEY (message, mailbox)
) WITHOUT ROWID;

INSERT INTO messages (id, sha256, identity, date, received, size, attachments, flags)
SELECT year * 10000000000 + seq, sha256, identity, date, received, size, attachments, flags
FROM messages_0014 ORDER BY year, seq;

INSERT INTO message_mailboxes (message, mailbox, via)
SELECT m.year * 10000000000 + m.seq, l.mailbox,
       CASE WHEN l.via_year IS NULL OR l.via_seq IS NULL
                 OR (l.via_year = m.year AND l.via_seq = m.seq) THEN NULL
            ELSE l.via_year * 10000000000 + l.via_seq END
FROM message_mailboxes_0014 l JOIN messages_0014 m ON m.id = l.message
ORDER BY m.year, m.seq, l.mailbox;

DROP TABLE message_mailboxes_0014;
DROP TABLE messages_0014;

-- Dedup lookups by content hash and by identity: the first 8 bytes, the full value
-- compared in the row (`substr` on a blob counts bytes, in SQLite and PostgreSQL alike).
CREATE INDEX messages_sha256 ON messages (substr(sha256, 1, 8));
CREATE INDEX messages_identity ON messages (substr(identity, 1, 8));
