-- Identity of a message across journal copies (SHA-256 of the message without the header
-- fields relays add; see coffer_ingest::identity). Not unique: two custody copies with
-- different bytes (e.g. imported twice from different stores) may share it.
ALTER TABLE messages ADD COLUMN identity BLOB;
CREATE INDEX messages_identity ON messages (identity);
