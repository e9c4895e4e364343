-- PostgreSQL twin of migrations/sqlite/0004_unused_indexes.sql.
DROP INDEX IF EXISTS messages_message_id;
DROP INDEX IF EXISTS messages_date;
