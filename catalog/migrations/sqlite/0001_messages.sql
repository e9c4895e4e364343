-- Messages, mailboxes and their links, derived from the volumes (DESIGN principle 1):
-- `coffer recatalog` drops and rebuilds every row of these tables from the volumes.

-- One row per archived message (one message record in a volume).
CREATE TABLE messages (
    id          TEXT    PRIMARY KEY,          -- stable id "YEAR-SEQ"
    year        INTEGER NOT NULL,             -- volume (receive) year
    seq         INTEGER NOT NULL,             -- record sequence number in that volume
    sha256      BLOB    NOT NULL,             -- SHA-256 of the original bytes
    message_id  TEXT,                         -- Message-ID header, without <>
    date        INTEGER,                      -- message date, Unix seconds (Date header or newest Received)
    received    INTEGER NOT NULL,             -- receive time, Unix seconds
    sender      TEXT,                         -- first From address
    subject     TEXT,
    size        INTEGER NOT NULL,             -- original size in bytes
    attachments INTEGER NOT NULL,             -- attachment count
    flags       INTEGER NOT NULL,             -- MessageFlags bits
    CONSTRAINT messages_year_seq UNIQUE (year, seq)
);
CREATE UNIQUE INDEX messages_sha256 ON messages (sha256);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_date ON messages (date);

-- Every mailbox (lowercased address) that owns at least one message.
CREATE TABLE mailboxes (
    id      INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    domain  TEXT NOT NULL,
    CONSTRAINT mailboxes_address UNIQUE (address)
);
CREATE INDEX mailboxes_domain ON mailboxes (domain);

-- Which mailboxes a message belongs to (from the message record and later link records).
CREATE TABLE message_mailboxes (
    message    TEXT    NOT NULL REFERENCES messages (id),
    mailbox    INTEGER NOT NULL REFERENCES mailboxes (id),
    PRIMARY KEY (message, mailbox)
) WITHOUT ROWID;
CREATE INDEX message_mailboxes_mailbox ON message_mailboxes (mailbox);

-- How far each derived view has applied each volume: the last sequence number applied.
CREATE TABLE high_water (
    purpose     TEXT    NOT NULL,             -- "mail" or "audit"
    year        INTEGER NOT NULL,
    applied_seq INTEGER NOT NULL,
    PRIMARY KEY (purpose, year)
);
