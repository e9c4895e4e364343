-- Disposition runs (issue 26): a list of expired, unheld messages proposed by one
-- person, executed only after a second, different person approves it. Authoritative
-- like the retention tables (0011): not derived from volumes, left alone by
-- `coffer recatalog`; every step is also in the audit trail, and an executed run's
-- signed certificate is in the audit trail for ever. Times are Unix microseconds.
CREATE TABLE disposition_runs (
    id          INTEGER PRIMARY KEY,
    state       TEXT    NOT NULL,             -- proposed | approved | executing | executed | rejected
    proposed_by TEXT    NOT NULL,
    proposed_us INTEGER NOT NULL,
    decided_by  TEXT,                         -- the approver or rejecter
    decided_us  INTEGER,
    executed_us INTEGER,
    holds       TEXT    NOT NULL,             -- ids of the holds in force at proposal (JSON)
    counts      TEXT    NOT NULL,             -- [{policy, year, messages}] (JSON)
    total       INTEGER NOT NULL,
    items       TEXT    NOT NULL,             -- [[year, seq, policy], ...] proposed (JSON)
    note        TEXT,                         -- rejection reason
    certificate TEXT                          -- the signed certificate once executed
);
