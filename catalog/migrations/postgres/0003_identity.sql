-- PostgreSQL twin of migrations/sqlite/0003_identity.sql.
ALTER TABLE messages ADD COLUMN identity BYTEA;
CREATE INDEX messages_identity ON messages (identity);
