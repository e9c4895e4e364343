-- When each login session was last used (Unix seconds; 0 = not since it was created):
-- a session unused for longer than the inactivity timeout ends, whatever its absolute
-- expiry. Numbered apart from the storage migrations (0005-0009).
ALTER TABLE sessions ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
