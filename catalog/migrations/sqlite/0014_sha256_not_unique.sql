-- Two message records may hold the same bytes: a copy of a message that arrives while a
-- disposition run shreds that message is stored in full, as a new message with its own
-- data key, not deduplicated against the one being destroyed (issue 26). For a moment
-- the catalog lists both (until the run removes the disposed one's rows), and a rebuild
-- lists the new one. The lookup by content hash stays indexed; the writer still stores
-- one copy of everything else (it deduplicates before appending).
DROP INDEX IF EXISTS messages_sha256;
CREATE INDEX messages_sha256 ON messages (sha256);
