-- Accounts (domains, users, mailbox aliases, officer domains, groups), sessions, API
-- tokens, and the audit trail's rows for filtering.
--
-- Unlike 0001, the account tables are authoritative: they are not derived from volumes
-- and `coffer recatalog` leaves them alone. The `audit` table IS derived: it is rebuilt
-- from the audit volumes (<data>/audit), and its high-water mark is the `high_water` row
-- with purpose 'audit' (0001), moved in the same transaction as the rows.
-- Booleans are INTEGER 0/1 and times Unix seconds (audit: microseconds), as in 0001, so
-- the same SQL runs on SQLite and PostgreSQL through sqlx Any.

-- The organisation's own domains (managed by the administrator).
CREATE TABLE domains (
    name    TEXT    PRIMARY KEY,              -- lowercased domain
    created INTEGER NOT NULL
);

-- People who log in.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL,          -- lowercased login name
    password_hash  TEXT    NOT NULL,          -- Argon2id PHC string
    role           TEXT    NOT NULL,          -- admin | officer | auditor | user
    created        INTEGER NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    archiving_rule TEXT    NOT NULL DEFAULT 'both',  -- internal | external | both | none
    CONSTRAINT users_username UNIQUE (username)
);

-- The mailbox addresses a user owns (their personal archive; aliases included).
CREATE TABLE user_mailboxes (
    user_id INTEGER NOT NULL REFERENCES users (id),
    address TEXT    NOT NULL,                 -- lowercased address
    PRIMARY KEY (user_id, address)
);
CREATE INDEX user_mailboxes_address ON user_mailboxes (address);

-- The domains an officer's scope covers; the value '*' means every domain.
CREATE TABLE user_domains (
    user_id INTEGER NOT NULL REFERENCES users (id),
    domain  TEXT    NOT NULL,
    PRIMARY KEY (user_id, domain)
);

-- Groups of users (for administration and archiving rules; they grant no access).
CREATE TABLE user_groups (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    archiving_rule TEXT    NOT NULL DEFAULT 'both',
    created        INTEGER NOT NULL,
    CONSTRAINT user_groups_name UNIQUE (name)
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES user_groups (id),
    user_id  INTEGER NOT NULL REFERENCES users (id),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Login sessions: only the SHA-256 of the bearer token is stored.
CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created    INTEGER NOT NULL,
    expires    INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);

-- Long-lived tokens for mail servers (role journal): only the SHA-256 is stored.
CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    token_hash BLOB    NOT NULL,
    role       TEXT    NOT NULL,
    created    INTEGER NOT NULL,
    revoked    INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT api_tokens_name UNIQUE (name),
    CONSTRAINT api_tokens_hash UNIQUE (token_hash)
);

-- Audit trail entries, derived from the audit volumes (one row per audit record).
CREATE TABLE audit (
    year    INTEGER NOT NULL,                 -- audit volume year
    seq     INTEGER NOT NULL,                 -- record sequence number in that volume
    time_us INTEGER NOT NULL,                 -- when, Unix microseconds
    actor   TEXT    NOT NULL,                 -- username, token name, or 'anonymous'
    action  TEXT    NOT NULL,                 -- login, search, message.view, user.create, ...
    target  TEXT    NOT NULL,                 -- message id, username, year, ... ('' if none)
    outcome TEXT    NOT NULL,                 -- success | failure | denied | not_found
    client  TEXT    NOT NULL,                 -- client address
    detail  TEXT    NOT NULL,                 -- JSON object (never message content)
    PRIMARY KEY (year, seq)
);
CREATE INDEX audit_time ON audit (time_us);
CREATE INDEX audit_actor ON audit (actor, time_us);
CREATE INDEX audit_action ON audit (action, time_us);
