-- PostgreSQL twin of migrations/sqlite/0015_compact_keys.sql (same tables, same meaning;
-- see the comments there). The old tables' constraints are renamed first so that the new
-- tables' primary keys get their usual names.

ALTER TABLE message_mailboxes RENAME TO message_mailboxes_0014;
ALTER TABLE messages RENAME TO messages_0014;
DROP INDEX IF EXISTS messages_sha256;
DROP INDEX IF EXISTS messages_identity;
DROP INDEX IF EXISTS message_mailboxes_mailbox;
ALTER TABLE message_mailboxes_0014 RENAME CONSTRAINT message_mailboxes_pkey TO message_mailboxes_0014_pkey;
ALTER TABLE messages_0014 RENAME CONSTRAINT messages_pkey TO messages_0014_pkey;
ALTER TABLE messages_0014 RENAME CONSTRAINT messages_year_seq TO messages_0014_year_seq;

CREATE TABLE messages (
    id          BIGINT  PRIMARY KEY,          -- year * 10^10 + seq ("YEAR-SEQ" outside)
    sha256      BYTEA   NOT NULL,
    identity    BYTEA,
    date        BIGINT,
    received    BIGINT  NOT NULL,
    size        BIGINT  NOT NULL,
    attachments BIGINT  NOT NULL,
    flags       BIGINT  NOT NULL
);

CREATE TABLE message_mailboxes (
    message BIGINT NOT NULL REFERENCES messages (id),
    mailbox BIGINT NOT NULL REFERENCES mailboxes (id),
    via     BIGINT,
    PRIMARY KEY (message, mailbox)
);

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

CREATE INDEX messages_sha256 ON messages ((substr(sha256, 1, 8)));
CREATE INDEX messages_identity ON messages ((substr(identity, 1, 8)));
