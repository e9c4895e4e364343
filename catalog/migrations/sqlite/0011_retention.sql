-- Retention: policies (versioned) and their assignments, changes awaiting a second
-- administrator, and legal holds. Authoritative like the account tables (0002): not
-- derived from volumes, left alone by `coffer recatalog`; every change is also in the
-- audit trail (recorded before it is applied). Times are Unix seconds, hold times Unix
-- microseconds (the retention engine's clock).

-- The policies in force: name, period ("90d", "7y", "forever") and version.
CREATE TABLE retention_policies (
    name       TEXT    PRIMARY KEY,
    period     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    updated_by TEXT    NOT NULL
);

-- Every version each policy ever had (the history an auditor reads).
CREATE TABLE retention_policy_versions (
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    period      TEXT    NOT NULL,
    changed     INTEGER NOT NULL,
    changed_by  TEXT    NOT NULL,
    approved_by TEXT,                         -- the second administrator of a shortening
    PRIMARY KEY (name, version)
);

-- Which policy applies to what: kind default (target ''), domain, group or mailbox.
CREATE TABLE retention_assignments (
    target_kind TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    assigned    INTEGER NOT NULL,
    assigned_by TEXT    NOT NULL,
    PRIMARY KEY (target_kind, target)
);

-- Changes that shorten retention of existing mail: proposed by one administrator,
-- applied only when another approves.
CREATE TABLE retention_proposals (
    id          INTEGER PRIMARY KEY,
    change      TEXT    NOT NULL,             -- the proposed change (JSON)
    summary     TEXT    NOT NULL,
    proposed_by TEXT    NOT NULL,
    proposed    INTEGER NOT NULL,
    state       TEXT    NOT NULL,             -- pending | approved | rejected
    decided_by  TEXT,
    decided     INTEGER
);

-- Legal holds, placed and released by officers.
CREATE TABLE legal_holds (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    scope          TEXT    NOT NULL,          -- custodians, query, date range (JSON)
    domains        TEXT    NOT NULL,          -- the placing officer's domains (JSON; ["*"] all)
    placed_by      TEXT    NOT NULL,
    placed_us      INTEGER NOT NULL,
    released_by    TEXT,
    released_us    INTEGER,
    release_reason TEXT,
    CONSTRAINT legal_holds_name UNIQUE (name)
);
